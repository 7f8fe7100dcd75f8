package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/checkpoint"
	"github.com/lmx-app/lmx/internal/disttest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// probe is what one process computes from a fixture for the comparison of a
// split model with the whole one.
type probe struct {
	// Refused is the reason the model was not split (then nothing else).
	Refused string
	// Logits of the three reference prompts, one pass without caches.
	Logits [3][]float32
	// Greedy: the greedy prompt prefilled in chunks of 3 through the
	// caches, then 12 greedy tokens; GreedyLogits are the last step's.
	Greedy       []int32
	GreedyLogits []float32
	// Batch: the three prompts as one left-padded batch, logits of every
	// real position of each row (empty when the caches refuse padding).
	Batch [][]float32
	// Resumed: the longest prompt's caches saved after 9 tokens and restored
	// into fresh caches that take the rest (the prefix cache's path); the
	// logits of the rest.
	Resumed []float32
	// Split is how the model was split ("tensor" or "pipeline"), and
	// Layers the rank's layers [start, stop) of a pipeline.
	Split  string
	Layers [2]int
}

// probeModel computes a probe of m (on the MLX thread through the helpers).
func probeModel(t *testing.T, m Model, ref *reference) probe {
	var p probe
	for i := range 3 {
		p.Logits[i] = logitsOf(t, m, ref.ints[name("input_ids", i)], nil)
	}
	prompt := ref.ints["greedy_prompt"]
	caches := mustCaches(t, m, CacheOptions{})
	var logits []float32
	for start := 0; start < len(prompt); start += 3 {
		logits = logitsOf(t, m, prompt[start:min(start+3, len(prompt))], caches)
	}
	vocab := len(p.Logits[0]) / len(ref.ints["input_ids_0"])
	for range 12 {
		next := argmaxLast(logits, vocab)
		p.Greedy = append(p.Greedy, next)
		logits = logitsOf(t, m, []int32{next}, caches)
	}
	p.GreedyLogits = logits
	p.Batch = batchLogits(t, m, ref, vocab)
	long := ref.ints["input_ids_2"]
	first := mustCaches(t, m, CacheOptions{})
	logitsOf(t, m, long[:9], first)
	resumed := mustCaches(t, m, CacheOptions{})
	mlxtest.Do(t, func() error {
		for i, c := range first {
			if err := resumed[i].Restore(c.State()); err != nil {
				return err
			}
		}
		return nil
	})
	p.Resumed = logitsOf(t, m, long[9:], resumed)
	return p
}

