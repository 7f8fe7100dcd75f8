package tokenizer

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// referenceTexts exercise the components the variants below switch on.
var referenceTexts = []string{
	"", " ", "Hello world", "  Hello   world  ", "line one\nline two\r\n\n  indented",
	"It's 2024; we'LL see 12345 items, ＡＢＣ ﬁne Ⅻ.", "tab\tsep\u00a0nbsp\u3000ideo",
	"Say hello, othello! hello", "a <mask> b<mask>c  <mask>  end", "hot dog dogs",
	"ÉCOLE ça 東京 😀👍🏽", "$$$ ... --- ??? !!!", "x1y22z333", "'s 'S 'd 'Ve", "<s> </s>",
}

// referenceVariants edit stories260k's tokenizer.json (vocab 512 with byte
// fallback, so any split still encodes) to switch on one component each.
var referenceVariants = map[string]func(doc map[string]any){
	"metaspace_always": func(d map[string]any) {
		ms := map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}
		d["normalizer"], d["pre_tokenizer"], d["decoder"] = nil, ms, ms
	},
	"metaspace_first_nosplit": func(d map[string]any) {
		ms := map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
		d["normalizer"], d["pre_tokenizer"], d["decoder"] = nil, ms, ms
	},
	"bytelevel_gpt2": func(d map[string]any) {
		bl := map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
		d["normalizer"], d["pre_tokenizer"], d["decoder"] = nil, bl, bl
	},
	"split_llama3":  splitVariant(map[string]any{"Regex": llama3Pattern}, "Isolated"),
	"split_qwen2":   splitVariant(map[string]any{"Regex": qwen2Pattern}, "Isolated"),
	"split_goregex": splitVariant(map[string]any{"Regex": `\p{N}+|[a-z]+`}, "Isolated"),
	"split_prev":    splitVariant(map[string]any{"String": " "}, "MergedWithPrevious"),
	"split_next":    splitVariant(map[string]any{"String": " "}, "MergedWithNext"),
	"split_contig":  splitVariant(map[string]any{"String": " "}, "Contiguous"),
	"split_removed": splitVariant(map[string]any{"String": " "}, "Removed"),
	"nfkc_lower_regex": func(d map[string]any) {
		d["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "NFKC"}, map[string]any{"type": "Lowercase"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " +"}, "content": "▁"},
			map[string]any{"type": "Prepend", "prepend": "▁"}}}
	},
	"added_flags": func(d map[string]any) {
		d["added_tokens"] = append(d["added_tokens"].([]any),
			addedJSON(514, "<mask>", map[string]bool{"lstrip": true, "rstrip": true, "special": true}),
			addedJSON(515, "hello", map[string]bool{"single_word": true, "normalized": true}),
			addedJSON(516, "dog", map[string]bool{"normalized": true}))
	},
	"no_decoder_eos": func(d map[string]any) {
		d["decoder"] = nil
		d["post_processor"] = map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "</s>", "type_id": 0}}},
			"pair":           []any{},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{512}, "tokens": []string{"<s>"}}, "</s>": map[string]any{"id": "</s>", "ids": []int{513}, "tokens": []string{"</s>"}}}}
	},
}

func splitVariant(pattern map[string]any, behavior string) func(map[string]any) {
	return func(d map[string]any) {
		d["normalizer"] = nil
		d["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": pattern, "behavior": behavior, "invert": false}
	}
}

func addedJSON(id int, content string, flags map[string]bool) map[string]any {
	m := map[string]any{"id": id, "content": content}
	for _, k := range []string{"single_word", "lstrip", "rstrip", "normalized", "special"} {
		m[k] = flags[k]
	}
	return m
}

// TestMatchesTokenizersLibrary runs the Hugging Face tokenizers library on
// tokenizer variants that the fixture files do not cover and compares.
func TestMatchesTokenizersLibrary(t *testing.T) {
	py := referencePython(t)
	job := map[string]any{"texts": referenceTexts}
	paths := map[string]string{}
	for name, edit := range referenceVariants {
		paths[name] = filepath.Join(writeVariant(t, edit), "tokenizer.json")
	}
	job["tokenizers"] = paths
	want := runReference(t, py, job)
	for name := range referenceVariants {
		t.Run(name, func(t *testing.T) {
			tk, err := Load(filepath.Dir(paths[name]))
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range referenceTexts {
				compareRecord(t, tk, text, want[name][i])
			}
		})
	}
}

func compareRecord(t *testing.T, tk *Tokenizer, text string, want goldenRecord) {
	t.Helper()
	if got := tk.Encode(text, false); !slices.Equal(got, want.IDs) {
		t.Errorf("%q: ids\n got %v\nwant %v", text, got, want.IDs)
	}
	if got := tk.Encode(text, true); !slices.Equal(got, want.IDsWithSpecial) {
		t.Errorf("%q: ids_with_special\n got %v\nwant %v", text, got, want.IDsWithSpecial)
	}
	if got := tk.Decode(want.IDs, false); got != want.Decoded {
		t.Errorf("%q: decoded %q, want %q", text, got, want.Decoded)
	}
	if got := streamAll(tk, want.IDs, false); got != want.Decoded {
		t.Errorf("%q: streamed %q, want %q", text, got, want.Decoded)
	}
}

// referencePython returns the venv's interpreter if it has tokenizers;
// otherwise the test skips, or fails under LMX_REQUIRE_PY=1.
func referencePython(t *testing.T) string {
	py := testutil.Python(t)
	if py != "" && exec.Command(py, "-c", "import tokenizers").Run() == nil {
		return py
	}
	testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python with tokenizers in .venv or $LMX_PYTHON (build/setup.sh py)")
	return ""
}

func runReference(t *testing.T, py string, job map[string]any) map[string][]goldenRecord {
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/reference.py", path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference.py: %v", err)
	}
	var res map[string][]goldenRecord
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("reference.py output: %v", err)
	}
	return res
}
