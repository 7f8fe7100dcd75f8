package tokenizer

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// goldenRecord is one line of fixtures/goldens/tokenize_<name>.jsonl.
type goldenRecord struct {
	Text           string  `json:"text"`
	IDs            []int32 `json:"ids"`
	IDsWithSpecial []int32 `json:"ids_with_special"`
	Decoded        string  `json:"decoded"`
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Tokenizer{}
)

// tokenizerDir maps a golden file's name to its tokenizer folder.
func tokenizerDir(t testing.TB, name string) string {
	fx := testutil.Fixtures(t)
	if name == "stories260k" {
		return filepath.Join(fx, "models", "stories260k")
	}
	return filepath.Join(fx, "tokenizers", name)
}

// loadNamed loads a fixture tokenizer once per test binary (gemma3's file is
// 33 MB).
func loadNamed(t testing.TB, name string) *Tokenizer {
	t.Helper()
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if tk, ok := loaded[name]; ok {
		return tk
	}
	tk, err := Load(tokenizerDir(t, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	loaded[name] = tk
	return tk
}

// goldenFiles returns tokenizer name -> records for every tokenize golden.
func goldenFiles(t *testing.T) map[string][]goldenRecord {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testutil.Fixtures(t), "goldens", "tokenize_*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no tokenize goldens found: %v", err)
	}
	out := map[string][]goldenRecord{}
	for _, p := range paths {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "tokenize_"), ".jsonl")
		out[name] = readGolden(t, p)
	}
	return out
}

func readGolden(t *testing.T, path string) []goldenRecord {
	return testutil.ReadJSONL[goldenRecord](t, path)
}

func TestGoldens(t *testing.T) {
	for name, recs := range goldenFiles(t) {
		t.Run(name, func(t *testing.T) {
			tk := loadNamed(t, name)
			pass := 0
			for i, r := range recs {
				ok := true
				if got := tk.Encode(r.Text, false); !slices.Equal(got, r.IDs) {
					t.Errorf("record %d %q: ids\n got %v\nwant %v", i, r.Text, got, r.IDs)
					ok = false
				}
				if got := tk.Encode(r.Text, true); !slices.Equal(got, r.IDsWithSpecial) {
					t.Errorf("record %d %q: ids_with_special\n got %v\nwant %v", i, r.Text, got, r.IDsWithSpecial)
					ok = false
				}
				if got := tk.Decode(r.IDs, false); got != r.Decoded {
					t.Errorf("record %d %q: decoded %q, want %q", i, r.Text, got, r.Decoded)
					ok = false
				}
				if ok {
					pass++
				}
			}
			t.Logf("%s: %d/%d records pass", name, pass, len(recs))
		})
	}
}

// TestConcurrentEncode encodes the goldens from several goroutines at once
// (the word cache is shared); run with -race to check the locking.
func TestConcurrentEncode(t *testing.T) {
	recs := goldenFiles(t)["qwen3"]
	tk := loadNamed(t, "qwen3")
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(recs))
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := range recs {
				r := recs[(i+g*7)%len(recs)]
				if got := tk.Encode(r.Text, false); !slices.Equal(got, r.IDs) {
					errs <- r.Text
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for text := range errs {
		t.Errorf("concurrent Encode(%q) differs from the golden", text)
	}
}
