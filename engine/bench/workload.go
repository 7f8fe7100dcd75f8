// Package bench holds the reference side of LMX's benchmarks and numeric
// cross-checks: the benchmark workload definition shared with
// mlx_lm_bench.py, a runner for the Python scripts in this folder
// (make_model.py, mlx_lm_bench.py, mlx_lm_logits.py), and a small safetensors
// reader for the float32/int32 tensors those scripts write.
package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoVocab marks a model folder with no usable token id: config.json gives
// no vocab_size, or every id below it is a tokenizer's added token.
var ErrNoVocab = errors.New("no ordinary token ids in the model vocabulary")

// Workload is one benchmark run as mlx_lm_bench.py defines it: batch 1, a
// prompt of PromptTokens ids from PromptIDs(dir, PromptTokens, Seed), then
// exactly GenTokens greedy tokens, EOS ignored.
type Workload struct {
	PromptTokens int
	GenTokens    int
	Seed         uint64
}

// splitMix64 is the generator of the prompt ids (Steele et al., "Fast
// splittable pseudorandom number generators"), chosen because it is a few
// lines in any language.
type splitMix64 struct{ state uint64 }

// next advances the state and returns the next 64-bit output.
func (s *splitMix64) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// PromptIDs returns the n prompt ids of the benchmark workload for the model
// folder dir, exactly as mlx_lm_bench.py builds them: splitmix64(seed) modulo
// V, where V is config.json's vocab_size (or text_config.vocab_size) lowered
// to the size of tokenizer.json's model.vocab, skipping ids listed in
// tokenizer.json's added_tokens.
func PromptIDs(dir string, n int, seed uint64) ([]int32, error) {
	vocab, skip, err := idRange(dir)
	if err != nil {
		return nil, err
	}
	if !hasFreeID(vocab, skip) {
		return nil, fmt.Errorf("prompt ids for %s: %w", dir, ErrNoVocab)
	}
	rng := splitMix64{state: seed}
	ids := make([]int32, 0, n)
	for len(ids) < n {
		id := rng.next() % vocab
		if !skip[id] {
			ids = append(ids, int32(id))
		}
	}
	return ids, nil
}

// hasFreeID reports whether some id below vocab is not skipped.
func hasFreeID(vocab uint64, skip map[uint64]bool) bool {
	below := uint64(0)
	for id := range skip {
		if id < vocab {
			below++
		}
	}
	return below < vocab
}

// idRange reads the id bound and the ids to skip from the model folder.
func idRange(dir string) (uint64, map[uint64]bool, error) {
	vocab, err := configVocab(dir)
	if err != nil {
		return 0, nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if errors.Is(err, os.ErrNotExist) {
		return vocab, map[uint64]bool{}, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read tokenizer: %w", err)
	}
	size, skip, err := tokenizerVocab(data)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	return min(vocab, size), skip, nil
}

// configVocab reads vocab_size from dir/config.json, falling back to
// text_config.vocab_size as multimodal configs nest it.
func configVocab(dir string) (uint64, error) {
	var c struct {
		VocabSize  uint64 `json:"vocab_size"`
		TextConfig struct {
			VocabSize uint64 `json:"vocab_size"`
		} `json:"text_config"`
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read model config: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	v := c.VocabSize
	if v == 0 {
		v = c.TextConfig.VocabSize
	}
	if v == 0 {
		return 0, fmt.Errorf("%s: %w", path, ErrNoVocab)
	}
	return v, nil
}

// tokenizerVocab returns the size of model.vocab (a map for BPE/WordPiece, a
// list for Unigram) and the ids of added_tokens.
func tokenizerVocab(data []byte) (uint64, map[uint64]bool, error) {
	var t struct {
		Model struct {
			Vocab json.RawMessage `json:"vocab"`
		} `json:"model"`
		AddedTokens []struct {
			ID uint64 `json:"id"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return 0, nil, fmt.Errorf("parse tokenizer: %w", err)
	}
	var asMap map[string]json.RawMessage
	var asList []json.RawMessage
	var size int
	if err := json.Unmarshal(t.Model.Vocab, &asMap); err == nil {
		size = len(asMap)
	} else if err := json.Unmarshal(t.Model.Vocab, &asList); err == nil {
		size = len(asList)
	} else {
		return 0, nil, fmt.Errorf("parse tokenizer: model.vocab is neither a map nor a list")
	}
	skip := make(map[uint64]bool, len(t.AddedTokens))
	for _, a := range t.AddedTokens {
		skip[a.ID] = true
	}
	return uint64(size), skip, nil
}
