// Port of mlx_lm/models/gemma4.py (the text part of the multimodal model).
package arch

import (
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newGemma4, Sanitize: sanitizeGemma4, Quant: quantGemma4, SavePrefix: "language_model."}, "gemma4")
}

// gemma4TextConfig reads text_config the way mlx-lm's gemma4 ModelArgs does:
// the top-level vocab_size (default 262144) and 8 / 1 attention heads unless
// set.
func gemma4TextConfig(c *model.Config) (*model.Config, error) {
	vocab := 262144
	if c.Has("vocab_size") {
		vocab = c.VocabSize
	}
	return c.Nested("text_config",
		map[string]any{"num_attention_heads": 8, "num_key_value_heads": 1, "model_type": "gemma4_text"},
		map[string]any{"vocab_size": vocab})
}

// newGemma4 builds the language model of a Gemma 4 multimodal checkpoint.
func newGemma4(c *model.Config, w *layer.Weights) (Model, error) {
	text, err := gemma4TextConfig(c)
	if err != nil {
		return nil, err
	}
	return newGemma4Text(text, w)
}

// gemma4Towers are the vision and audio modules a text-only load drops.
var gemma4Towers = []string{"vision_tower", "multi_modal_projector", "audio_tower",
	"embed_audio", "embed_vision", "vision_embedder"}

// sanitizeGemma4 drops the vision and audio towers and moves the language
// model to the top level: transformers' model.language_model.X and mlx-lm's
// language_model.model.X both become model.X (language_model.lm_head.X
// becomes lm_head.X), then the text sanitize runs.
func sanitizeGemma4(c *model.Config, weights map[string]*metal.Array) error {
	for name, a := range weights {
		rest := strings.TrimPrefix(name, "model.")
		drop := false
		for _, t := range gemma4Towers {
			drop = drop || strings.HasPrefix(rest, t)
		}
		var dst string
		switch {
		case drop:
		case strings.HasPrefix(name, "model.language_model."):
			dst = "model." + strings.TrimPrefix(name, "model.language_model.")
		case strings.HasPrefix(name, "language_model.model."):
			dst = "model." + strings.TrimPrefix(name, "language_model.model.")
		case strings.HasPrefix(name, "language_model."):
			dst = strings.TrimPrefix(name, "language_model.")
		default:
			continue
		}
		delete(weights, name)
		if dst != "" {
			weights[dst] = a
		}
	}
	text, err := gemma4TextConfig(c)
	if err != nil {
		return err
	}
	return sanitizeGemma4Text(text, weights)
}
