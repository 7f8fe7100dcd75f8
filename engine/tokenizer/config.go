package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Config is the parsed tokenizer_config.json, with special_tokens_map.json
// filling the special tokens it leaves unset.
type Config struct {
	// ChatTemplate is the default chat template ("" if none).
	ChatTemplate string
	// ChatTemplates holds every named template, the default under "default",
	// when the file gives a list of {name, template}; else it is nil.
	ChatTemplates map[string]string

	BOSToken, EOSToken, PadToken, UnkToken string
	// AddBOSToken and AddEOSToken are add_bos_token / add_eos_token; nil when
	// the file does not set them.
	AddBOSToken, AddEOSToken *bool
	// ModelMaxLength is model_max_length (0 if absent; often a huge sentinel).
	ModelMaxLength float64
	// TokenizerClass is tokenizer_class, e.g. "LlamaTokenizerFast".
	TokenizerClass string
	// CleanUpTokenizationSpaces is clean_up_tokenization_spaces. Decode does
	// not apply it (the tokenizers library does not either).
	CleanUpTokenizationSpaces bool
	// Raw keeps every field, for what this struct does not name.
	Raw map[string]json.RawMessage
}

// configFile mirrors the fields of tokenizer_config.json read into Config.
type configFile struct {
	ChatTemplate   json.RawMessage `json:"chat_template"`
	BOSToken       json.RawMessage `json:"bos_token"`
	EOSToken       json.RawMessage `json:"eos_token"`
	PadToken       json.RawMessage `json:"pad_token"`
	UnkToken       json.RawMessage `json:"unk_token"`
	AddBOSToken    *bool           `json:"add_bos_token"`
	AddEOSToken    *bool           `json:"add_eos_token"`
	ModelMaxLength float64         `json:"model_max_length"`
	TokenizerClass string          `json:"tokenizer_class"`
	CleanUp        bool            `json:"clean_up_tokenization_spaces"`
}

// loadConfig reads tokenizer_config.json (absent: an empty Config) and
// special_tokens_map.json (optional) from dir.
func loadConfig(dir string) (*Config, error) {
	cfg := &Config{Raw: map[string]json.RawMessage{}}
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := cfg.parse(data); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
	}
	data, err = os.ReadFile(filepath.Join(dir, "special_tokens_map.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := cfg.mergeSpecialMap(data); err != nil {
			return nil, fmt.Errorf("special_tokens_map.json: %w", err)
		}
	}
	return cfg, nil
}

func (c *Config) parse(data []byte) error {
	var f configFile
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return err
	}
	if err := c.parseTemplates(f.ChatTemplate); err != nil {
		return fmt.Errorf("chat_template: %w", err)
	}
	for _, t := range []struct {
		dst *string
		raw json.RawMessage
	}{{&c.BOSToken, f.BOSToken}, {&c.EOSToken, f.EOSToken}, {&c.PadToken, f.PadToken}, {&c.UnkToken, f.UnkToken}} {
		s, err := tokenContent(t.raw)
		if err != nil {
			return err
		}
		*t.dst = s
	}
	c.AddBOSToken, c.AddEOSToken = f.AddBOSToken, f.AddEOSToken
	c.ModelMaxLength, c.TokenizerClass, c.CleanUpTokenizationSpaces = f.ModelMaxLength, f.TokenizerClass, f.CleanUp
	return nil
}

// parseTemplates reads chat_template: a string or a list of {name, template}.
func (c *Config) parseTemplates(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, &c.ChatTemplate); err == nil {
		return nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	c.ChatTemplates = make(map[string]string, len(list))
	for _, t := range list {
		c.ChatTemplates[t.Name] = t.Template
	}
	c.ChatTemplate = c.ChatTemplates["default"]
	return nil
}

// tokenContent reads a special token written as a string, as
// {"content": ...}, or as null.
func tokenContent(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("special token %s: %w", raw, err)
	}
	return obj.Content, nil
}

// mergeSpecialMap fills special tokens tokenizer_config.json left unset.
func (c *Config) mergeSpecialMap(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for key, dst := range map[string]*string{"bos_token": &c.BOSToken, "eos_token": &c.EOSToken,
		"pad_token": &c.PadToken, "unk_token": &c.UnkToken} {
		if *dst != "" {
			continue
		}
		s, err := tokenContent(m[key])
		if err != nil {
			return err
		}
		*dst = s
	}
	return nil
}
