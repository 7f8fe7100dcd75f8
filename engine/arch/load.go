package arch

import (
	"fmt"
	"maps"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// Load reads a model folder (config.json and validated safetensors weights,
// sharded or not) and builds its model. Must run on the MLX thread. The
// model's arrays are evaluated and kept (the caller frees them with
// FreeModel); on error everything Load created is freed before it returns.
func Load(dir string) (Model, *model.Config, error) {
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	if _, err := Lookup(cfg.ModelType); err != nil {
		return nil, nil, err
	}
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		return nil, nil, err
	}
	var m Model
	metal.Scope(func() {
		m, err = buildFrom(cfg, headers)
	})
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// buildFrom loads the arrays, builds and evaluates the model, and keeps its
// arrays; it runs inside a scope so that a failure frees everything.
func buildFrom(cfg *model.Config, headers []*model.Header) (Model, error) {
	weights := map[string]*metal.Array{}
	for _, h := range headers {
		arrays, _, err := metal.LoadSafetensors(h.Path)
		if err != nil {
			return nil, fmt.Errorf("load weights %s: %w", h.Path, err)
		}
		maps.Copy(weights, arrays)
	}
	m, err := Build(cfg, weights)
	if err != nil {
		return nil, err
	}
	arrays := m.Arrays()
	if err := metal.Eval(arrays...); err != nil {
		return nil, fmt.Errorf("load weights: %w", err)
	}
	for _, a := range arrays {
		a.Keep()
	}
	return m, nil
}

// FreeModel releases every array of m. Must run on the MLX thread.
func FreeModel(m Model) {
	metal.FreeAll(m.Arrays()...)
}