// mustCaches is newCaches that fails the test on error.
func mustCaches(t *testing.T, m Model, opts CacheOptions) []cache.Cache {
	c, err := newCaches(t, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// batchLogits runs the reference prompts as one left-padded batch; nil when
// the model's caches cannot pad.
func batchLogits(t *testing.T, m Model, ref *reference, vocab int) [][]float32 {
	prompts := [][]int32{ref.ints["input_ids_0"], ref.ints["input_ids_1"], ref.ints["input_ids_2"]}
	flat, pad, width := leftPadded(prompts)
	caches, err := newCaches(t, m, CacheOptions{LeftPad: pad})
	if errors.Is(err, ErrCacheOptions) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	mlxtest.Do(t, func() error {
		x := metal.FromInt32(flat, len(prompts), width)
		got, err = metal.Astype(m.Logits(m.Hidden(x, caches)), metal.Float32).Float32s()
		return err
	})
	rows := make([][]float32, len(prompts))
	for i := range prompts {
		rows[i] = got[(i*width+pad[i])*vocab : (i+1)*width*vocab]
	}
	return rows
}

// TestParallelMatchesOneProcess splits every fixture over 2 and 4
// processes of MLX's ring backend on localhost, the way LoadParallel
// chooses (tensor parallelism where the layers and head counts allow it,
// pipeline parallelism otherwise), and then once more by pipeline
// parallelism each fixture tensor parallelism split. Every rank's logits
// (one pass, chunked prefill + greedy decoding through the caches, a
// left-padded batch, caches saved and restored) must be within 1e-4 of one
// process's and its greedy tokens equal. A fixture may be refused only
// when no split into that many contiguous layer ranges exists (fewer layers
// than ranks, or Gemma 4's layers that reuse an earlier layer's keys and
// values leave too few places to cut), and then with ErrParallel; the
// pipeline's ranges must cover the layers in rank order. The fixtures in
// tensorSplits must take tensor parallelism exactly at the group sizes
// listed there. Each fixture is a subtest (its folder's name) that computes
// the whole model's probe, so -run 'TestParallelMatchesOneProcess/qwen3_moe$'
// runs the groups on that fixture alone.
func TestParallelMatchesOneProcess(t *testing.T) {
	mlxtest.Require(t)
	dirs := fixtureModels(t, "stories260k") // its reference has other prompts
	if _, ok := disttest.Rank(); ok {
		dirs = append(dirs, filepath.SplitList(os.Getenv(envQuantized))...)
		parallelRank(t, selectedFixtures(dirs))
		return
	}
	quantized := []string{quantizedExperts(t, "affine"), quantizedExperts(t, "mxfp4"), openAIExperts(t)}
	dirs = append(dirs, quantized...)
	for name := range tensorSplits {
		if len(selectedFixtures(dirs, name)) == 0 {
			t.Errorf("tensorSplits names %s, which is no fixture", name)
		}
	}
	whole := map[string]probe{}
	layers, cuts := map[string]int{}, map[string]int{}
	var selected []string
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			whole[dir] = probeModel(t, m, ref)
			if dir == quantized[0] || dir == quantized[2] {
				// The widened experts (8 bits; gpt-oss's MXFP4 experts with
				// float attention) still compute the fixture's function, up
				// to rounding (as TestQuantizedWeightsMatchDequantized bounds
				// it); qwen3_moe all in MXFP4 rounds too coarsely for a bound
				// on these random weights.
				if e := relErr(whole[dir].Logits[2], ref.floats["logits_2"]); !(e <= 0.3) {
					t.Errorf("widened, quantized experts: relative error %.3g > 0.3 against the float reference", e)
				}
			}
			layers[dir], cuts[dir] = m.NumLayers(), splitPoints(m)
			selected = append(selected, filepath.Base(dir))
		})
	}
	if len(selected) == 0 {
		t.Skip("no fixture selected")
	}
	for _, n := range []int{2, 4} {
		outs := disttest.Run(t, t.Name(), n, disttest.Deadline, envFixtures+"="+strings.Join(selected, ","), envQuantized+"="+strings.Join(quantized, string(filepath.ListSeparator)))
		runs := make([]parallelRun, n)
		for r, b := range outs {
			if err := json.Unmarshal(b, &runs[r]); err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		byKind := map[string][]string{}
		for _, dir := range selectedFixtures(dirs, selected...) {
			base := filepath.Base(dir)
			// A split into n contiguous ranges needs n-1 places to cut.
			mustSplit := cuts[dir] >= n-1
			why := fmt.Sprintf("%d layers", layers[dir])
			if layers[dir] >= n {
				why += fmt.Sprintf(", %d places to cut (K/V shared across layers)", cuts[dir])
			}
			if sizes, ok := tensorSplits[base]; ok {
				got, want := runs[0].Auto[dir].Split == string(TensorParallel), slices.Contains(sizes, n)
				if got != want {
					t.Errorf("%d ranks, %s: split %q (refused: %q), want tensor parallelism: %v",
						n, base, runs[0].Auto[dir].Split, runs[0].Auto[dir].Refused, want)
				}
			}
			for _, pass := range []string{"chosen", "forced pipeline"} {
				if pass == "forced pipeline" && runs[0].Auto[dir].Split != string(TensorParallel) {
					continue
				}
				got := make([]probe, n)
				for r, run := range runs {
					results := run.Auto
					if pass == "forced pipeline" {
						results = run.Pipeline
					}
					p, ok := results[dir]
					if !ok {
						t.Errorf("%d ranks, %s split, rank %d: no result for %s", n, pass, r, base)
					}
					got[r] = p
				}
				kind := checkSplit(t, fmt.Sprintf("%d ranks, %s split, %s", n, pass, base), got, whole[dir], layers[dir], mustSplit)
				if kind == "refused" {
					kind += " (" + why + ")"
				}
				byKind[pass+": "+kind] = append(byKind[pass+": "+kind], base)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(byKind)) {
			t.Logf("%d ranks, %s: %s", n, k, strings.Join(byKind[k], ", "))
		}
	}
}

// tensorSplits are the group sizes at which LoadParallel must split each
// mixture-of-experts fixture by tensor parallelism (a fixture not listed
// may go either way): where the attention heads, key/value heads (split or
// repeated) and the experts' width divide by the group size. A silent fall
// back to pipeline parallelism fails the test.
var tensorSplits = map[string][]int{
	"qwen3_moe":       {2, 4}, // 4 heads, 2 KV heads, experts 32 wide
	"qwen3_moe_h96":   nil,    // 3 heads
	"glm4_moe_h60":    {2, 4}, // 4 heads, 2 KV heads, experts 8 wide, shared 16
	"glm4_moe_h72":    nil,    // 3 heads
	"deepseek_v3_h48": nil,    // 3 heads
	"deepseek_v3_h64": {2, 4}, // 4 heads (q LoRA), experts and shared 16 wide, dense 80
	"gpt_oss_h96":     {2, 4}, // 4 heads, 2 KV heads, experts 32 wide
	"gpt_oss_l3":      {2},    // 6 heads, 2 KV heads
	// quantizedExperts: at 4 ranks o_proj's 64 inputs are 16 per rank,
	// less than a quantization group.
	"qwen3_moe_wide_q8":    {2},
	"qwen3_moe_wide_mxfp4": {2},
	// openAIExperts: at 4 ranks down_proj's 64 inputs are 16 per rank.
	"gpt_oss_wide_mxfp4": {2},
}

// envQuantized lists the folders of quantizedExperts, which the parent
// writes and its ranks read.
const envQuantized = "LMX_PARALLEL_QUANTIZED"

// quantizedExperts writes the shared qwen3_moe fixture with every expert
// twice as wide (each gate and up row twice, the down columns twice and
// halved: the same function) and its projections quantized as mlx-lm
// stores them, so that at 2 ranks each rank's share of every projection's
// input, the experts' down_proj included, is whole groups of 32. Mode
// "affine": everything at 8 bits (weight, scales, biases), the router in
// groups of 64 as mlx-lm's Qwen3-MoE predicate does; "mxfp4": the
// attention and experts in MXFP4 (uint32 words and uint8 scales, no
// biases), the embeddings and head in float, the router affine as before.
// It returns the folder (qwen3_moe_wide_q8 or _mxfp4, with the fixture's
// reference for the prompts).
func quantizedExperts(t *testing.T, mode string) string {
	src := filepath.Join(testutil.Fixtures(t), "models", "qwen3_moe")
	name, group, bits := "qwen3_moe_wide_q8", 32, 8
	if mode == "mxfp4" {
		name, bits = "qwen3_moe_wide_mxfp4", 4
	}
	dir := filepath.Join(t.TempDir(), name)
	must(t, os.MkdirAll(dir, 0o755))
	expert := regexp.MustCompile(`\.experts\.\d+\.(gate|up|down)_proj\.weight$`)
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		out := map[string]*metal.Array{}
		for name, a := range arrays {
			switch m := expert.FindStringSubmatch(name); {
			case m == nil:
			case m[1] == "down":
				a = metal.MulScalar(metal.Concatenate([]*metal.Array{a, a}, 1), 0.5)
			default:
				a = metal.Concatenate([]*metal.Array{a, a}, 0)
			}
			module, ok := strings.CutSuffix(name, ".weight")
			float := mode == "mxfp4" && !strings.Contains(module, ".layers.")
			if !ok || a.Ndim() != 2 || float {
				out[name] = a
				continue
			}
			g, b, m := group, bits, mode
			if strings.HasSuffix(module, ".mlp.gate") {
				g, b, m = 64, 8, "affine"
			}
			wq, scales, biases := metal.Quantize(a, g, b, m)
			out[name], out[module+".scales"] = wq, scales
			if biases != nil {
				out[module+".biases"] = biases
			}
		}
		return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), out, nil)
	})
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	must(t, err)
	var cfg map[string]any
	must(t, json.Unmarshal(data, &cfg))
	cfg["moe_intermediate_size"] = 2 * int(cfg["moe_intermediate_size"].(float64))
	quant := map[string]any{"group_size": group, "bits": bits, "mode": mode}
	for l := range int(cfg["num_hidden_layers"].(float64)) {
		quant[fmt.Sprintf("model.layers.%d.mlp.gate", l)] = map[string]any{"group_size": 64, "bits": 8, "mode": "affine"}
	}
	if mode == "mxfp4" {
		quant["model.embed_tokens"], quant["lm_head"] = false, false
	}
	cfg["quantization"] = quant
	data, err = json.Marshal(cfg)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	ref, err := os.ReadFile(filepath.Join(src, "reference.safetensors"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "reference.safetensors"), ref, 0o644))
	return dir
}

