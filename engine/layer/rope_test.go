package layer

import (
	"context"
	"errors"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ropeAt applies r to a fixed one-position [1, 2, 1, 16] input at offset.
func ropeAt(t *testing.T, r model.Rope, offset int) []float32 {
	var out []float32
	err := metal.Do(context.Background(), func() error {
		rp, err := NewRoPE(16, false, r, 4096)
		if err != nil {
			return err
		}
		data := make([]float32, 2*16)
		for i := range data {
			data[i] = float32(i%7) - 3
		}
		x := metal.FromFloat32(data, 1, 2, 1, 16)
		out, err = rp.Apply(x, metal.FromInt32([]int32{int32(offset)}, 1)).Float32s()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRopeVariantsReduceToDefault checks each scaled rope against the plain
// one where the scaling is the identity or a position rescale.
func TestRopeVariantsReduceToDefault(t *testing.T) {
	mlxtest.Require(t)
	base := model.Rope{Type: "default", Theta: 10000}
	tests := []struct {
		name       string
		r          model.Rope
		offset     int
		baseOffset int
	}{
		{"linear factor 2 halves positions", model.Rope{Type: "linear", Theta: 10000, Factor: 2}, 8, 4},
		{"llama3 factor 1", model.Rope{Type: "llama3", Theta: 10000, Factor: 1, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}, 5, 5},
		{"yarn factor 1", model.Rope{Type: "yarn", Theta: 10000, Factor: 1, OriginalMaxPositionEmbeddings: 64}, 5, 5},
		{"longrope factors 1 within context", model.Rope{Type: "longrope", Theta: 10000, LongFactor: []float64{1, 1, 1, 1, 1, 1, 1, 1}, OriginalMaxPositionEmbeddings: 4096}, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := ropeAt(t, tt.r, tt.offset), ropeAt(t, base, tt.baseOffset)
			for i := range want {
				if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
					t.Fatalf("[%d] = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestRopeUnsupported(t *testing.T) {
	mlxtest.Require(t)
	err := metal.Do(context.Background(), func() error {
		_, err := NewRoPE(16, false, model.Rope{Type: "mrope2", Theta: 1}, 0)
		return err
	})
	if !errors.Is(err, ErrUnsupportedRope) {
		t.Errorf("err %v, want ErrUnsupportedRope", err)
	}
}
