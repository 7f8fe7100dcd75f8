package tokenizer

import (
	"encoding/json"
	"fmt"
)

// setPostProcessor reads the ids that Encode(text, true) puts around the
// text. TemplateProcessing decides when present; otherwise add_bos_token and
// add_eos_token of tokenizer_config.json do.
func (t *Tokenizer) setPostProcessor(raw json.RawMessage) error {
	templated, err := t.addPostProcessor(raw)
	if err != nil || templated {
		return err
	}
	if a := t.config.AddBOSToken; a != nil && *a {
		id, ok := t.TokenID(t.config.BOSToken)
		if !ok {
			return fmt.Errorf("add_bos_token: bos_token %q is not in the vocabulary", t.config.BOSToken)
		}
		t.prefix = append(t.prefix, id)
	}
	if a := t.config.AddEOSToken; a != nil && *a {
		id, ok := t.TokenID(t.config.EOSToken)
		if !ok {
			return fmt.Errorf("add_eos_token: eos_token %q is not in the vocabulary", t.config.EOSToken)
		}
		t.suffix = append(t.suffix, id)
	}
	return nil
}

// addPostProcessor applies one post-processor spec; templated reports
// whether a TemplateProcessing was found.
func (t *Tokenizer) addPostProcessor(raw json.RawMessage) (templated bool, err error) {
	spec, ok, err := parseComponent(raw)
	if err != nil || !ok {
		return false, err
	}
	switch spec.Type {
	case "Sequence":
		for _, r := range spec.Processors {
			got, err := t.addPostProcessor(r)
			if err != nil {
				return false, err
			}
			templated = templated || got
		}
		return templated, nil
	case "ByteLevel":
		return false, nil // it only adjusts offsets
	case "TemplateProcessing":
		return true, t.addTemplate(&spec)
	}
	return false, unsupported("post_processor", spec.Type)
}

// addTemplate reads the "single" template: special tokens before and after
// the sequence $A.
func (t *Tokenizer) addTemplate(spec *componentSpec) error {
	seenSeq := false
	for _, item := range spec.Single {
		switch {
		case item.Sequence != nil:
			seenSeq = true
		case item.SpecialToken != nil:
			st, ok := spec.SpecialTokens[item.SpecialToken.ID]
			if !ok {
				return fmt.Errorf("TemplateProcessing: special token %q has no ids", item.SpecialToken.ID)
			}
			for _, id := range st.IDs {
				if id < 0 || int(id) >= len(t.tokens) {
					return fmt.Errorf("TemplateProcessing: special token %q has id %d, not in the vocabulary", item.SpecialToken.ID, id)
				}
			}
			if seenSeq {
				t.suffix = append(t.suffix, st.IDs...)
			} else {
				t.prefix = append(t.prefix, st.IDs...)
			}
		}
	}
	return nil
}
