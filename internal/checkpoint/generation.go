package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// GenerationConfig is what generation_config.json contributes: EOS ids and
// the model's suggested sampling defaults (nil when absent).
type GenerationConfig struct {
	EOSTokenIDs []int
	BOSTokenID  *int
	Temperature *float64
	TopP        *float64
	TopK        *int
}

// ReadGenerationConfig reads dir/generation_config.json; a missing file gives
// an empty config, a malformed one an error naming the file.
func ReadGenerationConfig(dir string) (*GenerationConfig, error) {
	path := filepath.Join(dir, "generation_config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &GenerationConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read generation config: %w", err)
	}
	var j struct {
		EOS         json.RawMessage `json:"eos_token_id"`
		BOS         *int            `json:"bos_token_id"`
		Temperature *float64        `json:"temperature"`
		TopP        *float64        `json:"top_p"`
		TopK        *int            `json:"top_k"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrInvalidConfig, err)
	}
	eos, err := ParseTokenIDs(j.EOS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: field \"eos_token_id\": %v", path, ErrInvalidConfig, err)
	}
	return &GenerationConfig{EOSTokenIDs: eos, BOSTokenID: j.BOS, Temperature: j.Temperature, TopP: j.TopP, TopK: j.TopK}, nil
}

// MergeEOS returns the EOS ids of config.json and generation_config.json
// together, in first-seen order without duplicates.
func MergeEOS(lists ...[]int) []int {
	seen := map[int]bool{}
	var out []int
	for _, l := range lists {
		for _, id := range l {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}
