package metal

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSDPASinksRefusesBadSinks checks that sinks MLX cannot use (one per
// query head, promoting to the attention's dtype) fail the call with MLX's
// message instead of crashing, and that the same call with fitting sinks
// succeeds.
func TestSDPASinksRefusesBadSinks(t *testing.T) {
	requireMLX(t)
	const heads, l, d = 4, 3, 8
	run := func(sinkDtype, qDtype Dtype, nSinks int) error {
		return Do(context.Background(), func() error {
			x := Astype(FromFloat32(lcg(heads*l*d, 3), 1, heads, l, d), qDtype)
			sinks := Astype(FromFloat32(lcg(nSinks, 4), nSinks), sinkDtype)
			_, err := SDPASinks(x, x, x, 0.5, MaskCausal, nil, sinks).Float32s()
			return err
		})
	}
	if err := run(Float32, Float32, heads); err != nil {
		t.Fatalf("fitting sinks: %v", err)
	}
	for _, tc := range []struct {
		name    string
		sink, q Dtype
		nSinks  int
		want    string
	}{
		{"one sink too few", Float32, Float32, heads - 1, "invalid shape for sinks"},
		{"float32 sinks, bfloat16 queries", Float32, BFloat16, heads, "Type of sinks must promote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.sink, tc.q, tc.nSinks)
			if !errors.Is(err, ErrMLX) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want MLX's %q", err, tc.want)
			}
		})
	}
}
