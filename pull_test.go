package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// TestPullThenGenerate is the path a user takes: `lmx pull` a model from the
// Hub (a local fake speaking the Hub's API), then the engine loads the pulled
// snapshot and reproduces the model's reference greedy tokens.
func TestPullThenGenerate(t *testing.T) {
	mlxtest.Require(t)
	fixture := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	hub := hubtest.New(t)
	repo := hub.AddFolder(t, "mlx-community/stories260k", fixture)
	cache := t.TempDir()

	var stdout, stderr bytes.Buffer
	args := []string{"pull", "mlx-community/stories260k", "--data-dir", t.TempDir(),
		"--hub-cache", cache, "--endpoint", hub.URL}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("lmx pull exited %d: %s", code, stderr.String())
	}
	snapshot := filepath.Join(cache, "models--mlx-community--stories260k", "snapshots", repo.Commit)

	want := referenceGreedy(t, fixture)
	m, err := engine.Load(context.Background(), snapshot, engine.Options{})
	if err != nil {
		t.Fatalf("load the pulled snapshot: %v", err)
	}
	defer m.Close(context.Background())
	res, err := m.Generate(context.Background(), engine.Request{
		Request:   generate.Request{Prompt: []int32{1}, MaxTokens: len(want)},
		IgnoreEOS: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tokens, want) {
		t.Fatalf("greedy tokens from the pulled model differ from the reference:\n got %v\nwant %v", res.Tokens, want)
	}
}

// referenceGreedy reads greedy_from_bos from the fixture's reference file,
// which lmx pull does not fetch (mlx-lm's file patterns leave it out).
func referenceGreedy(t *testing.T, dir string) []int32 {
	var ids []int32
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(dir, "reference.safetensors"))
		if err != nil {
			return err
		}
		ids, err = arrays["greedy_from_bos"].Int32s()
		return err
	})
	return ids
}
