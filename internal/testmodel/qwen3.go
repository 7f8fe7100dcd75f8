package testmodel

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// qwen3Vocab is the embedding width of Qwen3 checkpoints (151,669 tokens
// padded).
const qwen3Vocab = 151936

// Qwen3Tiny writes dir/name: the tiny random-weight qwen3 fixture (hidden
// 64, 2 layers) widened to Qwen3's real tokenizer, vocabulary (151,936) and
// chat template (<think> reasoning, <tool_call> JSON calls), so tests reach
// a 150k-token vocabulary and a real tool-calling template in milliseconds
// per token. It returns the folder.
func Qwen3Tiny(t testing.TB, dir, name string) string {
	t.Helper()
	return Tiny(t, dir, name, filepath.Join(testutil.Fixtures(t), "tokenizers", "qwen3"), qwen3Vocab, []int{151645, 151643})
}

// Tiny writes dir/name: the tiny random-weight qwen3 fixture widened to
// the tokenizer in tokDir (tokenizer.json, tokenizer_config.json), vocab
// ids wide, ending with eos. The new embedding rows are seeded uniform
// noise (±0.35, about the fixture's std 0.2). It returns the folder.
func Tiny(t testing.TB, dir, name, tokDir string, vocab int, eos []int) string {
	t.Helper()
	fx := testutil.Fixtures(t)
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		testutil.CopyFile(t, filepath.Join(tokDir, f), filepath.Join(dst, f))
	}
	var cfg map[string]any
	readJSON(t, filepath.Join(fx, "models", "qwen3", "config.json"), &cfg)
	cfg["vocab_size"], cfg["eos_token_id"] = vocab, eos[0]
	cfg["max_position_embeddings"] = 4096
	writeJSON(t, filepath.Join(dst, "config.json"), cfg)
	writeJSON(t, filepath.Join(dst, "generation_config.json"), map[string]any{"eos_token_id": eos})
	widenEmbedding(t, filepath.Join(fx, "models", "qwen3", "model.safetensors"), filepath.Join(dst, "model.safetensors"), vocab)
	return dst
}

// tensor is one safetensors entry.
type tensor struct {
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
	data    []byte
}

// widenEmbedding copies a float32 safetensors file, replacing
// model.embed_tokens.weight by a [vocab, hidden] one.
func widenEmbedding(t testing.TB, src, dst string, vocab int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	body := b[8+n:]
	tensors := map[string]*tensor{}
	for k, raw := range header {
		if k == "__metadata__" {
			continue
		}
		var tt tensor
		if err := json.Unmarshal(raw, &tt); err != nil {
			t.Fatal(err)
		}
		tt.data = body[tt.Offsets[0]:tt.Offsets[1]]
		tensors[k] = &tt
	}
	emb := tensors["model.embed_tokens.weight"]
	hidden := emb.Shape[1]
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4*vocab*hidden)
	for i := 0; i < len(data); i += 4 {
		binary.LittleEndian.PutUint32(data[i:], math.Float32bits(float32(rng.Float64()*0.7-0.35)))
	}
	emb.Shape, emb.data = []int{vocab, hidden}, data
	writeSafetensors(t, dst, tensors)
}

func writeSafetensors(t testing.TB, path string, tensors map[string]*tensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	var off int64
	for _, k := range names {
		tt := tensors[k]
		tt.Offsets = [2]int64{off, off + int64(len(tt.data))}
		off += int64(len(tt.data))
	}
	h, err := json.Marshal(tensors)
	if err != nil {
		t.Fatal(err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = binary.Write(f, binary.LittleEndian, uint64(len(h)))
	if err == nil {
		_, err = f.Write(h)
	}
	for _, k := range names {
		if err == nil {
			_, err = f.Write(tensors[k].data)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
