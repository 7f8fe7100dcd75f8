package gguf

import (
	"fmt"
	"math"
)

// The settings each family's llama.cpp loader (llama-model.cpp) derives or
// hardcodes rather than reading from the metadata, and which config.json
// must state for the engine.

// familyConfig adds the family's own config.json fields.
func familyConfig(name string, m meta, h *hparams, cfg map[string]any) error {
	switch name {
	case "llama":
		return llamaConfig(m, h, cfg)
	case "gemma3":
		return gemma3Config(m, h, cfg)
	case "phi3":
		return phi3Config(m, h, cfg)
	}
	return fullRope(m, h, cfg)
}

// fullRope checks that the rope turns whole heads (only phi3 has a
// partial rotary factor) and adds the metadata's rope scaling.
func fullRope(m meta, h *hparams, cfg map[string]any) error {
	if h.ropeDims != h.headDim {
		return fmt.Errorf("%s: %w: rope over %d of %d head dimensions in a %s model", m.f.Path, ErrUnsupported, h.ropeDims, h.headDim, m.arch)
	}
	s, err := ropeScaling(m, h)
	if s != nil {
		cfg["rope_scaling"] = s
	}
	return err
}

// llamaConfig adds Llama's optional biases (present as tensors) and its
// rope scaling, Llama 3's coming as the rope_freqs tensor.
func llamaConfig(m meta, h *hparams, cfg map[string]any) error {
	_, qBias := m.f.Tensor("blk.0.attn_q.bias")
	_, mlpBias := m.f.Tensor("blk.0.ffn_down.bias")
	cfg["attention_bias"], cfg["mlp_bias"] = qBias, mlpBias
	if err := fullRope(m, h, cfg); err != nil {
		return err
	}
	t, ok := m.f.Tensor("rope_freqs.weight")
	if !ok {
		return nil
	}
	if _, set := cfg["rope_scaling"]; set {
		return fmt.Errorf("%s: %w: both rope_freqs and %s set rope scaling", m.f.Path, ErrUnsupported, m.key("rope.scaling.type"))
	}
	factors, err := floatTensor(m.f, t)
	if err != nil {
		return err
	}
	s, err := llama3Scaling(factors, h.theta, h.ropeDims, h.ctx)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", m.f.Path, ErrUnsupported, err)
	}
	if s != nil {
		cfg["rope_scaling"] = s
	}
	return nil
}

// gemma3Config adds Gemma 3's sliding-window layout (every sixth layer
// global, the rest local with base 10000, as llama.cpp hardcodes) and its
// attention scale (1/√head_dim, 1/√(hidden/heads) for the 62-layer 27B).
func gemma3Config(m meta, h *hparams, cfg map[string]any) error {
	if err := fullRope(m, h, cfg); err != nil {
		return err
	}
	window, _, err := m.int(m.key("attention.sliding_window"))
	if err != nil {
		return err
	}
	cfg["sliding_window_pattern"] = 1
	if window > 0 {
		cfg["sliding_window"], cfg["sliding_window_pattern"] = window, 6
	}
	if cfg["rope_local_base_freq"], err = m.float(m.key("rope.freq_base_swa"), 10000); err != nil {
		return err
	}
	scalar := h.headDim
	if h.layers == 62 {
		scalar = h.hidden / h.heads
	}
	cfg["query_pre_attn_scalar"] = scalar
	cfg["hidden_activation"] = "gelu_pytorch_tanh"
	if cap, err := m.float(m.key("final_logit_softcapping"), 0); err != nil {
		return err
	} else if cap != 0 {
		return fmt.Errorf("%s: %w: final_logit_softcapping %g (the gemma3_text architecture has none)", m.f.Path, ErrUnsupported, cap)
	}
	return nil
}

