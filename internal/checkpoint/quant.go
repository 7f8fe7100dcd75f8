package checkpoint

import (
	"encoding/json"
	"fmt"
)

// QuantParams are the MLX quantization parameters of one module.
type QuantParams struct {
	GroupSize int    `json:"group_size"`
	Bits      int    `json:"bits"`
	Mode      string `json:"mode"`
}

// Quantization is the "quantization" (or "quantization_config") object that
// mlx-lm writes: defaults plus per-module overrides keyed by module path
// ("model.layers.0.mlp.down_proj"), where false means "left unquantized".
type Quantization struct {
	QuantParams
	// Overrides maps a module path to its own parameters; a nil value means
	// the module is not quantized.
	Overrides map[string]*QuantParams
}

// For returns the parameters for the module at path and whether it is
// quantized at all according to the config. Whether a module really is
// quantized is decided by the weights (a ".scales" tensor), as in mlx-lm.
func (q *Quantization) For(path string) (QuantParams, bool) {
	if q == nil {
		return QuantParams{}, false
	}
	if o, ok := q.Overrides[path]; ok {
		if o == nil {
			return QuantParams{}, false
		}
		return o.withDefaults(q.QuantParams), true
	}
	return q.QuantParams, true
}

// withDefaults fills unset fields of p from def.
func (p QuantParams) withDefaults(def QuantParams) QuantParams {
	if p.GroupSize == 0 {
		p.GroupSize = def.GroupSize
	}
	if p.Bits == 0 {
		p.Bits = def.Bits
	}
	if p.Mode == "" {
		p.Mode = def.Mode
	}
	return p
}

// quantDefaults are mlx-lm's defaults for a bare quantization object.
var quantDefaults = QuantParams{GroupSize: 64, Bits: 4, Mode: "affine"}

// modeDefaults are MLX's group size and bits of each quantization mode
// (what mlx.nn's to_quantized takes when they are not given).
var modeDefaults = map[string]QuantParams{
	"affine": {GroupSize: 64, Bits: 4, Mode: "affine"},
	"mxfp4":  {GroupSize: 32, Bits: 4, Mode: "mxfp4"},
	"mxfp8":  {GroupSize: 32, Bits: 8, Mode: "mxfp8"},
	"nvfp4":  {GroupSize: 16, Bits: 4, Mode: "nvfp4"},
}

// fpModes are the fixed group size and bits of the floating-point modes
// (MLX accepts no others for them).
var fpModes = map[string][2]int{"mxfp4": {32, 4}, "mxfp8": {32, 8}, "nvfp4": {16, 4}}

// modeDefault fills p's unset fields: the mode first (def's), then the
// group size and bits of that mode.
func (p QuantParams) modeDefault(defMode string) QuantParams {
	if p.Mode == "" {
		p.Mode = defMode
	}
	if d, ok := modeDefaults[p.Mode]; ok {
		p = p.withDefaults(d)
	}
	return p
}

// parseQuantization reads the quantization object; null or absent gives nil.
func parseQuantization(raw json.RawMessage) (*Quantization, error) {
	if !isSet(raw) {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("want an object: %v", err)
	}
	q := &Quantization{Overrides: map[string]*QuantParams{}}
	if err := json.Unmarshal(raw, &q.QuantParams); err != nil {
		return nil, fmt.Errorf("bad group_size/bits/mode: %v", err)
	}
	// Hugging Face's quantization_config of an MXFP4 / MXFP8 checkpoint
	// (OpenAI's gpt-oss) names its method instead: mlx-lm maps it to the
	// MLX mode of that name, the modules with scales being the quantized ones.
	var method struct {
		QuantMethod string `json:"quant_method"`
	}
	if json.Unmarshal(raw, &method) == nil {
		switch method.QuantMethod {
		case "mxfp4", "mxfp8":
			q.QuantParams = modeDefaults[method.QuantMethod]
		}
	}
	q.QuantParams = q.QuantParams.modeDefault(quantDefaults.Mode)
	if err := q.readOverrides(fields); err != nil {
		return nil, err
	}
	return q, q.validate()
}

// readOverrides collects the per-module entries (objects or false).
func (q *Quantization) readOverrides(fields map[string]json.RawMessage) error {
	for _, key := range sortedKeys(fields) {
		raw := fields[key]
		switch {
		case string(raw) == "false":
			q.Overrides[key] = nil
		case len(raw) > 0 && raw[0] == '{':
			var p QuantParams
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("override %q: %v", key, err)
			}
			var extra struct {
				GlobalScale bool `json:"global_scale"`
			}
			if json.Unmarshal(raw, &extra) == nil && extra.GlobalScale {
				return fmt.Errorf("override %q: global_scale (mlx-lm's per-tensor nvfp4 scale) is not supported", key)
			}
			// mlx-lm passes a module's object to to_quantized as is: a
			// missing mode is affine (not the default mode of the model,
			// which matters for gpt-oss's affine router beside MXFP4
			// experts), missing bits and group size are the mode's.
			p = p.modeDefault("affine")
			q.Overrides[key] = &p
		}
	}
	return nil
}

// validate checks the parameters MLX accepts.
func (q *Quantization) validate() error {
	check := func(where string, p QuantParams) error {
		switch p.Bits {
		case 2, 3, 4, 5, 6, 8:
		default:
			return fmt.Errorf("%sbits %d not supported (2, 3, 4, 5, 6, 8)", where, p.Bits)
		}
		if p.GroupSize <= 0 {
			return fmt.Errorf("%sgroup_size %d must be positive", where, p.GroupSize)
		}
		if _, ok := modeDefaults[p.Mode]; !ok {
			return fmt.Errorf("%smode %q not supported (affine, mxfp4, mxfp8, nvfp4)", where, p.Mode)
		}
		if fp, ok := fpModes[p.Mode]; ok && (p.GroupSize != fp[0] || p.Bits != fp[1]) {
			return fmt.Errorf("%smode %s takes group_size %d and bits %d, not %d and %d", where, p.Mode, fp[0], fp[1], p.GroupSize, p.Bits)
		}
		return nil
	}
	if err := check("", q.QuantParams); err != nil {
		return err
	}
	for _, k := range sortedKeys(q.Overrides) {
		if o := q.Overrides[k]; o != nil {
			if err := check(fmt.Sprintf("override %q: ", k), *o); err != nil {
				return err
			}
		}
	}
	return nil
}
