package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
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
	checkSkipped(t, dst, res, qc)
	if len(res.Quantized) == 0 {
		// The repository's fixtures of hidden 48 / 96 have no width group
		// 64 divides; checkSkipped verified each module's width.
		t.Skipf("no module of %s has a width divisible by %d: nothing to quantize", filepath.Base(src), qc.group)
	}
	checkPacked(t, dst, res, qc)
	ref := reference(t, filepath.Join(src, "reference.safetensors"))
	ids, want := refPrompts(t, ref)
	mlx := mlxLogits(t, py, dst, src, ids)
	got := logits(t, dst, ids...)
	vocab := len(want[0]) / len(ids[0])
	for i := range ids {
		rel, top1 := testutil.RelErr(got[i], want[i]), top1Agreement(got[i], want[i], vocab)
		vsMLX := 0.0
		if mlx != nil {
			vsMLX = testutil.RelErr(got[i], floats(t, mlx, fmt.Sprintf("logits_%d", i)))
		}
		t.Logf("prompt %d (%d tokens): vs float reference relative error %.4f, top-1 agreement %.2f; vs mlx_lm %.2g",
			i, len(ids[i]), rel, top1, vsMLX)
		if rel == 0 {
			t.Errorf("prompt %d: relative error 0: nothing was quantized", i)
		}
		if rel > qc.maxRelErr || top1 < qc.minTop1 {
			// Past the bound, the converter is cleared only if mlx_lm's own
			// converter writes the very same bytes for this model and
			// LMX agrees with mlx_lm on them: then it is this quantization
			// of this model that moves its logits (an MoE router whose
			// top-k choice is a near-tie flips), not LMX.
			if mlx == nil || vsMLX > 1e-3 || !sameAsMLXLMConversion(t, py, src, qc) {
				t.Errorf("prompt %d: relative error %.4g (bound %g), top-1 agreement %.2f (bound %.2f)", i, rel, qc.maxRelErr, top1, qc.minTop1)
			} else {
				t.Logf("prompt %d: past the float bound (%.4g > %g or top-1 %.2f < %.2f), but mlx_lm's converter writes the same bytes and LMX agrees with mlx_lm on them (%.2g): the quantization itself moves this model",
					i, rel, qc.maxRelErr, top1, qc.minTop1, vsMLX)
			}
		}
		if vsMLX > 1e-3 {
			// Where mlx_lm itself departs from transformers on the float
			// model (Gemma 3 rounds √hidden to bfloat16 for float32 weights;
			// LMX follows transformers), that departure is allowed on top.
			dev := mlxFloatDeviation(t, py, src, ids[i], want[i])
			if vsMLX > 1e-3+dev {
				t.Errorf("prompt %d: LMX vs mlx_lm on the same quantized folder: relative error %.3g > 1e-3 + %.3g (mlx_lm's own float error)", i, vsMLX, dev)
			}
		}
	}
}

// mlxFloatDeviation is mlx_lm's relative error against the transformers
// reference on the float model (src copied by Convert unquantized, so that
// the config carries the fields mlx_lm reads) for one prompt; it fails the
// test above 1e-2 (then mlx_lm is no reference for this model at all).
func mlxFloatDeviation(t *testing.T, py bench.Python, src string, ids []int32, want []float32) float64 {
	float, _ := convert(t, src, Options{})
	out := filepath.Join(t.TempDir(), "mlx_lm_float.safetensors")
	if err := py.Logits(context.Background(), float, out, 0, ids); err != nil {
		t.Fatalf("mlx_lm on the float source: %v", err)
	}
	dev := testutil.RelErr(floats(t, reference(t, out), "logits_0"), want)
	t.Logf("mlx_lm on the float source: relative error %.3g against transformers", dev)
	if dev > 1e-2 {
		t.Fatalf("mlx_lm departs from transformers by %.3g on the float source", dev)
	}
	return dev
}

// checkSkipped verifies Convert's claim about each module it left in float:
// its width (the converted folder's float weight) is not a multiple of the
// group size, or of the module's own group size (the MoE router's 64).
func checkSkipped(t *testing.T, dir string, res *Result, qc quantCase) {
	tensors := headers(t, dir)
	for _, m := range res.Skipped {
		w, ok := tensors[m+".weight"]
		if !ok {
			w, ok = tensors["language_model."+m+".weight"]
		}
		if !ok || len(w.Shape) == 0 || w.Dtype == "U32" {
			t.Errorf("%s: left in float but its weight is %s %v", m, w.Dtype, w.Shape)
			continue
		}
		width := w.Shape[len(w.Shape)-1]
		own := qc.group
		if o := archQuant(t, dir, m); o != nil {
			own = o.GroupSize
		}
		if width%qc.group == 0 && width%own == 0 {
			t.Errorf("%s: left in float though its width %d is a multiple of %d", m, width, qc.group)
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
		if archQuant(t, dir, m) != nil {
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

// sameAsMLXLMConversion converts src to float with LMX (mlx_lm's layout),
// quantizes that with mlx_lm's own converter and with LMX's at qc, and
// reports whether both wrote the same tensors byte for byte.
func sameAsMLXLMConversion(t *testing.T, py bench.Python, src string, qc quantCase) bool {
	t.Helper()
	float, _ := convert(t, withTokenizer(t, src), Options{})
	testutil.PatchConfig(t, float, testutil.AsMLXLMType) // both converters read the same folder
	dst := filepath.Join(t.TempDir(), "mlx_lm")
	cmd := exec.Command(py.Interpreter, "-m", "mlx_lm", "convert", "--hf-path", float, "--mlx-path", dst,
		"-q", "--q-bits", strconv.Itoa(qc.bits), "--q-group-size", strconv.Itoa(qc.group))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("mlx_lm cannot convert %s at %d bits, group %d: %v\n%s", filepath.Base(src), qc.bits, qc.group, err, out)
		return false
	}
	ours, _ := convert(t, float, Options{Quantize: true, Bits: qc.bits, GroupSize: qc.group})
	a, b := tensorBytes(t, ours), tensorBytes(t, dst)
	if len(a) == 0 || len(a) != len(b) {
		t.Logf("LMX wrote %d tensors, mlx_lm %d", len(a), len(b))
		return false
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Logf("%s: LMX and mlx_lm wrote different bytes", name)
			return false
		}
	}
	return true
}
