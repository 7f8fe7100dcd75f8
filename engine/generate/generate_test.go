package generate

import (
	"context"
	"errors"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// fixture is a loaded fixture model with its reference tensors.
type fixture struct {
	m     arch.Model
	vocab int
	ints  map[string][]int32
	logit map[string][]float32
	meta  map[string]string
}

// modelsDir is fixtures/models.
func modelsDir(t testing.TB) string {
	return filepath.Join(testutil.Fixtures(t), "models")
}

// loadFixture loads fixtures/models/<name> (or the fixture folder name,
// when it is a path) and its reference, failing the test when it cannot.
func loadFixture(t testing.TB, name string) *fixture {
	dir := name
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(modelsDir(t), name)
	}
	f, err := readFixture(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readFixture loads the model in dir and its reference; the model is freed
// when the test ends. A model that does not load is the error; a reference
// that cannot be read fails the test.
func readFixture(t testing.TB, dir string) (*fixture, error) {
	mlxtest.Require(t)
	f := &fixture{ints: map[string][]int32{}, logit: map[string][]float32{}}
	var loadErr error
	mlxtest.Do(t, func() error {
		m, cfg, err := arch.Load(dir)
		if err != nil {
			loadErr = err
			return nil
		}
		f.m, f.vocab = m, cfg.VocabSize
		arrays, meta, err := metal.LoadSafetensors(filepath.Join(dir, "reference.safetensors"))
		if err != nil {
			return err
		}
		f.meta = meta
		for k, a := range arrays {
			if a.Dtype() == metal.Int32 {
				f.ints[k], err = a.Int32s()
			} else {
				f.logit[k], err = a.Float32s()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if loadErr != nil {
		return nil, loadErr
	}
	t.Cleanup(func() { mlxtest.Do(t, func() error { arch.FreeModel(f.m); return nil }) })
	return f, nil
}

// generate runs req on the fixture, failing on error.
func (f *fixture) generate(t *testing.T, req Request, fn Callback) *Result {
	t.Helper()
	res, err := Generate(context.Background(), f.m, f.vocab, req, fn)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGreedyFixtures(t *testing.T) {
	// Every fixture folder, the shared ones and the repository's own.
	for _, dir := range testutil.ModelFixtures(t, "stories260k") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f := loadFixture(t, dir)
			want := f.ints["greedy_tokens"]
			var streamed []int32
			res := f.generate(t, Request{Prompt: f.ints["greedy_prompt"], MaxTokens: len(want), PrefillChunk: 4},
				func(tok Token) bool { streamed = append(streamed, tok.ID); return false })
			if !slices.Equal(res.Tokens, want) || !slices.Equal(streamed, want) {
				t.Errorf("greedy tokens %v (streamed %v), want %v", res.Tokens, streamed, want)
			}
			if res.FinishReason != FinishLength {
				t.Errorf("finish reason %q, want %q", res.FinishReason, FinishLength)
			}
		})
	}
}

func TestInvalidRequestsFailBeforeMLX(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"empty prompt", Request{MaxTokens: 1}, ErrEmptyPrompt},
		{"token past the vocabulary", Request{Prompt: []int32{1, 10}, MaxTokens: 1}, ErrTokenRange},
		{"negative token", Request{Prompt: []int32{-1}, MaxTokens: 1}, ErrTokenRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No model: the request must be refused before it is used.
			if _, err := Generate(context.Background(), nil, 10, tt.req, nil); !errors.Is(err, tt.want) {
				t.Fatalf("Generate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStoriesGreedy(t *testing.T) {
	f := loadFixture(t, "stories260k")
	tests := []struct {
		name   string
		prompt []int32
		want   []int32
	}{
		{"from BOS", []int32{1}, f.ints["greedy_from_bos"]},
		{"from prompt", f.ints["prompt_ids"], f.ints["prompt_greedy"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.generate(t, Request{Prompt: tt.prompt, MaxTokens: len(tt.want)}, nil)
			if !slices.Equal(res.Tokens, tt.want) {
				t.Errorf("got %v\nwant %v", res.Tokens, tt.want)
			}
		})
	}
}

func TestStopIDsAndCallback(t *testing.T) {
	f := loadFixture(t, "llama")
	want := f.ints["greedy_tokens"]
	prompt := f.ints["greedy_prompt"]
	res := f.generate(t, Request{Prompt: prompt, MaxTokens: 20, StopIDs: []int32{want[3]}}, nil)
	stop := slices.Index(want, want[3])
	if res.FinishReason != FinishStop || !slices.Equal(res.Tokens, want[:stop]) {
		t.Errorf("stop id: %q %v, want stop after %v", res.FinishReason, res.Tokens, want[:stop])
	}
	res = f.generate(t, Request{Prompt: prompt, MaxTokens: 20}, func(tok Token) bool { return tok.ID == want[5] })
	stop = slices.Index(want, want[5]) + 1
	if res.FinishReason != FinishCallback || !slices.Equal(res.Tokens, want[:stop]) {
		t.Errorf("callback stop: %q %v, want %v", res.FinishReason, res.Tokens, want[:stop])
	}
}

func TestCancelStopsWithinOneStep(t *testing.T) {
	f := loadFixture(t, "llama")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	res, err := Generate(ctx, f.m, f.vocab, Request{Prompt: f.ints["greedy_prompt"], MaxTokens: 1000}, func(Token) bool {
		n++
		if n == 3 {
			cancel()
		}
		return false
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(res.Tokens) != 3 || n != 3 {
		t.Errorf("%d tokens emitted (%d callbacks) after cancelling at the 3rd, want 3", len(res.Tokens), n)
	}
}

func TestBoundedCacheKeepsGenerating(t *testing.T) {
	f := loadFixture(t, "llama")
	prompt, want := f.ints["greedy_prompt"], f.ints["greedy_tokens"]
	const maxKV = 16
	res := f.generate(t, Request{Prompt: prompt, MaxTokens: 60, Cache: arch.CacheOptions{MaxKVSize: maxKV}}, nil)
	if len(res.Tokens) != 60 {
		t.Fatalf("%d tokens, want 60", len(res.Tokens))
	}
	same := maxKV - len(prompt) + 1 // tokens decided before anything was evicted
	if !slices.Equal(res.Tokens[:same], want[:same]) {
		t.Errorf("first %d tokens %v, want %v", same, res.Tokens[:same], want[:same])
	}
}

func TestQuantizedKVCacheStaysClose(t *testing.T) {
	f := loadFixture(t, "qwen3") // head_dim 32 allows group size 32
	want := f.ints["greedy_tokens"]
	res := f.generate(t, Request{Prompt: f.ints["greedy_prompt"], MaxTokens: len(want),
		Cache: arch.CacheOptions{KVBits: 8, KVGroupSize: 32}}, nil)
	if !slices.Equal(res.Tokens[:5], want[:5]) {
		t.Errorf("8-bit KV cache: %v, want to start like %v", res.Tokens, want[:5])
	}
}

func TestBadKVQuantizationIsAnError(t *testing.T) {
	// Bits and group sizes MLX does not have are refused up front, and so is
	// a group of 64, valid but not dividing these models' head_dim (32, 16):
	// MLX would fail mid-step, inside a batch of other requests. Either way the request fails with an error, not a
	// panic, and the next request runs as usual.
	tests := []struct {
		c    arch.CacheOptions
		want error
	}{
		{arch.CacheOptions{KVBits: 7, KVGroupSize: 32}, arch.ErrCacheOptions},
		{arch.CacheOptions{KVBits: 4, KVGroupSize: 48}, arch.ErrCacheOptions},
		{arch.CacheOptions{KVBits: 4, KVGroupSize: 64}, arch.ErrCacheOptions},
	}
	for _, name := range []string{"qwen3", "qwen3_moe"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			prompt, want := f.ints["greedy_prompt"], f.ints["greedy_tokens"]
			for _, tt := range tests {
				_, err := Generate(context.Background(), f.m, f.vocab, Request{Prompt: prompt, MaxTokens: 3, Cache: tt.c}, nil)
				if !errors.Is(err, tt.want) {
					t.Errorf("KV cache %+v: err %v, want %v", tt.c, err, tt.want)
				}
			}
			res := f.generate(t, Request{Prompt: prompt, MaxTokens: len(want)}, nil)
			if !slices.Equal(res.Tokens, want) {
				t.Errorf("after the failed requests: %v, want %v", res.Tokens, want)
			}
		})
	}
}
