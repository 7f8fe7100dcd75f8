package layer

import (
	"context"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// TestMultiLinearQuantizedMatchesDequantized checks both directions of a
// per-head map (x·Wᵀ and x·W, as DeepSeek's unembed_out and embed_q use
// them) on quantized weights against the same maps on the dequantized ones.
func TestMultiLinearQuantizedMatchesDequantized(t *testing.T) {
	mlxtest.Require(t)
	const heads, out, in, group, bits = 3, 32, 64, 32, 4
	fill := func(n int, seed float32) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32((i*37+int(seed))%23)/11 - 1
		}
		return d
	}
	err := metal.Do(context.Background(), func() error {
		w := metal.FromFloat32(fill(heads*out*in, 5), heads, out, in)
		wq, scales, biases := metal.Quantize(w, group, bits, metal.ModeAffine)
		deq := metal.Dequantize(wq, scales, biases, group, bits, metal.ModeAffine)
		q := &model.Quantization{QuantParams: model.QuantParams{GroupSize: group, Bits: bits, Mode: metal.ModeAffine}}
		qm := NewMultiLinear(NewWeights(map[string]*metal.Array{"m.weight": wq, "m.scales": scales, "m.biases": biases}, q), "m", in, out, heads)
		fm := NewMultiLinear(NewWeights(map[string]*metal.Array{"m.weight": deq}, nil), "m", in, out, heads)
		if qm.q == nil || fm.q != nil {
			t.Fatalf("quantized layer read as float (or the other way)")
		}
		cases := []struct {
			name      string
			x         *metal.Array
			transpose bool
		}{
			{"x·Wᵀ per head", metal.FromFloat32(fill(2*heads*5*in, 3), 2, heads, 5, in), true},
			{"x·W from one shared row", metal.FromFloat32(fill(2*1*5*out, 7), 2, 1, 5, out), false},
		}
		for _, c := range cases {
			got, err := qm.Forward(c.x, c.transpose).Float32s()
			if err != nil {
				return err
			}
			want, err := fm.Forward(c.x, c.transpose).Float32s()
			if err != nil {
				return err
			}
			if e := testutil.RelErr(got, want); e > 1e-5 {
				t.Errorf("%s: quantized vs dequantized relative error %.3g", c.name, e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
