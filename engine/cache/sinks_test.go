package cache

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// sinkRef is attention with sinks computed in float64 from the definition
// (transformers' eager_attention_forward): q [hq, l, d], k, v [hkv, l, d],
// causal, one sink logit per query head in the denominator.
func sinkRef(q, k, v, sinks []float32, hq, hkv, l, d int, scale float64) []float32 {
	out := make([]float32, hq*l*d)
	rep := hq / hkv
	for h := range hq {
		kh := h / rep
		for i := range l {
			logits := make([]float64, i+1)
			m := float64(sinks[h])
			for j := 0; j <= i; j++ {
				s := 0.0
				for x := range d {
					s += float64(q[(h*l+i)*d+x]) * float64(k[(kh*l+j)*d+x])
				}
				logits[j] = s * scale
				m = math.Max(m, logits[j])
			}
			den := math.Exp(float64(sinks[h]) - m)
			for j := range logits {
				logits[j] = math.Exp(logits[j] - m)
				den += logits[j]
			}
			for x := range d {
				acc := 0.0
				for j, p := range logits {
					acc += p / den * float64(v[(kh*l+j)*d+x])
				}
				out[(h*l+i)*d+x] = float32(acc)
			}
		}
	}
	return out
}

// normals returns a function drawing n standard normal float32s from r.
func normals(r *rand.Rand) func(n int) []float32 {
	return func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(r.NormFloat64())
		}
		return out
	}
}

// TestAttentionSinks checks AttentionSinks against the definition without
// a cache and through a KV cache (prefill then one decode step), and the
// 8-bit quantized cache against it within its quantization error.
func TestAttentionSinks(t *testing.T) {
	mlxtest.Require(t)
	const hq, hkv, l, d = 6, 2, 7, 32
	randn := normals(rand.New(rand.NewPCG(1, 2)))
	q, k, v, sinks := randn(hq*l*d), randn(hkv*l*d), randn(hkv*l*d), randn(hq)
	scale := 1 / math.Sqrt(d)
	want := sinkRef(q, k, v, sinks, hq, hkv, l, d, scale)
	run := func(c Cache) []float32 {
		var got []float32
		mlxtest.Do(t, func() error {
			qa, ka, va := metal.FromFloat32(q, 1, hq, l, d), metal.FromFloat32(k, 1, hkv, l, d), metal.FromFloat32(v, 1, hkv, l, d)
			s := metal.FromFloat32(sinks, hq)
			if c == nil {
				out, err := AttentionSinks(nil, qa, ka, va, scale, Mask{Mode: "causal"}, s).Float32s()
				got = out
				return err
			}
			// prefill l-1 positions, then decode the last one
			first := AttentionSinks(c, sliceSeq(qa, 0, l-1), sliceSeq(ka, 0, l-1), sliceSeq(va, 0, l-1), scale, c.MakeMask(l-1, 0), s)
			last := AttentionSinks(c, sliceSeq(qa, l-1, l), sliceSeq(ka, l-1, l), sliceSeq(va, l-1, l), scale, c.MakeMask(1, 0), s)
			out, err := metal.Concatenate([]*metal.Array{first, last}, 2).Float32s()
			got = out
			c.Free()
			return err
		})
		return got
	}
	for _, tc := range []struct {
		name  string
		cache func() Cache
		limit float64
	}{
		{"no cache", func() Cache { return nil }, 1e-5},
		{"kv", func() Cache { return NewKV(nil) }, 1e-5},
		{"rotating", func() Cache { return NewRotating(16, 0) }, 1e-5},
		{"quantized 8-bit", func() Cache { return NewQuantized(32, 8) }, 2e-2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Cache
			mlxtest.Do(t, func() error { c = tc.cache(); return nil })
			e := testutil.RelErr(run(c), want)
			t.Logf("relative error %.2g", e)
			if !(e <= tc.limit) {
				t.Errorf("relative error %.3g > %g", e, tc.limit)
			}
		})
	}
}

// TestAttentionSinksLeftPadded runs two sequences (3 and 5 positions) as
// one left-padded batch through a KV cache (the scheduler's merged decode
// batch has this layout) and compares each row's real positions with the
// definition on that sequence alone.
func TestAttentionSinksLeftPadded(t *testing.T) {
	mlxtest.Require(t)
	const hq, hkv, width, d = 4, 2, 5, 8
	lens := []int{3, 5}
	randn := normals(rand.New(rand.NewPCG(3, 4)))
	sinks := randn(hq)
	scale := 1 / math.Sqrt(d)
	// per sequence [h, l, d] data, then padded into [2, h, width, d]
	qs, ks, vs := make([][]float32, 2), make([][]float32, 2), make([][]float32, 2)
	pad := func(rows [][]float32, heads int) []float32 {
		out := make([]float32, 0, 2*heads*width*d)
		for b, x := range rows {
			l := lens[b]
			for h := range heads {
				out = append(out, make([]float32, (width-l)*d)...)
				out = append(out, x[h*l*d:(h+1)*l*d]...)
			}
		}
		return out
	}
	for b, l := range lens {
		qs[b], ks[b], vs[b] = randn(hq*l*d), randn(hkv*l*d), randn(hkv*l*d)
	}
	var got []float32
	mlxtest.Do(t, func() error {
		c := NewKV([]int{width - lens[0], width - lens[1]})
		defer c.Free()
		mask := c.MakeMask(width, 0)
		out := AttentionSinks(c, metal.FromFloat32(pad(qs, hq), 2, hq, width, d), metal.FromFloat32(pad(ks, hkv), 2, hkv, width, d),
			metal.FromFloat32(pad(vs, hkv), 2, hkv, width, d), scale, mask, metal.FromFloat32(sinks, hq))
		var err error
		got, err = out.Float32s()
		return err
	})
	for b, l := range lens {
		want := sinkRef(qs[b], ks[b], vs[b], sinks, hq, hkv, l, d, scale)
		var row []float32
		for h := range hq {
			start := ((b*hq+h)*width + width - l) * d
			row = append(row, got[start:start+l*d]...)
		}
		if e := testutil.RelErr(row, want); !(e <= 1e-5) {
			t.Errorf("sequence %d (%d positions, %d padding): relative error %.3g > 1e-5", b, l, width-l, e)
		}
	}
}

