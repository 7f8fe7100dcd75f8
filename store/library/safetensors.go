package library

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxHeaderBytes bounds a safetensors header so a corrupt file cannot make
// the scanner allocate gigabytes.
const maxHeaderBytes = 100 << 20

// tensorInfo is one entry of a safetensors header.
type tensorInfo struct {
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
}

// elements is the tensor's element count.
func (t tensorInfo) elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// readSafetensorsHeader returns the tensors described by the header of the
// safetensors file at path, without reading the data.
func readSafetensorsHeader(path string) (map[string]tensorInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open weights: %w", err)
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("read header length of %s: %w", path, err)
	}
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("header of %s is %d bytes, over %d", path, n, maxHeaderBytes)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(f, raw); err != nil {
		return nil, fmt.Errorf("read header of %s: %w", path, err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("parse header of %s: %w", path, err)
	}
	out := make(map[string]tensorInfo, len(entries))
	for name, e := range entries {
		if name == "__metadata__" {
			continue
		}
		var t tensorInfo
		if err := json.Unmarshal(e, &t); err != nil {
			return nil, fmt.Errorf("parse tensor %s of %s: %w", name, path, err)
		}
		out[name] = t
	}
	return out, nil
}

// countParams counts parameters the way mlx-lm's get_total_parameters does:
// a quantized layer (one with "scales") counts its packed uint32 weight as
// elements × 32 / bits plus its bias, and not its scales and biases; every
// other tensor counts its elements.
func countParams(tensors map[string]tensorInfo, q quantConfig) int64 {
	var total int64
	for name, t := range tensors {
		prefix, leaf := splitLeaf(name)
		_, quantized := tensors[prefix+".scales"]
		quantized = quantized && q.Bits > 0
		switch {
		case !quantized:
			total += t.elements()
		case leaf == "weight":
			total += t.elements() * 32 / int64(q.bitsFor(prefix))
		case leaf == "bias":
			total += t.elements()
		}
	}
	return total
}

// splitLeaf splits "a.b.weight" into "a.b" and "weight".
func splitLeaf(name string) (string, string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// quantConfig is config.json's "quantization" object as mlx-lm writes it:
// global bits/group_size/mode plus per-layer overrides keyed by module path.
type quantConfig struct {
	Bits      int
	GroupSize int
	Mode      string
	perLayer  map[string]int // module path -> bits
}

// parseQuantConfig reads the "quantization" (or "quantization_config")
// object; it returns a zero config for unquantized models.
func parseQuantConfig(raw map[string]json.RawMessage) (quantConfig, error) {
	obj := raw["quantization"]
	if obj == nil {
		obj = raw["quantization_config"]
	}
	if obj == nil {
		return quantConfig{}, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return quantConfig{}, fmt.Errorf("parse quantization: %w", err)
	}
	q := quantConfig{Mode: "affine", perLayer: map[string]int{}}
	for k, v := range fields {
		switch k {
		case "bits":
			json.Unmarshal(v, &q.Bits)
		case "group_size":
			json.Unmarshal(v, &q.GroupSize)
		case "mode":
			json.Unmarshal(v, &q.Mode)
		default:
			var layer struct{ Bits int }
			if json.Unmarshal(v, &layer) == nil && layer.Bits > 0 {
				q.perLayer[k] = layer.Bits
			}
		}
	}
	if q.Bits <= 0 {
		return quantConfig{}, fmt.Errorf("quantization without bits")
	}
	return q, nil
}

// bitsFor returns the bits of the module at prefix.
func (q quantConfig) bitsFor(prefix string) int {
	if b, ok := q.perLayer[prefix]; ok {
		return b
	}
	return q.Bits
}