// envFixtures names the fixtures (folder names, comma-separated) the ranks
// of TestParallelMatchesOneProcess split: those the parent selected.
const envFixtures = "LMX_PARALLEL_FIXTURES"

// selectedFixtures returns the dirs whose folder names are in names, or
// (none given) in envFixtures.
func selectedFixtures(dirs []string, names ...string) []string {
	if len(names) == 0 {
		names = strings.Split(os.Getenv(envFixtures), ",")
	}
	var out []string
	for _, dir := range dirs {
		if slices.Contains(names, filepath.Base(dir)) {
			out = append(out, dir)
		}
	}
	return out
}

// splitPoints counts the places m's layers may be cut between pipeline
// ranks: between any two layers, except inside a span of Gemma 4 layers
// that reuse an earlier layer's keys and values (each must run where its
// source does).
func splitPoints(m Model) int {
	n := m.NumLayers() - 1
	if g, ok := m.(*Gemma4Text); ok {
		for i := 1; i < len(g.Layers); i++ {
			for _, l := range g.Layers[i:] {
				if l.Source < i {
					n--
					break
				}
			}
		}
	}
	return n
}

// checkSplit checks every rank's probe of one fixture split one way and
// returns how it was split ("tensor", "pipeline" or "refused"). A refusal
// fails the test when mustSplit; every rank must agree on the split, a
// pipeline's ranges must cover the layers in rank order, and every split
// rank's probe must match the whole model's.
func checkSplit(t *testing.T, what string, got []probe, want probe, layers int, mustSplit bool) string {
	t.Helper()
	kind := got[0].Split
	if got[0].Refused != "" {
		kind = "refused"
		if mustSplit {
			t.Errorf("%s: refused: %s", what, got[0].Refused)
		}
	}
	next := 0
	for r, p := range got {
		switch {
		case (p.Refused != "") != (kind == "refused") || (p.Refused == "" && p.Split != kind):
			t.Errorf("%s: rank %d split %q (refused: %q), rank 0 %q", what, r, p.Split, p.Refused, kind)
		case kind == "refused":
			if !strings.Contains(p.Refused, ErrParallel.Error()) {
				t.Errorf("%s: rank %d refused without ErrParallel: %s", what, r, p.Refused)
			}
			continue
		case kind == string(PipelineParallel):
			if p.Layers[0] != next || p.Layers[1] <= p.Layers[0] {
				t.Errorf("%s: rank %d runs layers %v, want a range from %d", what, r, p.Layers, next)
			}
			next = p.Layers[1]
		case kind != string(TensorParallel):
			t.Errorf("%s: rank %d: split %q", what, r, kind)
		}
		for _, msg := range compareProbes(p, want) {
			t.Errorf("%s, rank %d: %s", what, r, msg)
		}
	}
	if kind == string(PipelineParallel) && next != layers {
		t.Errorf("%s: the ranks' ranges end at layer %d of %d", what, next, layers)
	}
	if kind == string(PipelineParallel) {
		var sizes []int
		for _, p := range got {
			sizes = append(sizes, p.Layers[1]-p.Layers[0])
		}
		return fmt.Sprintf("%s %v", kind, sizes)
	}
	return kind
}

