package gguf

import (
	"context"
	"reflect"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestImportDemoModel imports the demo chat model (SmolLM2-135M-Instruct,
// Q4_1 with a Q8_0 tied embedding) and checks the config, every tensor's
// dtype and shape, that the engine loads the folder with its tokenizer, and
// that the re-packed model's logits equal those of the same file imported
// with every weight dequantized.
func TestImportDemoModel(t *testing.T) {
	path := testutil.DemoGGUF(t)
	dir := importTo(t, path, Options{})
	cfg := readConfig(t, dir)
	for k, want := range map[string]any{
		"model_type": "llama", "hidden_size": 576.0, "intermediate_size": 1536.0, "num_hidden_layers": 30.0,
		"num_attention_heads": 9.0, "num_key_value_heads": 3.0, "head_dim": 64.0, "vocab_size": 49152.0,
		"max_position_embeddings": 8192.0, "rope_theta": 100000.0, "rms_norm_eps": 1e-5,
		"tie_word_embeddings": true, "bos_token_id": 1.0, "eos_token_id": 2.0,
	} {
		if !reflect.DeepEqual(cfg[k], want) {
			t.Errorf("config.json %s = %v, want %v", k, cfg[k], want)
		}
	}
	checkQuantConfig(t, cfg, 4, map[string]any{"model.embed_tokens": map[string]any{"group_size": 32.0, "bits": 8.0}})
	checkDemoTensors(t, dir)

	m, err := engine.Load(context.Background(), dir, engine.Options{})
	if err != nil {
		t.Fatalf("engine.Load: %v", err)
	}
	m.Close(context.Background())

	ids := [][]int32{{1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173}}
	got := modelLogits(t, dir, ids)
	want := modelLogits(t, importTo(t, path, Options{Dequantize: true}), ids)
	if e := relErr(t, "demo logits", got[0], want[0]); e > 1e-4 {
		t.Errorf("quantized import's logits differ from the dequantized import's by %.2g, want ≤ 1e-4", e)
	}
}

// checkDemoTensors checks the dtype and shape of every tensor kind of the
// imported demo model, and that it has no lm_head (tied embeddings).
func checkDemoTensors(t *testing.T, dir string) {
	t.Helper()
	hs, err := model.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]model.TensorInfo{}
	for _, h := range hs {
		for n, ti := range h.Tensors {
			got[n] = ti
		}
	}
	// 30 layers × (2 norms + 7 linear modules × 3) + embedding × 3 + final norm.
	if len(got) != 30*(2+7*3)+3+1 {
		t.Errorf("%d tensors, want %d", len(got), 30*(2+7*3)+3+1)
	}
	for name, want := range map[string]model.TensorInfo{
		"model.embed_tokens.weight":                       {Dtype: "U32", Shape: []int{49152, 144}},
		"model.embed_tokens.scales":                       {Dtype: "F32", Shape: []int{49152, 18}},
		"model.embed_tokens.biases":                       {Dtype: "F32", Shape: []int{49152, 18}},
		"model.layers.0.self_attn.q_proj.weight":          {Dtype: "U32", Shape: []int{576, 72}},
		"model.layers.0.self_attn.k_proj.weight":          {Dtype: "U32", Shape: []int{192, 72}},
		"model.layers.0.self_attn.k_proj.scales":          {Dtype: "F32", Shape: []int{192, 18}},
		"model.layers.29.mlp.down_proj.weight":            {Dtype: "U32", Shape: []int{576, 192}},
		"model.layers.29.mlp.down_proj.biases":            {Dtype: "F32", Shape: []int{576, 48}},
		"model.layers.29.post_attention_layernorm.weight": {Dtype: "F32", Shape: []int{576}},
		"model.norm.weight":                               {Dtype: "F32", Shape: []int{576}},
	} {
		if g, ok := got[name]; !ok || g.Dtype != want.Dtype || !reflect.DeepEqual(g.Shape, want.Shape) {
			t.Errorf("%s: %s %v, want %s %v (present: %v)", name, g.Dtype, g.Shape, want.Dtype, want.Shape, ok)
		}
	}
	if _, ok := got["lm_head.weight"]; ok {
		t.Error("lm_head.weight written for tied embeddings")
	}
}
