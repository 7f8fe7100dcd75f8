package convert

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/mlxtest"
)

// quantCase is one quantization setting with the bounds a correct quantizer
// meets on the fixtures. Affine quantization errs by up to half a step per
// weight, a step being the group's range over 2^bits-1 levels: a relative
// weight error of about 0.5% at 8 bits and 8% at 4 bits (group 32). The
// random fixtures (std 0.2, sharp outputs) amplify weight noise several
// times, and a mixture of experts turns it into a different expert choice
// now and then, so the logit bounds allow ten times the per-weight error
// (forty at 8 bits), and top-1 agreement is only required at 8 bits (at 4
// bits near-ties flip). A wrong
// layout, scale or group order gives logit errors of order 1 and chance
// agreement (1/vocab); the 1e-3 agreement with mlx_lm on the same folder is
// the exact check.
type quantCase struct {
	bits, group int
	maxRelErr   float64 // ‖q−ref‖/‖ref‖ of the logits
	minTop1     float64 // share of positions with the reference's argmax
}

var quantCases = []quantCase{
	{bits: 8, group: 64, maxRelErr: 0.2, minTop1: 0.75},
	{bits: 4, group: 32, maxRelErr: 0.8, minTop1: 0},
}

// refPrompts returns the reference's prompts and float logits: the three
// input_ids_i of the random fixtures, or stories260k's prompt_ids.
func refPrompts(t *testing.T, ref *bench.Tensors) (ids [][]int32, logits [][]float32) {
	names := ref.Names()
	for i := 0; slices.Contains(names, fmt.Sprintf("input_ids_%d", i)); i++ {
		ids = append(ids, ints(t, ref, fmt.Sprintf("input_ids_%d", i)))
		logits = append(logits, floats(t, ref, fmt.Sprintf("logits_%d", i)))
	}
	if slices.Contains(names, "prompt_ids") {
		ids = append(ids, ints(t, ref, "prompt_ids"))
		logits = append(logits, floats(t, ref, "prompt_logits"))
	}
	if len(ids) == 0 {
		t.Fatalf("reference has no prompts (names %v)", names)
	}
	return ids, logits
}

func TestQuantizedFixturesStayClose(t *testing.T) {
	mlxtest.Require(t)
	py := python(t)
	for _, src := range fixtureModels(t) {
		for _, qc := range quantCases {
			t.Run(fmt.Sprintf("%s/%dbit-g%d", filepath.Base(src), qc.bits, qc.group), func(t *testing.T) {
				t.Parallel()
				checkQuantized(t, py, src, qc)
			})
		}
	}
}

// checkQuantized converts src with qc and compares its logits with the
// float reference (bounds of qc) and with mlx_lm on the same folder (1e-3).
func checkQuantized(t *testing.T, py bench.Python, src string, qc quantCase) {
	dst, res := convert(t, src, Options{Quantize: true, Bits: qc.bits, GroupSize: qc.group})
	if len(res.Skipped) > 0 {
		t.Logf("left in float (input width not a multiple of %d): %v", qc.group, res.Skipped)
	}
	checkPacked(t, dst, res, qc)
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	ids, want := refPrompts(t, ref)
	mlx := mlxLogits(t, py, dst, src, ids)
	got := logits(t, dst, ids...)
	vocab := len(want[0]) / len(ids[0])
	for i := range ids {
		rel, top1 := bench.RelError(got[i], want[i]), top1Agreement(got[i], want[i], vocab)
		vsMLX := 0.0
		if mlx != nil {
			vsMLX = bench.RelError(got[i], floats(t, mlx, fmt.Sprintf("logits_%d", i)))
		}
		t.Logf("prompt %d (%d tokens): vs float reference relative error %.4f, top-1 agreement %.2f; vs mlx_lm %.2g",
			i, len(ids[i]), rel, top1, vsMLX)
		if rel > qc.maxRelErr || rel == 0 {
			t.Errorf("prompt %d: relative error %.4g, want in (0, %g]", i, rel, qc.maxRelErr)
		}
		if top1 < qc.minTop1 {
			t.Errorf("prompt %d: top-1 agreement %.2f < %.2f", i, top1, qc.minTop1)
		}
		if vsMLX > 1e-3 {
			t.Errorf("prompt %d: LMX vs mlx_lm on the same quantized folder: relative error %.3g > 1e-3", i, vsMLX)
		}
	}
}

// mlxLogits runs mlx_lm on the converted folder dst. When mlx_lm fails there
// and also on the float source (a model mlx_lm cannot run at all, such as a
// Gemma 3 layer layout its sliding_window_pattern cannot express), the
// comparison is skipped with the reason logged, and nil returned.
func mlxLogits(t *testing.T, py bench.Python, dst, src string, ids [][]int32) *bench.Tensors {
	out := filepath.Join(t.TempDir(), "mlx_lm.safetensors")
	err := py.Logits(context.Background(), dst, out, 0, ids...)
	if err == nil {
		return reference(t, out)
	}
	if srcErr := py.Logits(context.Background(), src, out, 0, ids...); srcErr != nil {
		t.Logf("no mlx_lm comparison: mlx_lm cannot run %s even before conversion: %s", filepath.Base(src), lastLine(srcErr))
		return nil
	}
	t.Fatalf("mlx_lm runs the source but not the converted folder: %v", err)
	return nil
}

// lastLine is the last line of an error's text (a Python exception).
func lastLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return lines[len(lines)-1]
}

// checkPacked verifies that the folder really holds packed weights: every
// module Convert reports quantized has uint32 weights of bits/32 the width
// and scales, and config.json carries the quantization block twice.
func checkPacked(t *testing.T, dir string, res *Result, qc quantCase) {
	if len(res.Quantized) == 0 {
		t.Fatal("no module quantized")
	}
	tensors := headers(t, dir)
	for _, m := range res.Quantized {
		w, s := tensors[m+".weight"], tensors[m+".scales"]
		if w.Dtype != "U32" || len(s.Shape) == 0 {
			t.Errorf("%s: weight %s %v, scales %v: not packed", m, w.Dtype, w.Shape, s.Shape)
			continue
		}
		in := s.Shape[len(s.Shape)-1] * qc.group
		if strings.HasSuffix(m, "mlp.gate") {
			continue // the MoE router keeps its own 8-bit, group-64 setting
		}
		if got := w.Shape[len(w.Shape)-1] * 32 / qc.bits; got != in {
			t.Errorf("%s: packed width %v holds %d weights per row, scales say %d", m, w.Shape, got, in)
		}
	}
	var cfg map[string]json.RawMessage
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`"bits": %d`, qc.bits)
	if q := string(cfg["quantization"]); !strings.Contains(q, want) || q != string(cfg["quantization_config"]) {
		t.Errorf("config quantization %s / quantization_config %s: want both with %s", q, cfg["quantization_config"], want)
	}
}