// parallelRun is what one rank computes: each fixture split the way
// LoadParallel chooses (Auto) and, for those it split by tensor
// parallelism, by pipeline parallelism (Pipeline).
type parallelRun struct {
	Auto, Pipeline map[string]probe
}

// parallelRank is one rank of TestParallelMatchesOneProcess.
func parallelRank(t *testing.T, dirs []string) {
	g := mlxtest.JoinRing(t)
	run := parallelRun{Auto: map[string]probe{}, Pipeline: map[string]probe{}}
	for _, dir := range dirs {
		run.Auto[dir] = splitProbe(t, g, dir, "")
		if run.Auto[dir].Split == string(TensorParallel) {
			run.Pipeline[dir] = splitProbe(t, g, dir, PipelineParallel)
		}
	}
	if err := disttest.Write(run); err != nil {
		t.Fatal(err)
	}
}

// splitProbe loads the rank's part of dir split as asked and probes it; a
// refusal (ErrParallel) is recorded, any other error fails the test.
func splitProbe(t *testing.T, g *metal.Group, dir string, split Split) probe {
	var m Model
	var err error
	mlxtest.Do(t, func() error {
		m, _, err = LoadParallel(dir, Parallel{Group: g, Split: split})
		return nil
	})
	if errors.Is(err, ErrParallel) {
		return probe{Refused: err.Error()}
	}
	if err != nil {
		t.Fatalf("%s, split %q: %v", filepath.Base(dir), split, err)
	}
	defer mlxtest.Do(t, func() error { FreeModel(m); return nil })
	p := probeModel(t, m, readReference(t, dir))
	p.Split = string(TensorParallel)
	if st := modelStage(m); st != nil {
		p.Split, p.Layers = string(PipelineParallel), [2]int{st.start, st.stop}
	}
	return p
}

