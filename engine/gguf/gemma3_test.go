package gguf

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/internal/testutil"
)

// The Gemma 3 270M tests run only with LMX_TEST_GEMMA3=1 (make
// test-gemma3): testutil.Gemma3GGUF skips them otherwise.

// TestGemma3Import imports Gemma 3 270M (Q4_K_M: Q5_0, Q4_K, Q8_0 and Q6_K
// weights) and checks the config llama.cpp's loader implies, that every
// weight whose groups of 32 are affine stays quantized with its type's bits
// while Q6_K (groups of 16) becomes float, and that the engine loads the
// folder with its tokenizer.
func TestGemma3Import(t *testing.T) {
	path := testutil.Gemma3GGUF(t)
	start := time.Now()
	dir := importTo(t, path, Options{})
	t.Logf("imported in %v", time.Since(start).Round(time.Millisecond))
	cfg := readConfig(t, dir)
	for k, want := range map[string]any{
		"model_type": "gemma3_text", "hidden_size": 640.0, "intermediate_size": 2048.0, "num_hidden_layers": 18.0,
		"num_attention_heads": 4.0, "num_key_value_heads": 1.0, "head_dim": 256.0, "vocab_size": 262144.0,
		"sliding_window": 512.0, "sliding_window_pattern": 6.0, "rope_theta": 1e6, "rope_local_base_freq": 1e4,
		"query_pre_attn_scalar": 256.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true,
		"bos_token_id": 2.0, "eos_token_id": 1.0,
	} {
		if !reflect.DeepEqual(cfg[k], want) {
			t.Errorf("config.json %s = %v, want %v", k, cfg[k], want)
		}
	}
	// llama.cpp ends generation at <eos>, <end_of_turn> and </s> (its
	// llama_vocab_is_eog on this file); the metadata names only <eos>.
	var gen struct {
		EOS []int `json:"eos_token_id"`
	}
	readJSON(t, filepath.Join(dir, "generation_config.json"), &gen)
	if !slices.Equal(gen.EOS, []int{1, 106, 212}) {
		t.Errorf("generation_config.json eos_token_id %v, want [1 106 212]", gen.EOS)
	}
	checkBitsFollowTypes(t, mustOpen(t, path), dir)
	m, err := engine.Load(context.Background(), dir, engine.Options{})
	if err != nil {
		t.Fatalf("engine.Load: %v", err)
	}
	m.Close(context.Background())
}

// typeBits are the MLX bits of each ggml type in the 270M file; 0 is float.
var typeBits = map[Type]int{TypeQ4_K: 4, TypeQ5_0: 5, TypeQ8_0: 8, TypeQ6_K: 0}

// checkBitsFollowTypes checks every quantizable weight of the imported
// folder against its GGUF tensor's type: the quantization config's bits
// for the module and the stored dtype and shape (packed uint32 words, or
// float32). It logs the folder's size.
func checkBitsFollowTypes(t *testing.T, f *File, dir string) {
	t.Helper()
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	stored, size := map[string]model.TensorInfo{}, int64(0)
	hs, err := model.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		for n, ti := range h.Tensors {
			stored[n] = ti
			size += int64(ti.Elements()) * map[string]int64{"U32": 4, "F32": 4}[ti.Dtype]
		}
	}
	t.Logf("weights: %d MB in %d files", size>>20, len(hs))
	fam := families["gemma3"]
	seen := map[Type]int{}
	for _, ti := range f.Tensors {
		mp, _ := fam.hfName(ti.Name, 18)
		if mp.module == "" {
			continue
		}
		bits, ok := typeBits[ti.Type]
		if !ok {
			t.Fatalf("%s: type %s, not one the 270M file is known to hold", ti.Name, ti.Type)
		}
		seen[ti.Type]++
		rows, cols := int(ti.Dims[1]), int(ti.Dims[0])
		p, quantized := cfg.Quantization.For(mp.module)
		want := model.TensorInfo{Dtype: "F32", Shape: []int{rows, cols}}
		if bits > 0 {
			want = model.TensorInfo{Dtype: "U32", Shape: []int{rows, cols * bits / 32}}
		}
		got := stored[mp.module+".weight"]
		if quantized != (bits > 0) || (bits > 0 && (p.Bits != bits || p.GroupSize != 32)) ||
			got.Dtype != want.Dtype || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("%s (%s): config %+v (quantized %v), stored %s %v; want %d bits, %s %v",
				mp.module, ti.Type, p, quantized, got.Dtype, got.Shape, bits, want.Dtype, want.Shape)
		}
	}
	t.Logf("weights by GGUF type: %v", seen)
	if len(seen) != len(typeBits) {
		t.Errorf("the file holds weights of %v, want each of %v", seen, typeBits)
	}
}

// TestGemma3TokenizerMatchesLlamaCpp converts the 270M file's tokenizer (a
// 262k SentencePiece vocabulary with byte fallback and no space prefix)
// and compares it with llama.cpp on the tokenizer test's texts and on
// Gemma 3 chats (each text also decoding back to itself), and with the
// Hugging Face tokenizer's ids in the fixtures' Gemma 3 goldens.
func TestGemma3TokenizerMatchesLlamaCpp(t *testing.T) {
	path := testutil.Gemma3GGUF(t)
	tk, err := tokenizer.Load(convertTokenizer(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("llama.cpp", func(t *testing.T) {
		texts := tokenizerTexts(t)
		for _, s := range renderConversations(t, gemma3Template(t)) {
			texts = append(texts, s, s+"Sure! Here is")
		}
		ref := llamacpp.ForTest(t, llamacpp.Options{Model: path, VocabOnly: true})
		compareWithLlamaCpp(t, tk, ref, texts, true)
	})
	t.Run("transformers", func(t *testing.T) {
		golden := filepath.Join(testutil.Fixtures(t), "goldens", "tokenize_gemma3.jsonl")
		for _, g := range testutil.ReadJSONL[struct {
			Text        string
			IDs         []int32 `json:"ids"`
			WithSpecial []int32 `json:"ids_with_special"`
		}](t, golden) {
			if got := tk.Encode(g.Text, false); !slices.Equal(got, g.IDs) {
				t.Errorf("%q:\n got %v\nwant %v", g.Text, got, g.IDs)
			}
			if got := tk.Encode(g.Text, true); !slices.Equal(got, g.WithSpecial) {
				t.Errorf("%q with BOS:\n got %v\nwant %v", g.Text, got, g.WithSpecial)
			}
		}
	})
}

// gemma3Template is Gemma 3's chat template from the fixtures' Gemma 3
// tokenizer (the 270M base model's GGUF carries none).
func gemma3Template(t *testing.T) *chat.Template {
	tmpl, err := chat.LoadTemplate(filepath.Join(testutil.Fixtures(t), "tokenizers", "gemma3"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
