package arch

import (
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/testutil"
)

// repoFixture returns the folder of one of the repository's fixture models.
func repoFixture(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range testutil.ModelFixtures(t) {
		if filepath.Base(dir) == name {
			return dir
		}
	}
	t.Fatalf("no fixture model %q", name)
	return ""
}

// parseConfig parses a config.json text, failing the test on error.
func parseConfig(t *testing.T, js string) *model.Config {
	t.Helper()
	c, err := model.ParseConfig("config.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requireMismatch checks that m, changed by the caller to drop one feature
// of its architecture, no longer matches the fixture's reference on some
// prompt: the fixture exercises that feature.
func requireMismatch(t *testing.T, m Model, dir, what string) {
	t.Helper()
	if bad := logitsMismatches(t, m, readReference(t, dir)); len(bad) == 0 {
		t.Errorf("%s: the logits still match the reference without %s: the fixture does not test it", filepath.Base(dir), what)
	}
}