// compareProbes lists how a split model's probe differs from the whole
// model's: logits beyond 1e-4 relative error, different greedy tokens.
func compareProbes(got, want probe) []string {
	var bad []string
	check := func(what string, g, w []float32) {
		if e := relErr(g, w); !(e <= 1e-4) {
			bad = append(bad, fmt.Sprintf("%s: relative error %.3g > 1e-4 (%d values, want %d)", what, e, len(g), len(w)))
		}
	}
	for i := range 3 {
		check(fmt.Sprintf("prompt %d logits", i), got.Logits[i], want.Logits[i])
	}
	if !slices.Equal(got.Greedy, want.Greedy) {
		bad = append(bad, fmt.Sprintf("greedy tokens %v, want %v", got.Greedy, want.Greedy))
	}
	check("last greedy step's logits", got.GreedyLogits, want.GreedyLogits)
	if len(got.Batch) != len(want.Batch) {
		bad = append(bad, fmt.Sprintf("%d batch rows, want %d", len(got.Batch), len(want.Batch)))
	}
	for i := range min(len(got.Batch), len(want.Batch)) {
		check(fmt.Sprintf("batch row %d", i), got.Batch[i], want.Batch[i])
	}
	check("logits after restored caches", got.Resumed, want.Resumed)
	return bad
}

// memoryCase is one load of TestParallelMemory: a fixture split one way.
type memoryCase struct {
	fixture string
	split   Split
}

// memoryCases are a dense fixture split by tensor parallelism, mixtures of
// experts split by tensor parallelism (routed experts, float and quantized;
// shared experts; latent attention and a dense first layer; gpt-oss's sink
// attention and experts as transformers stores them), and one split
// by pipeline parallelism (4 layers: 2 per rank).
var memoryCases = []memoryCase{{"qwen3", TensorParallel}, {"qwen3_moe", TensorParallel}, {"qwen3_moe_wide_q8", TensorParallel},
	{"glm4_moe_h60", TensorParallel}, {"deepseek_v3_h64", TensorParallel}, {"gpt_oss_h96", TensorParallel},
	{"smollm3_h64", PipelineParallel}}

// memoryFigure is what a rank of TestParallelMemory measures of one case.
type memoryFigure struct {
	// Before and After are MLX's active memory before and after
	// LoadParallel (buffer cache cleared).
	Before, After int64
	Layers        [2]int
}

