package metal

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestCategoricalSeededAndDistributed(t *testing.T) {
	const n = 4000
	probs := []float64{0.1, 0.2, 0.7}
	logits := make([]float32, 0, n*3)
	for range n {
		for _, p := range probs {
			logits = append(logits, float32(math.Log(p)))
		}
	}
	sample := func(seed uint64) ([]int32, error) {
		var out []int32
		err := Do(t.Context(), func() error {
			var err error
			out, err = Categorical(FromFloat32(logits, n, 3), -1, RandomKey(seed)).Int32s()
			return err
		})
		return out, err
	}
	requireMLX(t)
	a, errA := sample(7)
	b, errB := sample(7)
	c, errC := sample(8)
	if errA != nil || errB != nil || errC != nil {
		t.Fatal(errA, errB, errC)
	}
	if !slices.Equal(a, b) {
		t.Error("same key gave different samples")
	}
	if slices.Equal(a, c) {
		t.Error("different keys gave identical samples")
	}
	counts := make([]float64, 3)
	for _, s := range a {
		counts[s]++
	}
	for i, p := range probs {
		// 0.03 is over 4 standard deviations of the frequency at n = 4000.
		if f := counts[i] / n; math.Abs(f-p) > 0.03 {
			t.Errorf("class %d drawn with frequency %.3f, want %.2f", i, f, p)
		}
	}
}

func TestRandomUniformAndSplit(t *testing.T) {
	do(t, func() error {
		keys := RandomSplit(RandomKey(1), 3)
		if s := keys.Shape(); len(s) != 2 || s[0] != 3 || s[1] != 2 {
			return fmt.Errorf("split keys shape %v, want [3 2]", s)
		}
		u := floats(t, RandomUniform([]int{10000}, Float32, Take(keys, Scalar(1, Int32), 0)))
		var sum float64
		for _, v := range u {
			if v < 0 || v >= 1 {
				return fmt.Errorf("uniform sample %v outside [0,1)", v)
			}
			sum += float64(v)
		}
		if mean := sum / float64(len(u)); math.Abs(mean-0.5) > 0.015 {
			t.Errorf("uniform mean %.4f, want 0.5", mean)
		}
		return nil
	})
}
