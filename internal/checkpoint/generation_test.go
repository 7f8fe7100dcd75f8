package checkpoint

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

func TestReadGenerationConfig(t *testing.T) {
	dir := filepath.Join(testutil.Fixtures(t), "models", "phi3")
	g, err := ReadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := MergeEOS(c.EOSTokenIDs, g.EOSTokenIDs, []int{7, 32000}); !slices.Equal(got, []int{32000, 7}) {
		t.Errorf("merged eos %v", got)
	}
	g, err = ReadGenerationConfig(t.TempDir())
	if err != nil || len(g.EOSTokenIDs) != 0 {
		t.Errorf("missing file: %v %v", g, err)
	}
}
