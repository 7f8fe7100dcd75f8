package arch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// qwen35MoeFrom rewrites a Qwen3-Next checkpoint in transformers' layout
// into Qwen3.5-MoE's, which computes the same function for text: the fused
// per-key-head in_proj_qkvz / in_proj_ba become in_proj_qkv (all queries,
// all keys, all values), in_proj_z, in_proj_b and in_proj_a, and each
// layer's experts are fused into experts.gate_up_proj [E, 2I, H] and
// experts.down_proj [E, H, I]. Returns the new folder.
func qwen35MoeFrom(t *testing.T, src string) string {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	num := func(k string) int { return int(cfg[k].(float64)) }
	nk, nv, dk, dv := num("linear_num_key_heads"), num("linear_num_value_heads"), num("linear_key_head_dim"), num("linear_value_head_dim")
	experts, layers := num("num_experts"), num("num_hidden_layers")
	r := nv / nk
	cfg["model_type"] = "qwen3_5_moe"
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	mlxtest.Do(t, func() error {
		in, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		out := map[string]*metal.Array{}
		rows := func(a *metal.Array, lo, hi int) *metal.Array { // a[:, lo:hi, :] of [nk, n, H]
			return metal.Slice(a, []int{0, lo, 0}, []int{a.Dim(0), hi, a.Dim(2)})
		}
		for name, a := range in {
			switch {
			case strings.HasSuffix(name, "in_proj_qkvz.weight"):
				p := strings.TrimSuffix(name, "in_proj_qkvz.weight")
				h := a.Dim(1)
				g := metal.Reshape(a, nk, -1, h)
				q := metal.Reshape(rows(g, 0, dk), nk*dk, h)
				k := metal.Reshape(rows(g, dk, 2*dk), nk*dk, h)
				v := metal.Reshape(rows(g, 2*dk, 2*dk+r*dv), nv*dv, h)
				z := metal.Reshape(rows(g, 2*dk+r*dv, 2*dk+2*r*dv), nv*dv, h)
				out[p+"in_proj_qkv.weight"] = metal.Concatenate([]*metal.Array{q, k, v}, 0)
				out[p+"in_proj_z.weight"] = z
			case strings.HasSuffix(name, "in_proj_ba.weight"):
				p := strings.TrimSuffix(name, "in_proj_ba.weight")
				h := a.Dim(1)
				g := metal.Reshape(a, nk, 2*r, h)
				out[p+"in_proj_b.weight"] = metal.Reshape(rows(g, 0, r), nv, h)
				out[p+"in_proj_a.weight"] = metal.Reshape(rows(g, r, 2*r), nv, h)
			case strings.Contains(name, ".mlp.experts."):
			default:
				out[name] = a
			}
		}
		for l := range layers {
			p := fmt.Sprintf("model.layers.%d.mlp.experts", l)
			if _, ok := in[p+".0.gate_proj.weight"]; !ok {
				continue
			}
			var gates, ups, downs []*metal.Array
			for e := range experts {
				gates = append(gates, in[fmt.Sprintf("%s.%d.gate_proj.weight", p, e)])
				ups = append(ups, in[fmt.Sprintf("%s.%d.up_proj.weight", p, e)])
				downs = append(downs, in[fmt.Sprintf("%s.%d.down_proj.weight", p, e)])
			}
			out[p+".gate_up_proj"] = metal.Concatenate([]*metal.Array{metal.Stack(gates, 0), metal.Stack(ups, 0)}, 1)
			out[p+".down_proj"] = metal.Stack(downs, 0)
		}
		return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"})
	})
	return dir
}

// TestQwen35MoeMatchesQwen3Next loads the Qwen3.5-MoE rewrite of the
// Qwen3-Next fixture (fused experts, separate projections): LMX must give
// the transformers reference of the original within 1e-4, and mlx_lm's
// qwen3_5_moe (which reads this layout itself) the same logits.
func TestQwen35MoeMatchesQwen3Next(t *testing.T) {
	mlxtest.Require(t)
	var src string
	for _, dir := range testutil.ModelFixtures(t) {
		if filepath.Base(dir) == "qwen3_next_h72" {
			src = dir
		}
	}
	if src == "" {
		t.Fatal("no qwen3_next_h72 fixture")
	}
	dir := qwen35MoeFrom(t, src)
	refF, refI := readTensors(t, filepath.Join(src, "reference.safetensors"))
	ids := [][]int32{refI["input_ids_0"], refI["input_ids_1"], refI["input_ids_2"]}
	got := lmxLogits(t, dir, ids)
	for i := range ids {
		key := fmt.Sprintf("logits_%d", i)
		e := testutil.RelErr(got[i], refF[key])
		t.Logf("prompt %d (%d tokens): vs transformers (Qwen3-Next) %.2g", i, len(ids[i]), e)
		if !(e <= 1e-4) {
			t.Errorf("prompt %d: relative error %.3g > 1e-4", i, e)
		}
	}
	pyExe := testutil.Python(t)
	if pyExe == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (set LMX_PYTHON)")
	}
	py := bench.Python{Interpreter: pyExe, Root: testutil.RepoRoot(t)}
	out := filepath.Join(t.TempDir(), "mlx.safetensors")
	if err := py.Logits(context.Background(), dir, out, 0, ids...); err != nil {
		t.Fatalf("mlx_lm on the qwen3_5_moe folder: %v", err)
	}
	mlx, _ := readTensors(t, out)
	for i := range ids {
		key := fmt.Sprintf("logits_%d", i)
		if e := testutil.RelErr(got[i], mlx[key]); !(e <= 1e-4) {
			t.Errorf("prompt %d: LMX vs mlx_lm relative error %.3g > 1e-4", i, e)
		} else {
			t.Logf("prompt %d: vs mlx_lm %.2g", i, e)
		}
	}
}