// TestParallelMemory loads, on 2 ranks, the memoryCases, and checks the MLX
// memory each rank's model holds against what the safetensors headers say
// it should read: for tensor parallelism the replicated tensors (embeddings,
// norms, head, routers) and half of each split projection (every expert's
// too), for pipeline parallelism
// the tensors of the rank's layers and all the tensors outside the layers.
// Each must be within 10%, and below what the whole model would hold by
// more than that (so a rank that read everything fails).
func TestParallelMemory(t *testing.T) {
	mlxtest.Require(t)
	const n = 2
	dirs := map[string]string{}
	for _, dir := range fixtureModels(t) {
		dirs[filepath.Base(dir)] = dir
	}
	_, rank := disttest.Rank()
	if rank {
		dirs["qwen3_moe_wide_q8"] = os.Getenv(envQuantized)
	} else {
		dirs["qwen3_moe_wide_q8"] = quantizedExperts(t, "affine")
	}
	for _, c := range memoryCases {
		if dirs[c.fixture] == "" {
			t.Fatalf("no fixture %s", c.fixture)
		}
	}
	if rank {
		memoryRank(t, dirs)
		return
	}
	outs := disttest.Run(t, t.Name(), n, disttest.Deadline, envQuantized+"="+dirs["qwen3_moe_wide_q8"])
	for r, b := range outs {
		var figs []memoryFigure
		if err := json.Unmarshal(b, &figs); err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		if len(figs) != len(memoryCases) {
			t.Fatalf("rank %d: %d figures for %d cases", r, len(figs), len(memoryCases))
		}
		for i, c := range memoryCases {
			f := figs[i]
			want, total, layers := expectedBytes(t, dirs[c.fixture], c.split, r, n)
			if c.split == PipelineParallel && f.Layers != layers {
				t.Errorf("rank %d, %s: runs layers %v, want %v", r, c.fixture, f.Layers, layers)
			}
			got := f.After - f.Before
			e := math.Abs(float64(got)-float64(want)) / float64(want)
			t.Logf("rank %d, %s by %s: %d bytes held (active %d before, %d after), %d expected (%.1f%% off), whole model %d",
				r, c.fixture, c.split, got, f.Before, f.After, want, 100*e, total)
			switch {
			case want <= 0 || got <= 0 || !(e <= 0.10):
				t.Errorf("rank %d, %s by %s: %d bytes held, want %d ± 10%%", r, c.fixture, c.split, got, want)
			case !(float64(want)*1.1 < float64(total)):
				t.Errorf("rank %d, %s by %s: the expectation %d is within 10%% of the whole model's %d: the test does not tell them apart",
					r, c.fixture, c.split, want, total)
			}
		}
	}
}

// memoryRank is one rank of TestParallelMemory: each case loaded, measured
// and freed.
func memoryRank(t *testing.T, dirs map[string]string) {
	g := mlxtest.JoinRing(t)
	var figs []memoryFigure
	for _, c := range memoryCases {
		var f memoryFigure
		var m Model
		mlxtest.Do(t, func() error {
			metal.ClearCache()
			f.Before = metal.ActiveMemory()
			var err error
			if m, _, err = LoadParallel(dirs[c.fixture], Parallel{Group: g, Split: c.split}); err != nil {
				return err
			}
			metal.ClearCache()
			f.After = metal.ActiveMemory()
			if st := modelStage(m); st != nil {
				f.Layers = [2]int{st.start, st.stop}
			}
			return nil
		})
		if (modelStage(m) != nil) != (c.split == PipelineParallel) {
			t.Fatalf("%s: asked for %s, got a stage %v", c.fixture, c.split, modelStage(m))
		}
		mlxtest.Do(t, func() error { FreeModel(m); return nil })
		figs = append(figs, f)
	}
	if err := disttest.Write(figs); err != nil {
		t.Fatal(err)
	}
}

// expectedBytes is what rank of n should hold of dir's weights split the
// given way, from the safetensors headers alone, with the whole model's
// bytes and, for a pipeline, the rank's layers (an even split, the first
// ranks taking the extra layers).
func expectedBytes(t *testing.T, dir string, split Split, rank, n int) (want, total int64, layers [2]int) {
	headers, err := checkpoint.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	layerOf := regexp.MustCompile(`(?:^|\.)layers\.(\d+)\.`)
	count := 0
	for _, h := range headers {
		for name := range h.Tensors {
			if m := layerOf.FindStringSubmatch(name); m != nil {
				i, _ := strconv.Atoi(m[1])
				count = max(count, i+1)
			}
		}
	}
	for r := range rank + 1 {
		size := count / n
		if r < count%n {
			size++
		}
		layers = [2]int{layers[1], layers[1] + size}
	}
	// Split: the attention projections (DeepSeek's q_b and kv_b too, and
	// gpt-oss's sinks), the MLPs' and every expert's (gpt-oss's fused
	// gate_up as it stores them); the bias of an output projection is held
	// whole (zeros on all ranks but 0).
	splitNames := regexp.MustCompile(`\.(?:q|k|v|o|q_b|kv_b|gate|up|down|gate_up)_proj(?:\.|_blocks$|_scales$|_bias$|$)|\.sinks$`)
	wholeBias := regexp.MustCompile(`\.(?:o|down)_proj(?:\.|_)bias$`)
	for _, h := range headers {
		for name, ti := range h.Tensors {
			b := ti.Offsets[1] - ti.Offsets[0]
			total += b
			switch m := layerOf.FindStringSubmatch(name); {
			case split == TensorParallel && splitNames.MatchString(name) && !wholeBias.MatchString(name):
				want += b / int64(n)
			case split == PipelineParallel && m != nil:
				if i, _ := strconv.Atoi(m[1]); i >= layers[0] && i < layers[1] {
					want += b
				}
			default:
				want += b
			}
		}
	}
	return want, total, layers
}

