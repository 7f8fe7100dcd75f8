// Port of mlx_lm/models/mistral3.py (the text part of the multimodal model).
package arch

import (
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newMistral3, Sanitize: sanitizeMistral3, SavePrefix: "language_model."}, "mistral3")
}

// mistral3TextConfig reads text_config, untied unless it says otherwise
// (mlx-lm's mistral3 ModelArgs).
func mistral3TextConfig(c *model.Config) (*model.Config, error) {
	return c.Nested("text_config", map[string]any{"tie_word_embeddings": false}, nil)
}

// mistral3Text returns the text model's constructor and sanitizer: Ministral
// 3 for a ministral3 text_config, Llama for the others (Mistral Small 3.x).
func mistral3Text(text *model.Config) (Constructor, Sanitizer, error) {
	switch text.ModelType {
	case "ministral3":
		return newMinistral3, sanitizeMinistral3, nil
	case "mistral", "llama":
		return newLlama, sanitizeLlama, nil
	default:
		return nil, nil, text.FieldError("text_config.model_type", fmt.Sprintf("%q is not supported in a mistral3 checkpoint (want ministral3, mistral or llama)", text.ModelType))
	}
}

// newMistral3 builds the language model of a Mistral 3 vision-language
// checkpoint.
func newMistral3(c *model.Config, w *layer.Weights) (Model, error) {
	text, err := mistral3TextConfig(c)
	if err != nil {
		return nil, err
	}
	build, _, err := mistral3Text(text)
	if err != nil {
		return nil, err
	}
	return build(text, w)
}

// sanitizeMistral3 drops the vision tower and projector and moves the
// language model's weights to the top level: model.language_model.X
// (transformers 5) becomes model.X, language_model.X (transformers 4, and
// mlx-lm's own layout) X.
func sanitizeMistral3(c *model.Config, weights map[string]*metal.Array) error {
	text, err := mistral3TextConfig(c)
	if err != nil {
		return err
	}
	_, sanitize, err := mistral3Text(text)
	if err != nil {
		return err
	}
	for name, a := range weights {
		if strings.Contains(name, "vision_tower") || strings.Contains(name, "multi_modal_projector") {
			delete(weights, name)
			continue
		}
		var rest string
		if r, ok := strings.CutPrefix(name, "model.language_model."); ok {
			rest = "model." + r
		} else if r, ok := strings.CutPrefix(name, "language_model."); ok {
			rest = r
		} else {
			continue
		}
		delete(weights, name)
		weights[rest] = a
	}
	return sanitize(text, weights)
}
