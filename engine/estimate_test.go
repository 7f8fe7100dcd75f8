package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// prefilledKVBytes loads dir with arch.Load, runs n tokens through fresh
// caches of opts the way generation does (all but the last as one prefill
// chunk, then one decode step) and returns the caches' Bytes(); false when
// the architecture's caches refuse opts.
func prefilledKVBytes(t *testing.T, dir string, n int, opts arch.CacheOptions) (int64, bool) {
	t.Helper()
	var total int64
	refused := false
	mlxtest.Do(t, func() error {
		m, _, err := arch.Load(dir)
		if err != nil {
			return err
		}
		defer arch.FreeModel(m)
		caches, err := m.NewCaches(opts)
		if errors.Is(err, arch.ErrCacheOptions) {
			refused = true
			return nil
		}
		if err != nil {
			return err
		}
		defer func() {
			for _, c := range caches {
				c.Free()
			}
		}()
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(1 + i%7)
		}
		for _, part := range [][]int32{ids[:n-1], ids[n-1:]} {
			metal.Scope(func() { forward(m, part, caches) })
		}
		for _, c := range caches {
			total += int64(c.Bytes())
		}
		return nil
	})
	return total, !refused
}

// forward runs ids through m's caches and evaluates the result.
func forward(m arch.Model, ids []int32, caches []cache.Cache) {
	h := m.Hidden(metal.FromInt32(ids, 1, len(ids)), caches)
	_ = metal.Eval(h)
}

func TestEstimateMatchesLoadedModels(t *testing.T) {
	mlxtest.Require(t)
	const n = 256 // a whole cache step, so the real caches hold exactly n
	cacheCases := []struct {
		name string
		opts Options
	}{
		{"standard", Options{}},
		// MLX quantizes along head_dim: fixtures whose head dims a group
		// of 32 does not divide refuse it (skipped).
		{"4-bit", Options{KVBits: 4, KVGroupSize: 32}},
		{"8-bit", Options{KVBits: 8, KVGroupSize: 32}},
		{"bounded", Options{MaxKVSize: 64}},
	}
	for _, dir := range append(testutil.ModelFixtures(t), "demo") {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			if name == "demo" {
				dir = testmodel.Demo(t) // quantized weights
			}
			m, err := Load(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			real := m.Info().WeightBytes
			if err := m.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			est, err := Estimate(dir, n, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// The loaded model adds rope frequencies and Gemma's (1 + w)
			// norms; a tied head saved twice would be counted twice.
			if diff := math.Abs(float64(est.WeightBytes-real)) / float64(real); diff > 0.01 {
				t.Errorf("weights estimate %d, loaded %d (%.2f%% off)", est.WeightBytes, real, 100*diff)
			}
			for _, c := range cacheCases {
				if name == "demo" {
					continue // a 256-token prefill of the demo takes a minute on the CPU backend
				}
				est, err := Estimate(dir, n, c.opts)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := prefilledKVBytes(t, dir, n, arch.CacheOptions{MaxKVSize: c.opts.MaxKVSize, KVBits: c.opts.KVBits, KVGroupSize: c.opts.KVGroupSize})
				if !ok {
					continue // e.g. a hybrid's state layers take no max KV size
				}
				if est.KVBytes != got || est.ContextTokens != n || est.Total() != est.WeightBytes+est.KVBytes {
					t.Errorf("%s: KV estimate %d (%d per token), caches hold %d after %d tokens", c.name, est.KVBytes, est.KVBytesPerToken, got, n)
				}
				// Before a download, config.json alone (the fixtures name
				// their float32 dtype there) must give the same figure.
				raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
				if err != nil {
					t.Fatal(err)
				}
				remote, err := EstimateConfig(raw, est.WeightBytes, n, c.opts)
				if err != nil || remote.KVBytes != got {
					t.Errorf("%s: from config.json alone KV %d (%v), caches hold %d", c.name, remote.KVBytes, err, got)
				}
			}
		})
	}
}

func TestEstimateBoundsSlidingLayers(t *testing.T) {
	dir := filepath.Join(testutil.Fixtures(t), "models", "gemma3_text")
	short, err := Estimate(dir, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	long, err := Estimate(dir, 100000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Both layers slide over 8 positions: a long context costs no more.
	if short.KVBytes != 4*short.KVBytesPerToken || long.KVBytes != 8*long.KVBytesPerToken {
		t.Errorf("KV at 4 tokens %d, at 100000 %d; per token %d", short.KVBytes, long.KVBytes, short.KVBytesPerToken)
	}
	// Llama's K and V × 2 layers × 2 KV heads × 16 dims × float32.
	llama, err := Estimate(filepath.Join(testutil.Fixtures(t), "models", "llama"), 1000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if llama.KVBytesPerToken != 2*2*2*16*4 || llama.KVBytes != 1000*llama.KVBytesPerToken {
		t.Errorf("llama %+v", llama)
	}
	// No context given: the model's own (max_position_embeddings 512).
	whole, err := Estimate(filepath.Join(testutil.Fixtures(t), "models", "llama"), 0, Options{})
	if err != nil || whole.ContextTokens != 512 || whole.KVBytes != 512*whole.KVBytesPerToken {
		t.Errorf("llama at its context length: %+v, %v", whole, err)
	}
}

func TestEstimateErrors(t *testing.T) {
	if _, err := Estimate(filepath.Join(t.TempDir(), "nope"), 10, Options{}); err == nil {
		t.Error("missing folder estimated")
	}
}
