package arch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// TestFailureAfterEvaluationFreesWeights covers the one failure Load can
// meet after weights are in memory: every check runs before evaluation, so
// it is the evaluation itself failing part-way, here because the file lost
// its last bytes after MLX opened it (a file changed on disk). The test runs
// loadWeights' two steps, reads every tensor but the last one in the file
// (MLX's own read order is not fixed), then cuts the file: active memory
// must return to where it was.
func TestFailureAfterEvaluationFreesWeights(t *testing.T) {
	mlxtest.Require(t)
	dir := copyModel(t, filepath.Join(fixtureModels(t)[0], "..", "qwen3_moe"), nil, 0)
	cfg, err := model.ReadConfig(dir)
	must(t, err)
	headers, err := model.WeightHeaders(dir)
	must(t, err)
	path := filepath.Join(dir, "model.safetensors")
	info, err := os.Stat(path)
	must(t, err)
	var before, materialized, after int64
	err = metal.Do(context.Background(), func() error {
		metal.ClearCache()
		metal.ResetPeakMemory()
		before = metal.ActiveMemory()
		var loadErr error
		metal.Scope(func() {
			var weights map[string]*metal.Array
			if weights, loadErr = openWeights(headers); loadErr != nil {
				return
			}
			if loadErr = metal.Eval(readable(headers[0], weights)...); loadErr != nil {
				return
			}
			materialized = metal.ActiveMemory()
			if loadErr = os.Truncate(path, info.Size()-16); loadErr == nil {
				_, loadErr = buildEval(cfg, weights)
			}
		})
		after = metal.ActiveMemory()
		return loadErr
	})
	if err == nil || !strings.Contains(err.Error(), "read") {
		t.Errorf("loading a file cut after it was opened: err %v, want a read failure", err)
	}
	t.Logf("%d of %d weight bytes in memory at the failure; active memory %d before, %d after", materialized-before, info.Size(), before, after)
	if read := materialized - before; read < info.Size()/2 {
		t.Errorf("only %d of %d weight bytes were in memory at the failure", read, info.Size())
	}
	if after != before {
		t.Errorf("active memory %d after the failed load, %d before", after, before)
	}
}

// readable returns the loaded arrays of every tensor of h but the one whose
// data ends the file.
func readable(h *model.Header, weights map[string]*metal.Array) []*metal.Array {
	var last string
	for name, info := range h.Tensors {
		if last == "" || info.Offsets[1] > h.Tensors[last].Offsets[1] {
			last = name
		}
	}
	var out []*metal.Array
	for name := range h.Tensors {
		if a, ok := weights[name]; ok && name != last {
			out = append(out, a)
		}
	}
	return out
}