// phi3Config adds Phi-3's partial rotary factor and, for the 128k models,
// its longrope factors (the rope_factors_long/short tensors).
func phi3Config(m meta, h *hparams, cfg map[string]any) error {
	h.headDim = h.hidden / h.heads // Phi3Config has no head_dim
	cfg["head_dim"] = h.headDim
	if h.ropeDims != h.headDim {
		cfg["partial_rotary_factor"] = float64(h.ropeDims) / float64(h.headDim)
	}
	orig, ok, err := m.int(m.key("rope.scaling.original_context_length"))
	if err != nil {
		return err
	}
	if !ok || orig == 0 {
		orig = h.ctx
	}
	cfg["original_max_position_embeddings"] = orig
	long, okLong := m.f.Tensor("rope_factors_long.weight")
	short, okShort := m.f.Tensor("rope_factors_short.weight")
	if !okLong && !okShort {
		s, err := ropeScaling(m, h)
		if s != nil {
			cfg["rope_scaling"] = s
		}
		return err
	}
	if !okLong || !okShort {
		return fmt.Errorf("%s: %w: one of rope_factors_long and rope_factors_short is missing", m.f.Path, ErrCorrupt)
	}
	lf, err := floatTensor(m.f, long)
	if err != nil {
		return err
	}
	sf, err := floatTensor(m.f, short)
	if err != nil {
		return err
	}
	cfg["rope_scaling"] = map[string]any{"type": "longrope", "rope_type": "longrope",
		"long_factor": float64s(lf), "short_factor": float64s(sf)}
	return nil
}

// ropeScaling maps {arch}.rope.scaling.* to a rope_scaling object (nil
// for none).
func ropeScaling(m meta, h *hparams) (map[string]any, error) {
	typ := m.str(m.key("rope.scaling.type"))
	factor, err := m.float(m.key("rope.scaling.factor"), 0)
	if err != nil {
		return nil, err
	}
	if typ == "" { // older converters wrote only rope.scale_linear
		if factor, err = m.float(m.key("rope.scale_linear"), 1); err != nil || factor == 1 {
			return nil, err
		}
		typ = "linear"
	}
	switch typ {
	case "none":
		return nil, nil
	case "linear":
		if factor <= 0 {
			return nil, fmt.Errorf("%s: %w: linear rope scaling factor %g", m.f.Path, ErrCorrupt, factor)
		}
		return map[string]any{"type": "linear", "rope_type": "linear", "factor": factor}, nil
	case "yarn":
		return yarnScaling(m, h, factor)
	}
	return nil, fmt.Errorf("%s: %w: rope scaling %q in a %s model", m.f.Path, ErrUnsupported, typ, m.arch)
}

// yarnScaling maps YaRN's settings (beta defaults 32 and 1, as mlx-lm's).
func yarnScaling(m meta, h *hparams, factor float64) (map[string]any, error) {
	orig, ok, err := m.int(m.key("rope.scaling.original_context_length"))
	if err != nil {
		return nil, err
	}
	if !ok || orig == 0 || factor <= 0 {
		return nil, fmt.Errorf("%s: %w: yarn rope scaling without a factor and original context length", m.f.Path, ErrCorrupt)
	}
	s := map[string]any{"type": "yarn", "rope_type": "yarn", "factor": factor, "original_max_position_embeddings": orig}
	for key, field := range map[string]string{"yarn_beta_fast": "beta_fast", "yarn_beta_slow": "beta_slow"} {
		if v, err := m.float(m.key("rope.scaling."+key), math.NaN()); err != nil {
			return nil, err
		} else if !math.IsNaN(v) {
			s[field] = v
		}
	}
	return s, nil
}

// floatTensor reads a small float tensor (rope factors).
func floatTensor(f *File, t TensorInfo) ([]float32, error) {
	data, err := f.ReadTensor(t)
	if err != nil {
		return nil, err
	}
	v, err := Dequantize(t.Type, data, t.Elements())
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.Path, t.Name, err)
	}
	return v, nil
}

// float64s widens float32 values for JSON (their shortest float32 decimal).
func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = shortest32(x)
	}
	return out
}
