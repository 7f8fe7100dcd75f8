// Port of mlx_lm/models/gemma3.py (the text part of the multimodal model).
package arch

import (
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// gemma3TextConfig reads text_config the way mlx-lm's gemma3 ModelArgs does:
// the top-level vocab_size (default 262208) and 8 / 4 attention heads unless set.
func gemma3TextConfig(c *model.Config) (*model.Config, error) {
	vocab := 262208
	if c.Has("vocab_size") {
		vocab = c.VocabSize
	}
	return c.Nested("text_config",
		map[string]any{"num_attention_heads": 8, "num_key_value_heads": 4, "model_type": "gemma3_text"},
		map[string]any{"vocab_size": vocab})
}

// newGemma3 builds the language model of a Gemma 3 vision-language checkpoint.
func newGemma3(c *model.Config, w *layer.Weights) (Model, error) {
	text, err := gemma3TextConfig(c)
	if err != nil {
		return nil, err
	}
	return newGemma3Text(text, w)
}

// sanitizeGemma3 drops the vision tower and projector and moves the
// language model's weights to the top level.
func sanitizeGemma3(c *model.Config, weights map[string]*metal.Array) error {
	for name, a := range weights {
		delete(weights, name)
		if rest, ok := strings.CutPrefix(name, "language_model."); ok {
			weights[rest] = a
		}
	}
	text, err := gemma3TextConfig(c)
	if err != nil {
		return err
	}
	return sanitizeGemma3Text(text, weights)
}
