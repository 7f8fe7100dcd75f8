package library_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/library"
)

// TestVerdictMatchesEngine checks that the library calls a folder supported
// exactly when the engine loads it and can tokenize for it: every model
// fixture (shared and the repository's, as found, and each again with a
// tokenizer beside it) and broken folders made from them. The library's
// verdict is read through Library.Scan (what lmx ls and the app show) with
// the engine's architecture list; the engine's through engine.Load.
func TestVerdictMatchesEngine(t *testing.T) {
	mlxtest.Require(t)
	root := t.TempDir()
	cases := map[string]string{} // folder → what it is
	for _, fx := range testutil.ModelFixtures(t) {
		name := filepath.Base(filepath.Dir(filepath.Dir(fx))) + "-" + filepath.Base(fx)
		cases[linkFolder(t, fx, filepath.Join(root, "as-is", name), false)] = "fixture " + fx
		cases[linkFolder(t, fx, filepath.Join(root, "tokenized", name), true)] = "fixture " + fx + " with a tokenizer"
	}
	llama := fixture(t, "llama")
	broken := func(name, what string, edit func(dir string)) {
		dir := copyFolder(t, llama, filepath.Join(root, "broken", name))
		edit(dir)
		cases[dir] = what
	}
	broken("missing-shard", "the index names a shard that is not there", func(dir string) {
		writeIndex(t, dir, map[string]string{"model.embed_tokens.weight": "model-00002-of-00002.safetensors"}, "model.safetensors")
	})
	broken("bad-index", "the index is not JSON", func(dir string) {
		write(t, filepath.Join(dir, "model.safetensors.index.json"), `{"weight_map": {`)
	})
	broken("index-escapes", "the index names a shard outside the folder", func(dir string) {
		writeIndex(t, dir, map[string]string{"model.embed_tokens.weight": "../model.safetensors"}, "")
	})
	broken("index-wrong-shard", "the index places a tensor in a shard without it", func(dir string) {
		writeIndex(t, dir, map[string]string{"no.such.tensor": "model.safetensors"}, "model.safetensors")
	})
	broken("corrupt-header", "the safetensors header length is garbage", func(dir string) {
		corrupt(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b, 1<<40)
			return b
		})
	})
	broken("header-not-json", "the safetensors header is not JSON", func(dir string) {
		corrupt(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte { b[8] = '['; return b })
	})
	broken("truncated", "the weights are cut short", func(dir string) {
		corrupt(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte { return b[:len(b)-100] })
	})
	broken("no-weights", "no safetensors file", func(dir string) {
		os.Remove(filepath.Join(dir, "model.safetensors"))
	})
	broken("unknown-architecture", "model_type bert", func(dir string) {
		editConfig(t, dir, func(c map[string]any) { c["model_type"] = "bert" })
	})
	broken("no-model-type", "config.json without model_type", func(dir string) {
		editConfig(t, dir, func(c map[string]any) { delete(c, "model_type") })
	})
	broken("config-not-json", "config.json is not JSON", func(dir string) {
		write(t, filepath.Join(dir, "config.json"), "{")
	})
	broken("bad-quantization", "a quantization block with 7 bits", func(dir string) {
		editConfig(t, dir, func(c map[string]any) { c["quantization"] = map[string]any{"bits": 7, "group_size": 64} })
	})
	broken("quantization-without-scales", "a quantization block over float weights (no scales)", func(dir string) {
		editConfig(t, dir, func(c map[string]any) { c["quantization"] = map[string]any{"bits": 4, "group_size": 64} })
	})
	broken("bad-generation-config", "generation_config.json is not JSON", func(dir string) {
		write(t, filepath.Join(dir, "generation_config.json"), "{")
	})
	broken("no-tokenizer", "no tokenizer.json", func(dir string) {
		os.Remove(filepath.Join(dir, "tokenizer.json"))
	})
	quantized := filepath.Join(root, "q4")
	if _, err := convert.Convert(context.Background(), llama, quantized, convert.Options{Quantize: true, Bits: 4, GroupSize: 32}); err != nil {
		t.Fatal(err)
	}
	qbroken := func(name, what string, edit func(dir string)) {
		dir := copyFolder(t, quantized, filepath.Join(root, "broken", name))
		edit(dir)
		cases[dir] = what
	}
	qbroken("quantized", "a 4-bit conversion", func(string) {})
	qbroken("scales-dropped", "packed 4-bit weights whose scales are gone", func(dir string) {
		dropTensors(t, filepath.Join(dir, "model.safetensors"), func(name string) bool { return strings.HasSuffix(name, ".scales") })
		writeIndex(t, dir, nil, "model.safetensors") // the index lists what is left
	})
	qbroken("scales-without-config", "4-bit weights with the quantization block removed", func(dir string) {
		editConfig(t, dir, func(c map[string]any) { delete(c, "quantization"); delete(c, "quantization_config") })
	})
	qbroken("wrong-group-size", "4-bit group-32 weights under a group-64 config", func(dir string) {
		editConfig(t, dir, func(c map[string]any) {
			c["quantization"] = map[string]any{"bits": 4, "group_size": 64}
			delete(c, "quantization_config")
		})
	})

	lib := library.Library{Cache: library.Cache{Dir: t.TempDir(), Architectures: arch.Supported()}, Folders: []string{root}}
	found, err := lib.Scan()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]library.Model{}
	for _, m := range found {
		byPath[m.Path] = m
	}
	dirs := make([]string, 0, len(cases))
	for dir := range cases {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	supported := 0
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			m, ok := byPath[dir]
			if !ok {
				t.Fatalf("the scan did not list %s (%s)", dir, cases[dir])
			}
			loadErr := engineLoads(t, dir)
			t.Logf("%s: library supported=%v %q; engine: %v", cases[dir], m.Supported, m.Reason, loadErr)
			if m.Supported != (loadErr == nil) {
				t.Errorf("%s: library says supported=%v (%s) but the engine's load gives %v", cases[dir], m.Supported, m.Reason, loadErr)
			}
			if m.Supported {
				supported++
			}
		})
	}
	if supported == 0 || supported == len(dirs) {
		t.Errorf("%d of %d folders supported: the cases do not exercise both verdicts", supported, len(dirs))
	}
}

