package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// greedy decodes n tokens after prompt from the folder dir through the
// engine facade, ignoring EOS.
func greedy(t *testing.T, dir string, prompt []int32, n int) []int32 {
	t.Helper()
	ctx := context.Background()
	m, err := engine.Load(ctx, dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	res, err := m.Generate(ctx, engine.Request{Request: generate.Request{Prompt: prompt, MaxTokens: n}, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Tokens
}

// TestEightBitStoriesGreedy decodes the stories260k prompt greedily from an
// 8-bit conversion: the fixtures' 20-token horizon must equal float decoding,
// and the whole 64-token reference length must equal mlx_lm's greedy tokens
// on mlx_lm's own 8-bit conversion (where 8-bit rounding flips a near-tie,
// it must flip it the same way).
func TestEightBitStoriesGreedy(t *testing.T) {
	mlxtest.Require(t)
	const horizon = 20
	src := fixture(t, "stories260k")
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	prompt, want := ints(t, ref, "prompt_ids"), ints(t, ref, "prompt_greedy")
	dst, _ := convert(t, src, Options{Quantize: true, Bits: 8, GroupSize: 64})
	float := greedy(t, src, prompt, len(want))
	if !slices.Equal(float, want) {
		t.Fatalf("float greedy %v differs from the reference %v", float, want)
	}
	got := greedy(t, dst, prompt, len(want))
	first := len(got)
	for i := range got {
		if got[i] != float[i] {
			first = i
			break
		}
	}
	t.Logf("8-bit greedy equals float for %d of %d tokens", first, len(want))
	if first < horizon {
		t.Errorf("8-bit greedy differs from float at token %d:\n%v\n%v", first, got, float)
	}
	mlxDir := mlxLMConvert(t, src, "-q", "--q-bits", "8", "--q-group-size", "64")
	out := filepath.Join(t.TempDir(), "mlx_lm.safetensors")
	if err := python(t).Logits(context.Background(), mlxDir, out, len(want), prompt); err != nil {
		t.Fatal(err)
	}
	if mlx := ints(t, reference(t, out), "greedy_0"); !slices.Equal(got, mlx) {
		t.Errorf("LMX 8-bit greedy\n%v\ndiffers from mlx_lm's on its own conversion\n%v", got, mlx)
	}
}

// mlxLMConvert runs mlx_lm's converter on src with args and returns the
// output folder.
func mlxLMConvert(t *testing.T, src string, args ...string) string {
	t.Helper()
	py := python(t)
	dst := filepath.Join(t.TempDir(), "mlx_lm")
	cmd := exec.Command(py.Interpreter, append([]string{"-m", "mlx_lm", "convert", "--hf-path", src, "--mlx-path", dst}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mlx_lm convert: %v\n%s", err, out)
	}
	return dst
}

// TestTensorsMatchMLXLMConvert compares every tensor LMX writes with what
// mlx_lm's own converter writes for the same checkpoint and settings.
func TestTensorsMatchMLXLMConvert(t *testing.T) {
	mlxtest.Require(t)
	qwen35 := func(cfg map[string]any) { cfg["model_type"] = "qwen3_5" } // mlx_lm has no qwen3_5_text
	for _, tt := range []struct {
		model string
		opts  Options
		args  []string
		// edit, when set, rewrites the config first: mlx_lm's ModelArgs of
		// some architectures require transformers 4's rope fields.
		edit func(map[string]any)
	}{
		{"stories260k", Options{Quantize: true, Bits: 4, GroupSize: 32}, []string{"-q", "--q-bits", "4", "--q-group-size", "32"}, nil},
		{"phi3", Options{Quantize: true, Bits: 8, GroupSize: 64, Dtype: "bfloat16"}, []string{"-q", "--q-bits", "8", "--dtype", "bfloat16"}, nil},
		// bfloat16 casts where mlx_lm's cast_predicate leaves tensors in
		// their float32: the routers' e_score_correction_bias (GLM-4 MoE,
		// DeepSeek-V3) and Qwen3.5's A_log; Qwen3-Next's A_log mlx_lm casts.
		{"glm4_moe_h60", Options{Dtype: "bfloat16"}, []string{"--dtype", "bfloat16"}, toTransformers4},
		{"deepseek_v3_h48", Options{Dtype: "bfloat16"}, []string{"--dtype", "bfloat16"}, nil},
		{"qwen3_5_h64", Options{Dtype: "bfloat16"}, []string{"--dtype", "bfloat16"}, qwen35},
		{"qwen3_next_h64_dense", Options{Dtype: "bfloat16"}, []string{"--dtype", "bfloat16"}, toTransformers4},
	} {
		t.Run(tt.model, func(t *testing.T) {
			src := withTokenizer(t, fixture(t, tt.model))
			if tt.edit != nil {
				rewriteConfig(t, src, tt.edit)
			}
			ours, _ := convert(t, src, tt.opts)
			theirs := mlxLMConvert(t, src, tt.args...)
			a, b := tensorBytes(t, ours), tensorBytes(t, theirs)
			if !slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))) {
				t.Fatalf("tensor names differ:\nLMX    %v\nmlx_lm %v", slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
			}
			for name, data := range a {
				if !bytes.Equal(data, b[name]) {
					t.Errorf("%s: LMX and mlx_lm wrote different bytes (LMX %s, mlx_lm %s)", name, tensorKind(data), tensorKind(b[name]))
				}
			}
		})
	}
}

// rewriteConfig replaces dir's config.json (a link into a fixture) by
// edit's version of it.
func rewriteConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// json.Number keeps 1.0 written as 1.0: transformers' config classes
	// refuse an int where they declare a float.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var cfg map[string]any
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// toTransformers4 moves transformers 5's rope_parameters into transformers
// 4's rope_theta and rope_scaling, the fields mlx_lm reads.
func toTransformers4(cfg map[string]any) {
	if rp, ok := cfg["rope_parameters"].(map[string]any); ok {
		cfg["rope_theta"] = rp["rope_theta"]
		delete(rp, "rope_theta")
		cfg["rope_scaling"] = rp
		delete(cfg, "rope_parameters")
	}
}

// withTokenizer returns a folder linking src's files plus, when src has no
// tokenizer (mlx_lm's converter insists on one), stories260k's.
func withTokenizer(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	link := func(from string) {
		to := filepath.Join(dir, filepath.Base(from))
		if _, err := os.Lstat(to); err == nil {
			return
		}
		if err := os.Symlink(from, to); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(src, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		link(f)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		link(filepath.Join(fixture(t, "stories260k"), f))
	}
	return dir
}

// tensorKind is the "dtype[shape]" prefix of a tensorBytes entry.
func tensorKind(data []byte) string {
	kind, _, _ := bytes.Cut(data, []byte(":"))
	return string(kind)
}

// tensorBytes reads every tensor of a model folder as dtype, shape and raw
// bytes.
func tensorBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	hs, err := model.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = metal.Do(context.Background(), func() error {
		for _, h := range hs {
			arrays, _, err := metal.LoadSafetensors(h.Path)
			if err != nil {
				return err
			}
			for name, a := range arrays {
				data, err := a.Bytes()
				if err != nil {
					return err
				}
				out[name] = append([]byte(fmt.Sprintf("%s%v:", a.Dtype(), a.Shape())), data...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShardedOutputLoadsEverywhere(t *testing.T) {
	mlxtest.Require(t)
	src := fixture(t, "llama")
	whole, _ := convert(t, src, Options{Quantize: true, Bits: 4, GroupSize: 32})
	sharded, res := convert(t, src, Options{Quantize: true, Bits: 4, GroupSize: 32, ShardBytes: 16 << 10})
	if len(res.Shards) < 3 || res.Shards[0] != fmt.Sprintf("model-00001-of-%05d.safetensors", len(res.Shards)) {
		t.Fatalf("shards %v: want several, named as mlx-lm names them", res.Shards)
	}
	var index struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	data, err := os.ReadFile(filepath.Join(sharded, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	tensors := headers(t, sharded)
	if len(index.WeightMap) != len(tensors) || index.Metadata["total_size"] != res.TotalBytes {
		t.Errorf("index maps %d tensors (total_size %d); the shards hold %d (%d bytes)",
			len(index.WeightMap), index.Metadata["total_size"], len(tensors), res.TotalBytes)
	}
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	ids := ints(t, ref, "input_ids_2")
	got, want := logits(t, sharded, ids)[0], logits(t, whole, ids)[0]
	if e := testutil.RelErr(got, want); e != 0 {
		t.Errorf("sharded vs single-file logits: relative error %.3g, want identical", e)
	}
	out := filepath.Join(t.TempDir(), "mlx_lm.safetensors")
	if err := python(t).Logits(context.Background(), sharded, out, 0, ids); err != nil {
		t.Fatalf("mlx_lm on the sharded folder: %v", err)
	}
	if e := testutil.RelErr(got, floats(t, reference(t, out), "logits_0")); e > 1e-3 {
		t.Errorf("LMX vs mlx_lm on the sharded folder: relative error %.3g > 1e-3", e)
	}
}

func TestDtypeCast(t *testing.T) {
	mlxtest.Require(t)
	src := fixture(t, "qwen3")
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	ids, want := ints(t, ref, "input_ids_2"), floats(t, ref, "logits_2")
	for _, tt := range []struct {
		dtype, st string
		opts      Options
	}{
		{"bfloat16", "BF16", Options{Dtype: "bfloat16"}},
		{"float16", "F16", Options{Dtype: "float16"}},
		{"float16 quantized", "F16", Options{Dtype: "float16", Quantize: true, Bits: 8}},
	} {
		t.Run(tt.dtype, func(t *testing.T) {
			dst, _ := convert(t, src, tt.opts)
			for name, info := range headers(t, dst) {
				if info.Dtype != tt.st && info.Dtype != "U32" {
					t.Errorf("%s is %s, want %s", name, info.Dtype, tt.st)
				}
			}
			if e := testutil.RelErr(logits(t, dst, ids)[0], want); e > 0.05 {
				t.Errorf("relative error %.3g > 0.05 against the float32 reference", e)
			}
		})
	}
}

func TestConvertCopiesTokenizerAndGenerationFiles(t *testing.T) {
	mlxtest.Require(t)
	src := fixture(t, "stories260k")
	dst, res := convert(t, src, Options{})
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"} {
		a, errA := os.ReadFile(filepath.Join(src, name))
		b, errB := os.ReadFile(filepath.Join(dst, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s not copied verbatim (%v, %v)", name, errA, errB)
		}
	}
	if len(res.Quantized) != 0 || len(res.Shards) != 1 || res.Shards[0] != "model.safetensors" {
		t.Errorf("float copy: quantized %v, shards %v", res.Quantized, res.Shards)
	}
	data, err := os.ReadFile(filepath.Join(dst, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "quantization") {
		t.Errorf("float copy has a quantization block: %s", data)
	}
}

func TestMoERouterKeepsEightBits(t *testing.T) {
	mlxtest.Require(t)
	dst, res := convert(t, fixture(t, "qwen3_moe"), Options{Quantize: true, Bits: 4, GroupSize: 32})
	tensors := headers(t, dst)
	gate := "model.layers.0.mlp.gate"
	if !slices.Contains(res.Quantized, gate) {
		t.Fatalf("router %s not quantized: %v", gate, res.Quantized)
	}
	// 8 experts × 64 inputs at 8 bits is 16 words per row, at 4 bits 8.
	if w := tensors[gate+".weight"]; !slices.Equal(w.Shape, []int{8, 16}) {
		t.Errorf("router weight shape %v, want [8 16] (8 bits)", w.Shape)
	}
	var cfg struct {
		Quantization map[string]json.RawMessage `json:"quantization"`
	}
	data, _ := os.ReadFile(filepath.Join(dst, "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if o := string(cfg.Quantization[gate]); !strings.Contains(o, `"bits": 8`) || !strings.Contains(o, `"group_size": 64`) {
		t.Errorf("config override for %s = %s, want bits 8, group 64", gate, o)
	}
}

// TestMoERouterLeftFloatOnIndivisibleOverride converts the transformers
// fixture qwen3_moe_h96 (hidden 96) at 4 bits, group 32: every module of
// width 96 is quantized, but the router's own parameters (8 bits, group 64)
// do not divide 96, so it must stay in float with no config entry, as a
// module the main group size does not divide does. The folder must load in
// LMX and agree with mlx_lm on it (1e-3) and with transformers' float
// logits within the 4-bit bound.
func TestMoERouterLeftFloatOnIndivisibleOverride(t *testing.T) {
	mlxtest.Require(t)
	src := fixture(t, "qwen3_moe_h96")
	qc := quantCase{bits: 4, group: 32, maxRelErr: 0.8}
	dst, res := convert(t, src, Options{Quantize: true, Bits: qc.bits, GroupSize: qc.group})
	tensors := headers(t, dst)
	for _, gate := range []string{"model.layers.0.mlp.gate", "model.layers.1.mlp.gate"} {
		if !slices.Contains(res.Skipped, gate) || slices.Contains(res.Quantized, gate) {
			t.Errorf("router %s: skipped %v, quantized %v; want it left in float", gate, res.Skipped, res.Quantized)
		}
		if w := tensors[gate+".weight"]; w.Dtype != "F32" || !slices.Equal(w.Shape, []int{4, 96}) {
			t.Errorf("router weight %s %v, want F32 [4 96]", w.Dtype, w.Shape)
		}
		if _, ok := tensors[gate+".scales"]; ok {
			t.Errorf("router %s has scales", gate)
		}
	}
	if !slices.Contains(res.Quantized, "model.layers.0.self_attn.q_proj") {
		t.Errorf("q_proj (width 96, group 32) not quantized: %v", res.Quantized)
	}
	var cfg struct {
		Quantization map[string]json.RawMessage `json:"quantization"`
	}
	data, err := os.ReadFile(filepath.Join(dst, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for name := range cfg.Quantization {
		if strings.HasSuffix(name, "mlp.gate") {
			t.Errorf("config has a quantization entry for the float router %s", name)
		}
	}
	py := python(t)
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	ids, want := refPrompts(t, ref)
	mlx := mlxLogits(t, py, dst, src, ids)
	if mlx == nil {
		t.Fatal("mlx_lm could not run the converted folder")
	}
	got := logits(t, dst, ids...)
	for i := range ids {
		rel := testutil.RelErr(got[i], want[i])
		vsMLX := testutil.RelErr(got[i], floats(t, mlx, fmt.Sprintf("logits_%d", i)))
		t.Logf("prompt %d: vs transformers float %.4f, vs mlx_lm on the same folder %.2g", i, rel, vsMLX)
		if rel > qc.maxRelErr || rel == 0 {
			t.Errorf("prompt %d: relative error %.4g vs the float reference, want in (0, %g]", i, rel, qc.maxRelErr)
		}
		if vsMLX > 1e-3 {
			t.Errorf("prompt %d: LMX vs mlx_lm on the same folder: relative error %.3g > 1e-3", i, vsMLX)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	mlxtest.Require(t)
	llama := fixture(t, "llama")
	quantized, _ := convert(t, llama, Options{Quantize: true})
	broken := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(llama, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			data = bytes.Replace(data, []byte(`"num_hidden_layers": 2`), []byte(`"num_hidden_layers": 3`), 1)
		}
		if err := os.WriteFile(filepath.Join(broken, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		src  string
		dst  string
		opts Options
		want error
	}{
		{"existing output", llama, t.TempDir(), Options{}, ErrExists},
		{"already quantized", quantized, "", Options{Quantize: true}, ErrQuantized},
		{"unknown mode", llama, "", Options{Quantize: true, Mode: "int3"}, ErrOptions},
		{"unknown dtype", llama, "", Options{Dtype: "float8"}, ErrOptions},
		{"missing tensor", broken, "", Options{Quantize: true}, layer.ErrMissingTensor},
		{"no config.json", t.TempDir(), "", Options{}, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := tt.dst
			if dst == "" {
				dst = filepath.Join(t.TempDir(), "out")
			}
			_, err := Convert(context.Background(), tt.src, dst, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.dst == "" {
				if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("failed conversion left %s behind (%v)", dst, err)
				}
			}
		})
	}
}
