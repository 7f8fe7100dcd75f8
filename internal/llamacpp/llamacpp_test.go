package llamacpp

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// SmolLM2's chat markers, a control token each.
const (
	imStart = 1
	imEnd   = 2
)

func TestTokenizeAndDetokenize(t *testing.T) {
	r := ForTest(t, Options{Model: testutil.DemoGGUF(t), VocabOnly: true})
	text := "<|im_start|>user\nHello, world!<|im_end|>"
	parsed, err := r.Tokenize(text, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if parsed[0] != imStart || parsed[len(parsed)-1] != imEnd {
		t.Errorf("parseSpecial: %v does not start with <|im_start|> (%d) and end with <|im_end|> (%d)", parsed, imStart, imEnd)
	}
	plain, err := r.Tokenize(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(plain, imStart) || len(plain) <= len(parsed) {
		t.Errorf("without parseSpecial the markers must be plain text: %v", plain)
	}
	for _, special := range []bool{true, false} {
		got, err := r.Detokenize(parsed, special)
		if err != nil {
			t.Fatal(err)
		}
		want := text
		if !special {
			want = "user\nHello, world!"
		}
		if got != want {
			t.Errorf("Detokenize(special=%v) = %q, want %q", special, got, want)
		}
	}
	if r.Info.AddBOS || r.Info.BOS != imStart || r.Info.EOS != imEnd {
		t.Errorf("Info = %+v, want BOS 1, EOS 2, no BOS added (the GGUF's add_bos_token)", r.Info)
	}
	if _, err := r.Generate(parsed, 1); err == nil || !strings.Contains(err.Error(), "vocab-only") {
		t.Errorf("Generate on a vocab-only model: err = %v, want the vocab-only error", err)
	}
}

func TestGenerateIsGreedyAndRepeatable(t *testing.T) {
	r := ForTest(t, Options{Model: testutil.DemoGGUF(t), Threads: 1, ContextSize: 256})
	prompt, err := r.Tokenize("<|im_start|>user\nName three colors.<|im_end|>\n<|im_start|>assistant\n", false, true)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	first, err := r.Generate(prompt, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 || len(first) > n {
		t.Fatalf("%d steps, want 1..%d", len(first), n)
	}
	for i, s := range first {
		if len(s.Top) != 2 || s.Top[0].ID != s.Token || s.Top[0].P < s.Top[1].P || s.LogitGap < 0 {
			t.Errorf("step %d: %+v: the token must be the most likely of two ordered candidates", i, s)
		}
	}
	again, err := r.Generate(prompt, n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(first, again, func(a, b Step) bool { return a.Token == b.Token }) {
		t.Errorf("greedy decoding differs between two runs: %v / %v", first, again)
	}
	b, err := r.Bench(prompt, 8)
	if err != nil {
		t.Fatal(err)
	}
	if b.PrefillTokens != len(prompt) || b.DecodeTokens < 1 || b.PrefillMs <= 0 || b.DecodeMs <= 0 {
		t.Errorf("bench = %+v", b)
	}
	t.Logf("prefill %d tokens %.0f ms, decode %d tokens %.0f ms (%.1f tokens/s, 1 thread)",
		b.PrefillTokens, b.PrefillMs, b.DecodeTokens, b.DecodeMs, float64(b.DecodeTokens)/b.DecodeMs*1000)
	if err := r.ResetPeak(); err != nil {
		t.Fatal(err)
	}
	mem, err := r.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if mem.StartRSS <= 0 || mem.RSS <= mem.StartRSS || mem.PeakRSS < mem.RSS || r.Info.Version == "" ||
		mem.PeakSinceReset != (runtime.GOOS == "linux") {
		t.Errorf("memory %+v, version %q: want the model loaded above the start, a peak at least the current, restarted on Linux",
			mem, r.Info.Version)
	}
}

func TestStartNamesAMissingModel(t *testing.T) {
	if err := Available(); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", err.Error())
	}
	missing := filepath.Join(t.TempDir(), "none.gguf")
	r, err := Start(Options{Model: missing, VocabOnly: true})
	if err == nil {
		r.Close()
		t.Fatal("Start succeeded without a model file")
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name the model path", err)
	}
}