// engineLoads loads dir with engine.Load and asks for its tokenizer (the
// library's "supported" means the app can chat with it); nil when both work.
func engineLoads(t *testing.T, dir string) error {
	ctx := context.Background()
	m, err := engine.Load(ctx, dir, engine.Options{})
	if err != nil {
		return err
	}
	defer m.Close(ctx)
	_, err = m.Tokenizer()
	return err
}

// fixture returns a model fixture folder by name.
func fixture(t *testing.T, name string) string {
	for _, dir := range testutil.ModelFixtures(t) {
		if filepath.Base(dir) == name {
			return dir
		}
	}
	t.Fatalf("no fixture %q", name)
	return ""
}

// linkFolder makes dst a folder of links to src's files, plus stories260k's
// tokenizer files where src has none and withTokenizer is set.
func linkFolder(t *testing.T, src, dst string, withTokenizer bool) string {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	if withTokenizer {
		for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
			if _, err := os.Stat(filepath.Join(src, f)); err != nil {
				files = append(files, filepath.Join(fixture(t, "stories260k"), f))
			}
		}
	}
	for _, f := range files {
		if err := os.Symlink(f, filepath.Join(dst, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// copyFolder copies src's files into dst (with stories260k's tokenizer
// when src has none), so that a case can edit them.
func copyFolder(t *testing.T, src, dst string) string {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			files = append(files, filepath.Join(fixture(t, "stories260k"), f))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dst, filepath.Base(f)), string(b))
	}
	return dst
}

func write(t *testing.T, path, data string) {
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeIndex writes a shard index mapping the given tensors, plus every
// tensor of the folder's model.safetensors to keep (when keep is set).
func writeIndex(t *testing.T, dir string, extra map[string]string, keep string) {
	weightMap := map[string]string{}
	if keep != "" {
		for name := range readHeader(t, filepath.Join(dir, keep)) {
			if name != "__metadata__" {
				weightMap[name] = keep
			}
		}
	}
	for k, v := range extra {
		weightMap[k] = v
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	write(t, filepath.Join(dir, "model.safetensors.index.json"), string(b))
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	b, _ = json.MarshalIndent(c, "", "  ")
	write(t, path, string(b))
}

func corrupt(t *testing.T, path string, edit func([]byte) []byte) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(edit(b)))
}

// readHeader returns the raw JSON entries of a safetensors header.
func readHeader(t *testing.T, path string) map[string]json.RawMessage {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// dropTensors rewrites a safetensors file without the tensors drop picks.
func dropTensors(t *testing.T, path string, drop func(string) bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	data := b[8+n:]
	header := map[string]json.RawMessage{}
	var out []byte
	for name, raw := range readHeader(t, path) {
		if name == "__metadata__" {
			header[name] = raw
			continue
		}
		if drop(name) {
			continue
		}
		var ti struct {
			Dtype   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &ti); err != nil {
			t.Fatal(err)
		}
		chunk := data[ti.Offsets[0]:ti.Offsets[1]]
		ti.Offsets = [2]int64{int64(len(out)), int64(len(out) + len(chunk))}
		out = append(out, chunk...)
		header[name], _ = json.Marshal(ti)
	}
	hj, _ := json.Marshal(header)
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	file = append(append(file, hj...), out...)
	write(t, path, string(file))
}
