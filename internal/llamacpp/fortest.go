package llamacpp

import (
	"errors"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// ForTest starts a reference for a test and closes it when the test ends.
// Without node or the npm packages the test is skipped, or fails under
// LMX_REQUIRE_PY=1 (CI installs every reference implementation).
func ForTest(t testing.TB, opts Options) *Runner {
	t.Helper()
	r, err := Start(opts)
	if errors.Is(err, ErrNotInstalled) {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("llama.cpp reference: %v", err)
		}
	})
	return r
}
