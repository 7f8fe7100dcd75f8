package library

import (
	"strings"

	"github.com/lmx-app/lmx/internal/checkpoint"
)

// countParams counts parameters the way mlx-lm's get_total_parameters does:
// a quantized layer (one with "scales") counts its packed uint32 weight as
// elements × 32 / bits plus its bias, and not its scales and biases; every
// other tensor counts its elements. The headers and quantization come from
// the checkpoint reader the engine loads with.
func countParams(headers []*checkpoint.Header, q *checkpoint.Quantization) int64 {
	tensors := map[string]checkpoint.TensorInfo{}
	for _, h := range headers {
		for name, t := range h.Tensors {
			tensors[name] = t
		}
	}
	var total int64
	for name, t := range tensors {
		prefix, leaf := splitLeaf(name)
		_, quantized := tensors[prefix+".scales"]
		bits := 0
		if quantized && q != nil {
			p, _ := q.For(prefix)
			if bits = p.Bits; bits == 0 {
				bits = q.Bits
			}
		}
		switch {
		case bits == 0:
			total += int64(t.Elements())
		case leaf == "weight":
			total += int64(t.Elements()) * 32 / int64(bits)
		case leaf == "bias":
			total += int64(t.Elements())
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
