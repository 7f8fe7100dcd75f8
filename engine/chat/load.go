package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoTemplate means a model folder ships no chat template (a base model).
var ErrNoTemplate = errors.New("model has no chat template")

// tokenizerConfig holds the fields of tokenizer_config.json used here.
type tokenizerConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
}

// namedTemplate is one entry of a chat_template list.
type namedTemplate struct {
	Name     string `json:"name"`
	Template string `json:"template"`
}

// LoadTemplate reads a model folder's chat template: chat_template.jinja, else
// chat_template.json, else tokenizer_config.json's chat_template (a string, or
// a list of {name, template} where "default" is used and "tool_use", when
// present, renders requests that carry tools). bos_token and eos_token come
// from tokenizer_config.json (a string or {"content": ...}).
func LoadTemplate(modelDir string) (*Template, error) {
	cfg, err := readTokenizerConfig(modelDir)
	if err != nil {
		return nil, err
	}
	raw, err := templateSource(modelDir, cfg.ChatTemplate)
	if err != nil {
		return nil, err
	}
	named, err := parseTemplates(raw)
	if err != nil {
		return nil, fmt.Errorf("load chat template from %s: %w", modelDir, err)
	}
	t, err := NewTemplate(named["default"], tokenString(cfg.BOS), tokenString(cfg.EOS))
	if err != nil {
		return nil, fmt.Errorf("load chat template from %s: %w", modelDir, err)
	}
	if src, ok := named["tool_use"]; ok {
		if err := t.withToolUse(src); err != nil {
			return nil, fmt.Errorf("load chat template from %s: %w", modelDir, err)
		}
	}
	return t, nil
}

func readTokenizerConfig(dir string) (tokenizerConfig, error) {
	var cfg tokenizerConfig
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil // the template may still come from its own file
	}
	if err != nil {
		return cfg, fmt.Errorf("read tokenizer config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("parse tokenizer_config.json in %s: %w", dir, err)
	}
	return cfg, nil
}

// templateSource returns the JSON form of the template (a string or a list):
// a separate file wins over tokenizer_config.json, as in transformers.
func templateSource(dir string, fromConfig json.RawMessage) (json.RawMessage, error) {
	if data, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return json.Marshal(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(dir, "chat_template.json")); err == nil {
		var file struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(data, &file); err != nil {
			return nil, fmt.Errorf("parse chat_template.json in %s: %w", dir, err)
		}
		fromConfig = file.ChatTemplate
	}
	if len(fromConfig) == 0 || string(fromConfig) == "null" {
		return nil, fmt.Errorf("%w in %s", ErrNoTemplate, dir)
	}
	return fromConfig, nil
}

// parseTemplates maps template names to sources; a plain string is "default".
func parseTemplates(raw json.RawMessage) (map[string]string, error) {
	var single string
	if err := json.Unmarshal(raw, &single); err == nil {
		return map[string]string{"default": single}, nil
	}
	var list []namedTemplate
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("chat_template is neither a string nor a list of {name, template}: %w", err)
	}
	named := make(map[string]string, len(list))
	for _, nt := range list {
		named[nt.Name] = nt.Template
	}
	if _, ok := named["default"]; !ok {
		return nil, fmt.Errorf("chat_template list has no \"default\" entry")
	}
	return named, nil
}

// tokenString reads a special token given as a string or {"content": ...}.
func tokenString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Content
	}
	return ""
}
