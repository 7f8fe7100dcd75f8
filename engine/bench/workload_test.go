package bench

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// TestSplitMix64 checks the generator against the first outputs of Vigna's
// reference splitmix64.c seeded with 0.
func TestSplitMix64(t *testing.T) {
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	rng := splitMix64{}
	for i, w := range want {
		if got := rng.next(); got != w {
			t.Fatalf("output %d = %#x, want %#x", i, got, w)
		}
	}
}

// TestPromptIDsSkipAddedTokens checks the id range on real tokenizers: ids
// stay below the tokenizer's base vocabulary and never hit an added token.
func TestPromptIDsSkipAddedTokens(t *testing.T) {
	fx := testutil.Fixtures(t)
	cases := []struct {
		name, dir string
		bound     int32
		banned    []int32
	}{
		// Qwen3's added tokens (<|endoftext|>...) start at 151643.
		{"qwen3 tokenizer", withConfig(t, filepath.Join(fx, "tokenizers", "qwen3"), 151936), 151643, nil},
		// stories260k lists <unk> (id 0) among its added tokens.
		{"stories260k", filepath.Join(fx, "models", "stories260k"), 512, []int32{0}},
		// No tokenizer: the whole config vocabulary.
		{"llama no tokenizer", filepath.Join(fx, "models", "llama"), 384, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, err := PromptIDs(c.dir, 4000, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 4000 {
				t.Fatalf("got %d ids, want 4000", len(ids))
			}
			seen := map[int32]bool{}
			for _, id := range ids {
				if id < 0 || id >= c.bound {
					t.Fatalf("id %d outside [0, %d)", id, c.bound)
				}
				seen[id] = true
			}
			for _, b := range c.banned {
				if seen[b] {
					t.Errorf("added token %d used in the prompt", b)
				}
			}
		})
	}
}

// TestPromptIDsNoVocab checks the error for a config without vocab_size.
func TestPromptIDsNoVocab(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PromptIDs(dir, 3, 0); !errors.Is(err, ErrNoVocab) {
		t.Fatalf("err = %v, want ErrNoVocab", err)
	}
}

// withConfig makes a folder holding a symlink to tok/tokenizer.json and a
// config.json with the given vocab_size.
func withConfig(t *testing.T, tok string, vocab int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(tok, "tokenizer.json"), filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{"text_config":{"vocab_size":` + strconv.Itoa(vocab) + `}}`)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReadTensors reads the fixture's reference file: int32 prompts match
// their documented lengths, logits are [n, vocab], wrong dtypes and names fail.
func TestReadTensors(t *testing.T) {
	ref, err := ReadTensors(filepath.Join(testutil.Fixtures(t), "models", "llama", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{1, 5, 23} {
		ids, shape, err := ref.Int32("input_ids_" + strconv.Itoa(i))
		if err != nil || len(ids) != n || len(shape) != 1 || shape[0] != n {
			t.Fatalf("input_ids_%d: %d ids, shape %v, err %v; want %d", i, len(ids), shape, err, n)
		}
		logits, shape, err := ref.Float32("logits_" + strconv.Itoa(i))
		if err != nil || len(shape) != 2 || shape[0] != n || shape[1] != 384 || len(logits) != n*384 {
			t.Fatalf("logits_%d: shape %v, err %v", i, shape, err)
		}
	}
	if _, _, err := ref.Float32("input_ids_0"); !errors.Is(err, ErrTensor) {
		t.Errorf("int32 read as float32: err = %v, want ErrTensor", err)
	}
	if _, _, err := ref.Int32("missing"); !errors.Is(err, ErrTensor) {
		t.Errorf("missing tensor: err = %v, want ErrTensor", err)
	}
}

// TestRelError covers the agreement measure, NaNs included.
func TestRelError(t *testing.T) {
	cases := []struct {
		name      string
		got, want []float32
		rel       float64
	}{
		{"equal", []float32{3, 4}, []float32{3, 4}, 0},
		{"scaled", []float32{3.3, 4.4}, []float32{3, 4}, 0.1},
		{"length", []float32{1}, []float32{1, 2}, math.Inf(1)},
		{"nan", []float32{float32(math.NaN()), 4}, []float32{3, 4}, math.Inf(1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RelError(c.got, c.want); math.Abs(got-c.rel) > 1e-6 && got != c.rel {
				t.Fatalf("RelError = %v, want %v", got, c.rel)
			}
		})
	}
}
