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
	cfg, headers, err := readFolder(dir)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadWeights(cfg, headers)
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// readFolder reads a model folder's config (of a supported architecture)
// and its weight files' validated headers.
func readFolder(dir string) (*model.Config, []*model.Header, error) {
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
	return cfg, headers, nil
}

// loadWeights builds the model from validated headers inside a scope, so
// that any failure frees everything, weights already read included (the
// evaluation itself fails when a file is cut short or unreadable after its
// header was checked).
func loadWeights(cfg *model.Config, headers []*model.Header) (Model, error) {
	var m Model
	var err error
	metal.Scope(func() {
		var weights map[string]*metal.Array
		if weights, err = openWeights(headers); err == nil {
			m, err = buildEval(cfg, weights)
		}
	})
	return m, err
}

// openWeights maps every weight file (lazily: data is read on evaluation).
func openWeights(headers []*model.Header) (map[string]*metal.Array, error) {
	weights := map[string]*metal.Array{}
	for _, h := range headers {
		arrays, _, err := metal.LoadSafetensors(h.Path)
		if err != nil {
			return nil, fmt.Errorf("load weights %s: %w", h.Path, err)
		}
		maps.Copy(weights, arrays)
	}
	return weights, nil
}

// buildEval builds and evaluates the model and keeps its arrays; it runs
// inside loadWeights' scope so that a failure frees everything.
func buildEval(cfg *model.Config, weights map[string]*metal.Array) (Model, error) {
	m, err := Build(cfg, weights)
	if err != nil {
		return nil, err
	}
	return m, evalKeep(m)
}

// evalKeep evaluates the model's arrays (reading the weights) and keeps them.
func evalKeep(m Model) error {
	arrays := m.Arrays()
	if err := metal.Eval(arrays...); err != nil {
		return fmt.Errorf("load weights: %w", err)
	}
	for _, a := range arrays {
		a.Keep()
	}
	return nil
}

// FreeModel releases every array of m. Must run on the MLX thread.
func FreeModel(m Model) {
	metal.FreeAll(m.Arrays()...)
}