// openAIExperts writes the gpt_oss_h96 fixture with every expert twice as
// wide (each gate/up pair of the interleaved gate_up_proj twice, down_proj's
// inputs twice and halved: the same function) in OpenAI's own MXFP4 layout
// (experts.{gate_up,down}_proj_{blocks,scales}, quantization_config's
// quant_method mxfp4), so that at 2 ranks each rank's share of down_proj's
// 64 inputs is whole groups of 32; returns its folder (gpt_oss_wide_mxfp4,
// with the fixture's reference for the prompts).
func openAIExperts(t *testing.T) string {
	src := filepath.Join(testutil.RepoRoot(t), "engine", "arch", "testdata", "models", "gpt_oss_h96")
	dir := filepath.Join(t.TempDir(), "gpt_oss_wide_mxfp4")
	must(t, os.MkdirAll(dir, 0o755))
	// blocks quantizes w [E, out, in] to MXFP4 as OpenAI stores it: the
	// packed 4-bit values as bytes [E, out, in/32, 16], the scales [E, out, in/32].
	blocks := func(w *metal.Array) (b, scales *metal.Array, err error) {
		wq, scales, _ := metal.Quantize(metal.Contiguous(w), 32, 4, "mxfp4")
		data, err := wq.Bytes()
		if err != nil {
			return nil, nil, err
		}
		s := scales.Shape()
		return metal.FromBytes(data, metal.Uint8, s[0], s[1], s[2], 16), scales, nil
	}
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		out := map[string]*metal.Array{}
		for name, a := range arrays {
			var w *metal.Array
			switch {
			case strings.HasSuffix(name, ".mlp.experts.gate_up_proj"): // [E, hidden, 2I], x·W
				w = metal.Swapaxes(metal.Concatenate([]*metal.Array{a, a}, 2), 1, 2)
			case strings.HasSuffix(name, ".mlp.experts.down_proj"): // [E, I, hidden]
				w = metal.Swapaxes(metal.MulScalar(metal.Concatenate([]*metal.Array{a, a}, 1), 0.5), 1, 2)
			case strings.HasSuffix(name, ".mlp.experts.gate_up_proj_bias"):
				out[name] = metal.Concatenate([]*metal.Array{a, a}, 1)
				continue
			default:
				out[name] = a
				continue
			}
			if out[name+"_blocks"], out[name+"_scales"], err = blocks(w); err != nil {
				return err
			}
		}
		return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), out, nil)
	})
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	must(t, err)
	var cfg map[string]any
	must(t, json.Unmarshal(data, &cfg))
	cfg["intermediate_size"] = 2 * int(cfg["intermediate_size"].(float64))
	cfg["quantization_config"] = map[string]any{"quant_method": "mxfp4",
		"modules_to_not_convert": []string{"model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"}}
	data, err = json.Marshal(cfg)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	ref, err := os.ReadFile(filepath.Join(src, "reference.safetensors"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "reference.safetensors"), ref, 0o644))
	return dir
}

