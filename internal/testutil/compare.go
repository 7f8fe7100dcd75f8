package testutil

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// RelErr is ‖got−want‖/‖want‖, the fixtures' measure of agreement. Anything
// that is not a real comparison gives +Inf, so a check "RelErr(...) > tol"
// can never pass by accident: slices of different lengths, an empty or
// all-zero reference (a missing tensor reads as nil), and a NaN or ±Inf on
// either side.
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) || len(want) == 0 {
		return math.Inf(1)
	}
	var diff, norm float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) || math.IsNaN(w) || math.IsInf(w, 0) {
			return math.Inf(1)
		}
		diff += (g - w) * (g - w)
		norm += w * w
	}
	if norm == 0 {
		return math.Inf(1)
	}
	return math.Sqrt(diff / norm)
}

// ModelFixtures lists every model fixture folder: each folder of the shared
// fixtures' models/ and of any testdata/models/ in the repository (up to
// three levels down, e.g. engine/arch/testdata/models), sorted by path. A
// folder named in except (by base name) is left out. No per-model list:
// fixtures added in either place are picked up.
func ModelFixtures(t testing.TB, except ...string) []string {
	t.Helper()
	roots := []string{filepath.Join(Fixtures(t), "models")}
	repo := RepoRoot(t)
	for _, pat := range []string{"*/testdata/models", "*/*/testdata/models", "*/*/*/testdata/models"} {
		m, err := filepath.Glob(filepath.Join(repo, pat))
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, m...)
	}
	var dirs []string
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() && !slices.Contains(except, e.Name()) {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no model fixtures under %v", roots)
	}
	return dirs
}
