package checkpoint

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPackedWeights marks quantized modules the config and the tensors
// disagree about.
var ErrPackedWeights = errors.New("inconsistent quantized weights")

// CheckQuantized checks a folder's quantized modules as the loader meets
// them (a module is quantized when it has ".scales", as in mlx-lm): the
// config must give the module quantization parameters, its weight must be
// packed uint32 words whose width matches the scales' groups, and a packed
// weight must have its scales. Shapes beyond that are the architecture's
// to check.
func CheckQuantized(headers []*Header, q *Quantization) error {
	tensors := map[string]TensorInfo{}
	for _, h := range headers {
		for name, t := range h.Tensors {
			tensors[name] = t
		}
	}
	for _, name := range sortedKeys(tensors) {
		prefix, ok := strings.CutSuffix(name, ".scales")
		if !ok {
			if p, ok := strings.CutSuffix(name, ".weight"); ok && tensors[name].Dtype == "U32" {
				if _, scaled := tensors[p+".scales"]; !scaled {
					return fmt.Errorf("%w: %q is packed uint32 without %s.scales", ErrPackedWeights, name, p)
				}
			}
			continue
		}
		p, ok := q.For(prefix)
		if !ok {
			return fmt.Errorf("%w: %q has quantized weights but the config has no quantization for it", ErrPackedWeights, prefix)
		}
		w, ok := tensors[prefix+".weight"]
		s := tensors[name]
		if !ok || w.Dtype != "U32" || len(w.Shape) == 0 || len(s.Shape) == 0 {
			return fmt.Errorf("%w: %q has scales but its weight is %s%v, not packed uint32", ErrPackedWeights, prefix, w.Dtype, w.Shape)
		}
		cols := w.Shape[len(w.Shape)-1] * 32 / p.Bits
		if groups := s.Shape[len(s.Shape)-1]; cols != groups*p.GroupSize {
			return fmt.Errorf("%w: %q packs %d columns at %d bits but its scales hold %d groups of %d",
				ErrPackedWeights, prefix, cols, p.Bits, groups, p.GroupSize)
		}
	}
	return nil
}
