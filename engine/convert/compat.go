package convert

import "maps"

// addMLXLMFields adds the transformers 4 spellings of settings that
// transformers 5 configs write differently, because mlx_lm (0.32) reads only
// the old names: rope_parameters becomes rope_theta / rope_scaling (and
// rope_local_base_freq for the sliding layers), num_local_experts
// num_experts, and a periodic layer_types Gemma's sliding_window_pattern.
// Fields already present are left alone; LMX reads either form.
func addMLXLMFields(cfg map[string]any) {
	setDefault := func(key string, v any) {
		if _, ok := cfg[key]; !ok && v != nil {
			cfg[key] = v
		}
	}
	if rp, ok := cfg["rope_parameters"].(map[string]any); ok {
		full, sliding := rp, map[string]any(nil)
		if f, ok := rp["full_attention"].(map[string]any); ok {
			full = f
		}
		if s, ok := rp["sliding_attention"].(map[string]any); ok {
			sliding = s
			if _, ok := rp["full_attention"]; !ok {
				full = nil
			}
		}
		if full != nil {
			setDefault("rope_theta", full["rope_theta"])
			setDefault("rope_scaling", ropeScaling(full))
		}
		if sliding != nil {
			setDefault("rope_local_base_freq", sliding["rope_theta"])
		}
	}
	setDefault("num_experts", cfg["num_local_experts"])
	if p := slidingPattern(cfg["layer_types"]); p > 0 {
		setDefault("sliding_window_pattern", p)
	}
}

// ropeScaling is the rope_scaling object of one rope_parameters entry, nil
// for plain rope.
func ropeScaling(p map[string]any) map[string]any {
	if t, _ := p["rope_type"].(string); t == "" || t == "default" {
		return nil
	}
	s := maps.Clone(p)
	delete(s, "rope_theta")
	s["type"] = s["rope_type"] // older readers look for "type"
	return s
}

// slidingPattern returns p when layer i is full attention exactly when
// (i+1) is a multiple of p (Gemma 3's layout), or 0 when layer_types has no
// such period (or no full-attention layer at all).
func slidingPattern(v any) int {
	list, ok := v.([]any)
	if !ok {
		return 0
	}
	for p := 1; p <= len(list); p++ {
		if matchesPattern(list, p) {
			return p
		}
	}
	return 0
}

// matchesPattern reports whether list follows period p.
func matchesPattern(list []any, p int) bool {
	for i, t := range list {
		want := "sliding_attention"
		if (i+1)%p == 0 {
			want = "full_attention"
		}
		if t != want {
			return false
		}
	}
	return true
}