// TestTensorParallelRefusals checks the reasons tensor parallelism gives
// for a split the head counts, the experts' width or a tensor's layout do
// not allow (LoadParallel then goes pipeline), and that the mixture-of-
// experts fixtures it splits pass the same checks.
func TestTensorParallelRefusals(t *testing.T) {
	mlxtest.Require(t)
	dirs := map[string]string{}
	for _, dir := range fixtureModels(t) {
		dirs[filepath.Base(dir)] = dir
	}
	dirs["qwen3_moe_wide_q8"] = quantizedExperts(t, "affine")
	for _, tt := range []struct {
		fixture string
		n       int
		forced  map[string]any
		want    string // "" for no refusal
	}{
		{"qwen3_moe", 2, nil, ""},
		{"qwen3_moe", 4, nil, ""},
		{"glm4_moe_h60", 4, nil, ""},
		{"deepseek_v3_h64", 4, nil, ""},
		{"gpt_oss_h96", 4, nil, ""},
		{"qwen3_moe_h96", 2, nil, "3 attention heads do not split over 2 ranks"},
		{"gpt_oss_l3", 4, nil, "6 attention heads do not split over 4 ranks"},
		{"qwen3_moe", 4, map[string]any{"moe_intermediate_size": 30}, "experts' width (moe_intermediate_size) 30 does not split over 4 ranks"},
		// The experts' 64 inputs to down_proj in groups of 32: 2 groups for 4 ranks.
		{"qwen3_moe_wide_q8", 4, nil, "model.layers.0.mlp.experts.0.down_proj.biases [64 2] does not split in 4 along axis 1"},
	} {
		cfg, headers, err := readFolder(dirs[tt.fixture])
		if err != nil {
			t.Fatal(err)
		}
		if tt.forced != nil {
			if cfg, err = cfg.With(tt.forced); err != nil {
				t.Fatal(err)
			}
		}
		err = checkTensorParallel(cfg, headers, tt.n)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s over %d ranks: %v", tt.fixture, tt.n, err)
		case tt.want != "" && (!errors.Is(err, ErrParallel) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s over %d ranks: error %v, want ErrParallel saying %q", tt.fixture, tt.n, err, tt.want)
		}
	}
}

// TestShardOf checks how rank 1 of 2 holds the tensors of the layouts no
// fixture has: experts stacked as an MLX conversion stores them (quantized),
// DeepSeek's per-head maps, and gpt-oss's OpenAI MXFP4 blocks (gate and up
// interleaved by rows, so a contiguous share holds both).
func TestShardOf(t *testing.T) {
	cfg := &model.Config{}
	cfg.NumKeyValueHeads = 2
	type want struct {
		axis, index int
		zeroOff     bool
	}
	for _, tt := range []struct {
		name string
		ndim int
		want *want // nil: held whole
	}{
		{"model.layers.0.mlp.switch_mlp.gate_proj.weight", 3, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.switch_mlp.up_proj.scales", 3, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.switch_mlp.down_proj.weight", 3, &want{axis: 2, index: 1}},
		{"model.layers.0.mlp.switch_mlp.down_proj.biases", 3, &want{axis: 2, index: 1}},
		{"model.layers.0.mlp.experts.gate_proj.bias", 2, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.experts.down_proj.bias", 2, &want{zeroOff: true}},
		{"model.layers.0.mlp.experts.gate_up_proj_blocks", 4, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.experts.gate_up_proj_scales", 3, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.experts.down_proj_blocks", 4, &want{axis: 2, index: 1}},
		{"model.layers.0.mlp.experts.down_proj_scales", 3, &want{axis: 2, index: 1}},
		{"model.layers.0.mlp.experts.down_proj_bias", 2, &want{zeroOff: true}},
		{"model.layers.0.mlp.shared_experts.down_proj.weight", 2, &want{axis: 1, index: 1}},
		{"model.layers.0.mlp.experts.7.up_proj.weight", 2, &want{axis: 0, index: 1}},
		{"model.layers.0.self_attn.embed_q.scales", 3, &want{axis: 0, index: 1}},
		{"model.layers.0.self_attn.unembed_out.weight", 3, &want{axis: 0, index: 1}},
		{"model.layers.0.self_attn.kv_b_proj.weight", 2, &want{axis: 0, index: 1}},
		{"model.layers.0.self_attn.sinks", 1, &want{axis: 0, index: 1}},
		{"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 2, nil},
		{"model.layers.0.mlp.gate.weight", 2, nil},
		{"model.layers.0.mlp.gate.e_score_correction_bias", 1, nil},
		{"model.layers.0.mlp.router.weight", 2, nil},
		{"model.layers.0.mlp.gate_up_proj.weight", 2, nil}, // phi3's fused MLP
	} {
		s, ok := shardOf(tt.name, tt.ndim, cfg, 2, 1)
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: split %+v, want it whole", tt.name, s)
		case tt.want == nil:
		case !ok:
			t.Errorf("%s: whole, want %+v", tt.name, *tt.want)
		case tt.want.zeroOff != s.zeroOff || (!s.zeroOff && (s.axis != tt.want.axis || s.index != tt.want.index || s.parts != 2)):
			t.Errorf("%s: %+v, want %+v of 2", tt.name, s, *tt.want)
		}
	}
}
