package model

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
	q.QuantParams = q.QuantParams.withDefaults(quantDefaults)
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
			p = p.withDefaults(q.QuantParams)
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
