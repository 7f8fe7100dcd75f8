package checkpoint

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

func fixtureModel(t *testing.T, name string) string {
	return filepath.Join(testutil.Fixtures(t), "models", name)
}

func TestReadHeaderFixture(t *testing.T) {
	h, err := ReadHeader(filepath.Join(fixtureModel(t, "llama"), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	emb, ok := h.Tensors["model.embed_tokens.weight"]
	if !ok || emb.Dtype != "F32" || len(emb.Shape) != 2 || emb.Shape[0] != 384 || emb.Shape[1] != 64 {
		t.Errorf("embed_tokens: %+v %v", emb, ok)
	}
}

// copyTruncated writes the first n bytes of src (n < 0: all but -n) to dst.
func copyTruncated(t *testing.T, src, dst string, n int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		n = len(data) + n
	}
	if err := os.WriteFile(dst, data[:n], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadHeaderCorrupt(t *testing.T) {
	src := filepath.Join(fixtureModel(t, "llama"), "model.safetensors")
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, 1<<40)
	tests := []struct {
		name  string
		write func(path string)
		want  string
	}{
		{"truncated data", func(p string) { copyTruncated(t, src, p, -100) }, "truncated"},
		{"truncated header", func(p string) { copyTruncated(t, src, p, 20) }, "header length"},
		{"tiny", func(p string) { copyTruncated(t, src, p, 4) }, "shorter than"},
		{"huge length", func(p string) { os.WriteFile(p, hugeLen, 0o644) }, "header length"},
		{"not json", func(p string) {
			b := make([]byte, 8, 12)
			binary.LittleEndian.PutUint64(b, 4)
			os.WriteFile(p, append(b, "{{{{"...), 0o644)
		}, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "model.safetensors")
			tt.write(p)
			_, err := ReadHeader(p)
			if !errors.Is(err, ErrCorruptWeights) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("err %v: want ErrCorruptWeights mentioning %q and the path", err, tt.want)
			}
		})
	}
}

func TestWeightHeadersShards(t *testing.T) {
	src := filepath.Join(fixtureModel(t, "llama"), "model.safetensors")
	dir := t.TempDir()
	copyTruncated(t, src, filepath.Join(dir, "model-00001-of-00002.safetensors"), mustSize(t, src))
	index := `{"weight_map":{"model.embed_tokens.weight":"model-00001-of-00002.safetensors","lm_head.weight":"model-00002-of-00002.safetensors"}}`
	os.WriteFile(filepath.Join(dir, indexFile), []byte(index), 0o644)
	_, err := WeightHeaders(dir)
	if !errors.Is(err, ErrMissingShard) || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") {
		t.Fatalf("missing shard: err %v", err)
	}
	copyTruncated(t, src, filepath.Join(dir, "model-00002-of-00002.safetensors"), mustSize(t, src))
	hs, err := WeightHeaders(dir)
	if err != nil || len(hs) != 2 {
		t.Fatalf("both shards: %v %d", err, len(hs))
	}
	os.WriteFile(filepath.Join(dir, indexFile), []byte(`{"weight_map":{"nope.weight":"model-00001-of-00002.safetensors"}}`), 0o644)
	if _, err := WeightHeaders(dir); !errors.Is(err, ErrMissingShard) || !strings.Contains(err.Error(), "nope.weight") {
		t.Errorf("tensor not in shard: err %v", err)
	}
}

func TestWeightHeadersGlob(t *testing.T) {
	hs, err := WeightHeaders(fixtureModel(t, "qwen3"))
	if err != nil || len(hs) != 1 || filepath.Base(hs[0].Path) != "model.safetensors" {
		t.Fatalf("glob should pick model.safetensors only (not reference.safetensors): %v", err)
	}
	if _, err := WeightHeaders(t.TempDir()); !errors.Is(err, ErrNoWeights) {
		t.Errorf("empty dir: %v", err)
	}
}

func mustSize(t *testing.T, path string) int {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Size())
}
