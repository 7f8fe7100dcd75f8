package gguf

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"
)

// sizes returns the size keys every family needs, for arch.
func sizes(arch string, layers, hidden, heads int64) map[string]any {
	return map[string]any{
		"general.architecture": arch, arch + ".block_count": layers, arch + ".embedding_length": hidden,
		arch + ".feed_forward_length": 4 * hidden, arch + ".attention.head_count": heads,
		arch + ".attention.head_count_kv": heads / 2, arch + ".context_length": int64(4096),
		arch + ".attention.layer_norm_rms_epsilon": float64(float32(1e-6)),
	}
}

// plus returns md with extra keys.
func plus(md map[string]any, extra map[string]any) map[string]any {
	m := maps.Clone(md)
	maps.Copy(m, extra)
	return m
}

// TestFamilyConfig maps the metadata llama.cpp's converters write (and
// the settings its loader hardcodes) to config.json fields, and refuses
// what the engine cannot run.
func TestFamilyConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		md   map[string]any
		want map[string]any // fields config.json must hold
		err  string
	}{
		{"qwen2 yarn", plus(sizes("qwen2", 2, 64, 4), map[string]any{"qwen2.rope.scaling.type": "yarn",
			"qwen2.rope.scaling.factor": 4.0, "qwen2.rope.scaling.original_context_length": int64(32768)}),
			map[string]any{"head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": map[string]any{
				"type": "yarn", "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}, ""},
		{"gemma3 27B, linear scaling, no window", plus(sizes("gemma3", 62, 5376, 32), map[string]any{
			"gemma3.attention.key_length": int64(128), "gemma3.rope.freq_base": 1e6,
			"gemma3.rope.scaling.type": "linear", "gemma3.rope.scaling.factor": 8.0}),
			map[string]any{"head_dim": 128, "query_pre_attn_scalar": 168, "sliding_window_pattern": 1,
				"rope_local_base_freq": 10000.0, "rope_theta": 1e6,
				"rope_scaling": map[string]any{"type": "linear", "rope_type": "linear", "factor": 8.0}}, ""},
		{"gemma3 1B", plus(sizes("gemma3", 26, 1152, 4), map[string]any{"gemma3.attention.key_length": int64(256),
			"gemma3.attention.sliding_window": int64(512)}),
			map[string]any{"query_pre_attn_scalar": 256, "sliding_window": 512, "sliding_window_pattern": 6}, ""},
		{"phi3 partial rope", plus(sizes("phi3", 2, 64, 4), map[string]any{"phi3.rope.dimension_count": int64(12),
			"phi3.attention.key_length": int64(32)}),
			map[string]any{"head_dim": 16, "partial_rotary_factor": 0.75, "original_max_position_embeddings": 4096}, ""},
		{"llama old linear key", plus(sizes("llama", 2, 64, 4), map[string]any{"llama.rope.scale_linear": 2.0}),
			map[string]any{"rope_scaling": map[string]any{"type": "linear", "rope_type": "linear", "factor": 2.0}}, ""},
		{"llama partial rope", plus(sizes("llama", 2, 64, 4), map[string]any{"llama.rope.dimension_count": int64(8)}),
			nil, "rope over 8 of 16 head dimensions"},
		{"llama unknown scaling", plus(sizes("llama", 2, 64, 4), map[string]any{"llama.rope.scaling.type": "longrope"}),
			nil, `rope scaling "longrope" in a llama model`},
		{"heads per layer", plus(sizes("llama", 2, 64, 4), map[string]any{"llama.attention.head_count": []int64{4, 8}}),
			nil, `"llama.attention.head_count" varies per layer`},
		{"gemma3 softcapping", plus(sizes("gemma3", 2, 64, 4), map[string]any{"gemma3.final_logit_softcapping": 30.0}),
			nil, "final_logit_softcapping 30"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configOf(&File{Path: "m.gguf", Metadata: tt.md})
			if tt.err != "" {
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "m.gguf") {
					t.Fatalf("got %v, want an unsupported error naming m.gguf and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if !reflect.DeepEqual(cfg[k], want) {
					t.Errorf("%s = %#v, want %#v", k, cfg[k], want)
				}
			}
		})
	}
}

// configOf builds the config of a file's metadata.
func configOf(f *File) (map[string]any, error) {
	name, fam, err := lookupFamily(f)
	if err != nil {
		return nil, err
	}
	m := meta{f: f, arch: name}
	h, err := readHParams(m)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig(fam, h, 100, true, "float32")
	return cfg, familyConfig(name, m, h, cfg)
}

// TestPhi3LongRope reads Phi-3 128k's rope_factors_long/short tensors into
// a longrope rope_scaling.
func TestPhi3LongRope(t *testing.T) {
	long, short := []float32{1, 1.5, 2.25}, []float32{1, 1.25, 1.0625}
	b := header3(2, 0)
	b.tensorInfo("rope_factors_long.weight", TypeF32, 0, 3).tensorInfo("rope_factors_short.weight", TypeF32, 32, 3).pad()
	for _, vs := range [][]float32{long, short} {
		for _, v := range vs {
			binary.Write(&b.Buffer, binary.LittleEndian, math.Float32bits(v))
		}
		b.Write(make([]byte, 32-12))
	}
	f := mustOpen(t, b.write(t, t.TempDir(), "phi3.gguf"))
	f.Metadata = plus(sizes("phi3", 2, 48, 4), map[string]any{"phi3.rope.dimension_count": int64(6),
		"phi3.context_length": int64(131072), "phi3.rope.scaling.original_context_length": int64(4096)})
	cfg, err := configOf(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "longrope", "rope_type": "longrope",
		"long_factor": []float64{1, 1.5, 2.25}, "short_factor": []float64{1, 1.25, 1.0625}}
	if !reflect.DeepEqual(cfg["rope_scaling"], want) || cfg["original_max_position_embeddings"] != 4096 ||
		cfg["max_position_embeddings"] != 131072 || cfg["partial_rotary_factor"] != 0.5 {
		t.Fatalf("rope_scaling %v, original %v, max %v, partial %v", cfg["rope_scaling"],
			cfg["original_max_position_embeddings"], cfg["max_position_embeddings"], cfg["partial_rotary_factor"])
	}
}

// TestEOGTokenIDs lists as EOS ids the tokens llama.cpp ends generation at
// (llama_vocab_is_eog), eos first: the ids the metadata names, the FIM
// pad/repo/separator tokens it does not name, found by their text, and
// every end-of-generation text. The Gemma and SmolLM2 vocabularies below
// hold the tokens llama.cpp reports as EOG for the 270M and demo GGUFs.
func TestEOGTokenIDs(t *testing.T) {
	for _, tt := range []struct {
		name string
		md   map[string]any
		want any
	}{
		{"gemma", map[string]any{"tokenizer.ggml.eos_token_id": int64(1),
			"tokenizer.ggml.tokens": []string{"<pad>", "<eos>", "<bos>", "</s>", "<end_of_turn>", "<start_of_turn>"}},
			[]int{1, 3, 4}},
		{"smollm2", map[string]any{"tokenizer.ggml.eos_token_id": int64(2),
			"tokenizer.ggml.tokens": []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>"}},
			[]int{2, 0, 4}},
		{"named FIM token", map[string]any{"tokenizer.ggml.eos_token_id": int64(0), "tokenizer.ggml.fim_rep_token_id": int64(2),
			"tokenizer.ggml.tokens": []string{"<|im_end|>", "<|fim_pad|>", "<x>", "<|repo_name|>"}},
			[]int{0, 2, 1}},
		{"eos only", map[string]any{"tokenizer.ggml.eos_token_id": int64(1),
			"tokenizer.ggml.tokens": []string{"a", "b"}}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, gen := map[string]any{}, map[string]any{}
			if err := tokenIDs(meta{f: &File{Metadata: tt.md}}, cfg, gen); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gen["eos_token_id"], tt.want) || cfg["eos_token_id"] != int(tt.md["tokenizer.ggml.eos_token_id"].(int64)) {
				t.Errorf("generation_config eos_token_id %v, config.json %v; want %v, and the eos id", gen["eos_token_id"], cfg["eos_token_id"], tt.want)
			}
		})
	}
}
