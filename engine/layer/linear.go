package layer

import "github.com/lmx-app/lmx/metal"

// quantized holds the MLX-quantized form of a weight (mlx-lm's layout:
// packed uint32 "weight", "scales", and "biases" for affine mode).
type quantized struct {
	scales, biases  *metal.Array
	groupSize, bits int
	mode            string
}

// takeQuantized reads prefix.scales/.biases when the module is quantized and
// returns the packed weight; it returns nil, nil when it is not quantized.
// The packed weight has rows × (cols·bits/32) uint32 words.
func takeQuantized(w *Weights, prefix string, lead []int, cols int) (*metal.Array, *quantized) {
	w.modules = append(w.modules, prefix)
	if !w.Has(prefix + ".scales") {
		return nil, nil
	}
	p, err := w.Quant(prefix)
	if err != nil {
		w.fail(err)
		return nil, nil
	}
	q := &quantized{groupSize: p.GroupSize, bits: p.Bits, mode: p.Mode}
	groups := append(append([]int{}, lead...), cols/p.GroupSize)
	q.scales = w.Tensor(prefix+".scales", groups...)
	q.biases = w.Optional(prefix+".biases", groups...)
	packed := append(append([]int{}, lead...), cols*p.Bits/32)
	return w.Tensor(prefix+".weight", packed...), q
}

// Linear is y = x·Wᵀ (+ b), dense or MLX-quantized depending on the weights
// present, like mlx-lm's nn.Linear / nn.QuantizedLinear.
type Linear struct {
	// Weight is the packed quantized weight, or for a dense layer Wᵀ: the
	// [in, out] view of the checkpoint's [out, in] tensor, made at load.
	Weight *metal.Array
	Bias   *metal.Array
	q      *quantized
}

// NewLinear takes prefix.weight (and prefix.bias when bias is set).
func NewLinear(w *Weights, prefix string, in, out int, bias bool) *Linear {
	l := &Linear{}
	l.Weight, l.q = takeQuantized(w, prefix, []int{out}, in)
	if l.q == nil {
		l.Weight = w.TensorT(prefix+".weight", out, in)
	}
	if bias {
		l.Bias = w.Tensor(prefix+".bias", out)
	}
	return l
}

// Forward applies the layer to x [..., in].
func (l *Linear) Forward(x *metal.Array) *metal.Array {
	if l.q != nil {
		y := metal.QuantizedMatmul(x, l.Weight, l.q.scales, l.q.biases, true, l.q.groupSize, l.q.bits, l.q.mode)
		if l.Bias != nil {
			y = metal.Add(y, l.Bias)
		}
		return y
	}
	if l.Bias != nil {
		return metal.Addmm(l.Bias, x, l.Weight, 1, 1)
	}
	return metal.Matmul(x, l.Weight)
}

// Embedding maps token ids to rows of its table; AsLinear uses the same table
// as the output head for tied embeddings.
type Embedding struct {
	Weight *metal.Array
	q      *quantized
}

// NewEmbedding takes prefix.weight of shape [vocab, dim] (or its quantized form).
func NewEmbedding(w *Weights, prefix string, vocab, dim int) *Embedding {
	e := &Embedding{}
	e.Weight, e.q = takeQuantized(w, prefix, []int{vocab}, dim)
	if e.q == nil {
		e.Weight = w.Tensor(prefix+".weight", vocab, dim)
	}
	return e
}

// Forward looks up ids [B, L] and returns [B, L, dim].
func (e *Embedding) Forward(ids *metal.Array) *metal.Array {
	if e.q == nil {
		return metal.Take(e.Weight, ids, 0)
	}
	rows := metal.Take(e.Weight, ids, 0)
	scales := metal.Take(e.q.scales, ids, 0)
	var biases *metal.Array
	if e.q.biases != nil {
		biases = metal.Take(e.q.biases, ids, 0)
	}
	return metal.Dequantize(rows, scales, biases, e.q.groupSize, e.q.bits, e.q.mode)
}

// AsLinear computes x·Wᵀ: logits over the vocabulary for a tied head.
func (e *Embedding) AsLinear(x *metal.Array) *metal.Array {
	if e.q != nil {
		return metal.QuantizedMatmul(x, e.Weight, e.q.scales, e.q.biases, true, e.q.groupSize, e.q.bits, e.q.mode)
	}
	return metal.Matmul(x, metal.Transpose(e.Weight))
}

// SwitchLinear is a stack of per-expert linear layers applied by expert index
// (mlx-lm switch_layers.SwitchLinear / QuantizedSwitchLinear), without bias.
type SwitchLinear struct {
	// Weight is the packed quantized weight, or for dense experts the
	// [experts, in, out] view of the checkpoint's [experts, out, in], made at load.
	Weight *metal.Array
	q      *quantized
}

// NewSwitchLinear takes prefix.weight of shape [experts, out, in].
func NewSwitchLinear(w *Weights, prefix string, in, out, experts int) *SwitchLinear {
	s := &SwitchLinear{}
	s.Weight, s.q = takeQuantized(w, prefix, []int{experts, out}, in)
	if s.q == nil {
		s.Weight = w.TensorT(prefix+".weight", experts, out, in)
	}
	return s
}

// Forward applies expert indices[...] to x (gather_mm / gather_qmm).
func (s *SwitchLinear) Forward(x, indices *metal.Array, sorted bool) *metal.Array {
	if s.q != nil {
		return metal.GatherQMM(x, s.Weight, s.q.scales, s.q.biases, nil, indices, true, s.q.groupSize, s.q.bits, s.q.mode, sorted)
	}
	return metal.GatherMM(x, s.Weight, nil, indices, sorted)
}