// sdpaSinks is softmax(scale·q kᵀ + mask, with sinks) v for q [B, Hq, L, D]
// and k, v [B, Hkv, K, D], grouped-query heads, built from MLX ops as MLX's
// own fallback builds it: the reference of the fused SDPA with sinks
// AttentionSinks uses (the quantized cache still attends this way, through
// sinkSoftmax).
func sdpaSinks(q, k, v *metal.Array, scale float64, mask Mask, sinks *metal.Array) *metal.Array {
	b, heads, l, d := q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3)
	kvHeads := k.Dim(1)
	if kvHeads == 0 { // an earlier op failed: the sticky error reports it
		return &metal.Array{}
	}
	rep := heads / kvHeads
	q = metal.MulScalar(q, scale)
	if rep > 1 {
		q = metal.Reshape(q, b, kvHeads, rep, l, d)
		k, v = metal.ExpandDims(k, -3), metal.ExpandDims(v, -3)
	}
	scores := metal.Matmul(q, metal.Swapaxes(k, -1, -2))
	scores = applyMask(scores, mask, rep > 1)
	out := metal.Matmul(sinkSoftmax(scores, sinks, kvHeads, rep), v)
	if rep > 1 {
		out = metal.Reshape(out, b, heads, l, d)
	}
	return out
}

// TestSinkAttentionFused runs AttentionSinks (MLX's fused SDPA with sinks)
// and sdpaSinks (the same attention built from MLX ops), on the same inputs, and requires them
// to agree: prefill and decode, grouped and full heads, MLX's causal mode, a
// sliding-window mask, a left-padded batch's array mask, and bfloat16
// activations with float32 sinks (as a bfloat16 checkpoint may store them).
func TestSinkAttentionFused(t *testing.T) {
	mlxtest.Require(t)
	randn := normals(rand.New(rand.NewPCG(5, 6)))
	for _, tc := range []struct {
		name             string
		b, hq, hkv, l, k int
		mode             string
		window           int
		leftPad          []int32
		dtype            metal.Dtype
		limit            float64
	}{
		{"prefill causal gqa", 1, 8, 2, 9, 9, metal.MaskCausal, 0, nil, metal.Float32, 1e-5},
		{"prefill causal after a prefix", 1, 4, 4, 5, 12, metal.MaskCausal, 0, nil, metal.Float32, 1e-5},
		{"decode gqa", 1, 8, 2, 1, 17, "", 0, nil, metal.Float32, 1e-5},
		{"sliding window prefill", 1, 8, 2, 6, 16, metal.MaskArray, 4, nil, metal.Float32, 1e-5},
		{"sliding window decode", 1, 8, 2, 1, 16, metal.MaskArray, 4, nil, metal.Float32, 1e-5},
		{"left-padded batch prefill", 2, 8, 2, 5, 8, metal.MaskArray, 0, []int32{0, 3}, metal.Float32, 1e-5},
		{"left-padded batch decode", 2, 8, 2, 1, 9, metal.MaskArray, 0, []int32{2, 0}, metal.Float32, 1e-5},
		{"bfloat16 decode", 1, 8, 2, 1, 17, "", 0, nil, metal.BFloat16, 1e-2},
		{"bfloat16 prefill causal", 2, 8, 2, 7, 7, metal.MaskCausal, 0, nil, metal.BFloat16, 1e-2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const d = 64
			q, k, v := randn(tc.b*tc.hq*tc.l*d), randn(tc.b*tc.hkv*tc.k*d), randn(tc.b*tc.hkv*tc.k*d)
			sinks := randn(tc.hq)
			var fused, ref []float32
			limit := tc.limit
			mlxtest.Do(t, func() error {
				if tc.dtype == metal.Float32 && metal.DefaultDevice().Type == metal.GPU {
					limit = 3e-3 // the MLX-ops path's matmuls may run in TF32 on a GPU
				}
				in := func(x []float32, heads, n int) *metal.Array {
					return metal.Astype(metal.FromFloat32(x, tc.b, heads, n, d), tc.dtype)
				}
				qa, ka, va := in(q, tc.hq, tc.l), in(k, tc.hkv, tc.k), in(v, tc.hkv, tc.k)
				mask := Mask{Mode: tc.mode}
				if tc.mode == metal.MaskArray {
					mask.Array = CausalMask(tc.l, tc.k-tc.l, tc.window, tc.leftPad)
				}
				s, scale := metal.FromFloat32(sinks, tc.hq), 1/math.Sqrt(d)
				var err error
				if fused, err = metal.Astype(AttentionSinks(nil, qa, ka, va, scale, mask, s), metal.Float32).Float32s(); err != nil {
					return err
				}
				ref, err = metal.Astype(sdpaSinks(qa, ka, va, scale, mask, s), metal.Float32).Float32s()
				return err
			})
			e := testutil.RelErr(fused, ref)
			t.Logf("relative error %.2g over %d values", e, len(ref))
			if !(e <= limit) {
				t.Errorf("fused SDPA with sinks differs from the MLX-ops path: relative error %.3g > %g", e, limit)
			}
		})
	}
}
