// Package layer holds the neural-network building blocks the architectures
// share (Linear, Embedding, RMSNorm, RoPE, activations) and the weight table
// they are built from. Everything here runs on the MLX thread (inside metal.Do).
package layer

import (
	"errors"
	"fmt"
	"sort"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrMissingTensor marks a tensor the architecture needs that the weights lack.
var ErrMissingTensor = errors.New("missing tensor")

// ErrShapeMismatch marks a tensor whose shape differs from what the config implies.
var ErrShapeMismatch = errors.New("tensor shape mismatch")

// ErrUnexpectedTensor marks weights the architecture does not use.
var ErrUnexpectedTensor = errors.New("unexpected tensor")

// Weights is the table of loaded tensors, keyed by Hugging Face name, that
// constructors take from. The first problem (missing tensor, wrong shape) is
// recorded and returned by Err, so constructors stay a flat list of takes.
type Weights struct {
	arrays map[string]*metal.Array
	taken  map[string]bool
	// swapped holds the views TensorT made, which the model keeps in place
	// of the tensors they view.
	swapped map[string]*metal.Array
	quant   *model.Quantization
	err     error
	// modules lists the paths of quantizable modules (Linear, Embedding,
	// SwitchLinear) in the order they were built.
	modules []string
}

// NewWeights wraps loaded arrays; q is the model's quantization (nil if none).
func NewWeights(arrays map[string]*metal.Array, q *model.Quantization) *Weights {
	return &Weights{arrays: arrays, taken: map[string]bool{}, swapped: map[string]*metal.Array{}, quant: q}
}

// Has reports whether the tensor exists.
func (w *Weights) Has(name string) bool {
	_, ok := w.arrays[name]
	return ok
}

// Tensor takes a required tensor and checks its shape (a -1 matches any size).
func (w *Weights) Tensor(name string, shape ...int) *metal.Array {
	a, ok := w.arrays[name]
	if !ok {
		w.fail(fmt.Errorf("%w %q", ErrMissingTensor, name))
		return nil
	}
	w.taken[name] = true
	if got := a.Shape(); !shapeMatches(got, shape) {
		w.fail(fmt.Errorf("%w: %q has shape %v, want %v", ErrShapeMismatch, name, got, shape))
	}
	return a
}

// TensorT takes a required tensor of the given shape and returns it with its
// last two axes swapped (a dense layer's [out, in] weight as the [in, out]
// right operand of x·W). The view is made once here rather than at every
// forward pass, and Taken lists it in place of the tensor: it holds the same
// bytes once evaluated.
func (w *Weights) TensorT(name string, shape ...int) *metal.Array {
	a := w.Tensor(name, shape...)
	if a == nil {
		return nil
	}
	t := metal.Swapaxes(a, -1, -2)
	t.Shape() // read the shape now, as Tensor does: Nbytes then works outside Do
	w.swapped[name] = t
	return t
}

// Optional takes a tensor if present (nil otherwise), checking its shape.
func (w *Weights) Optional(name string, shape ...int) *metal.Array {
	if !w.Has(name) {
		return nil
	}
	return w.Tensor(name, shape...)
}

// Quant returns the quantization parameters for the module at path.
func (w *Weights) Quant(path string) (model.QuantParams, error) {
	p, ok := w.quant.For(path)
	if !ok {
		return p, fmt.Errorf("%q has quantized weights but the config has no quantization for it", path)
	}
	return p, nil
}

// Err returns the first error recorded, or one naming unused tensors when
// checkUnused is set (mlx-lm loads strictly, too).
func (w *Weights) Err(checkUnused bool) error {
	if w.err != nil || !checkUnused {
		return w.err
	}
	var extra []string
	for name := range w.arrays {
		if !w.taken[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	if len(extra) > 5 {
		extra = append(extra[:5], fmt.Sprintf("and %d more", len(extra)-5))
	}
	return fmt.Errorf("%w: %v", ErrUnexpectedTensor, extra)
}

// Taken returns the tensors constructors used, or the views TensorT made of
// them (the model keeps these).
func (w *Weights) Taken() []*metal.Array {
	names := make([]string, 0, len(w.taken))
	for name := range w.taken {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]*metal.Array, len(names))
	for i, name := range names {
		out[i] = w.arrays[name]
		if t, ok := w.swapped[name]; ok {
			out[i] = t
		}
	}
	return out
}

// QuantizableModules returns the paths of the modules built from these
// weights that MLX can quantize (mlx-lm's modules with to_quantized: Linear,
// Embedding, SwitchLinear), in build order.
func (w *Weights) QuantizableModules() []string { return w.modules }

// fail records the first error.
func (w *Weights) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// shapeMatches compares a shape with a wanted one where -1 is a wildcard.
func shapeMatches(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if want[i] != -1 && got[i] != want[i] {
			return false
		}
	}
	return true
}
