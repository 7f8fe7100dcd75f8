package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/store/library"
)

// PauseDownload stops download id, keeping its partial files for
// ResumeDownload.
func (a *App) PauseDownload(id string) error {
	mgr, _ := a.manager()
	if err := mgr.Pause(id); err != nil {
		return err
	}
	a.Publish()
	return nil
}

// ResumeDownload restarts a paused, failed or interrupted download where it
// stopped.
func (a *App) ResumeDownload(id string) error {
	mgr, _ := a.manager()
	if err := mgr.Resume(id); err != nil {
		return err
	}
	a.Publish()
	return nil
}

// HubModel describes repo on the Hub before a download: its weights' size,
// quantization and whether it fits the memory budget with the context the
// pool would reserve for it (max_position_embeddings, bounded by
// cache.max_kv_size), as the pool decides at load time.
func (a *App) HubModel(ctx context.Context, repo string) (api.HubModel, error) {
	_, client := a.manager()
	info, err := client.ModelInfo(ctx, repo, "main")
	if err != nil {
		return api.HubModel{}, err
	}
	cfg, err := client.ReadConfig(ctx, repo, info.Commit)
	if err != nil {
		return api.HubModel{}, err
	}
	sizes := map[string]int64{}
	var total int64
	for _, f := range info.Files {
		sizes[f.Name] = f.Size
		total += f.Size
	}
	hm := api.HubModel{Repo: repo, Commit: info.Commit, SizeBytes: total}
	hm.Quantization, hm.ContextTokens = remoteConfig(cfg)
	s, err := a.db.Settings()
	if err != nil {
		return api.HubModel{}, err
	}
	if s.Cache.MaxKVSize > 0 && (hm.ContextTokens == 0 || s.Cache.MaxKVSize < hm.ContextTokens) {
		hm.ContextTokens = s.Cache.MaxKVSize
	}
	// The KV cache as the engine will lay it out (sliding windows, latent
	// attention, state layers), with the cache settings the pool loads with.
	est, err := engine.EstimateConfig(cfg, library.WeightsBytes(sizes), hm.ContextTokens,
		engine.Options{MaxKVSize: s.Cache.MaxKVSize, KVBits: s.Cache.KVBits})
	if err != nil {
		hm.FitError = err.Error()
		return hm, nil
	}
	fit := library.FitKV(est.WeightBytes, est.KVBytes, a.MemoryBudget(s).Bytes)
	hm.Fit = &fit
	return hm, nil
}

// remoteConfig reads the quantization and context length of a config.json
// (its text_config for multimodal models).
func remoteConfig(raw []byte) (library.Quantization, int) {
	var c struct {
		Quant     *library.Quantization `json:"quantization"`
		QuantCfg  *library.Quantization `json:"quantization_config"`
		MaxPos    int                   `json:"max_position_embeddings"`
		TextCfg   json.RawMessage       `json:"text_config"`
		NumLayers int                   `json:"num_hidden_layers"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return library.Quantization{}, 0
	}
	if c.NumLayers == 0 && c.TextCfg != nil {
		q, n := remoteConfig(c.TextCfg)
		if c.Quant != nil {
			q = *c.Quant
		}
		return q, n
	}
	switch {
	case c.Quant != nil:
		return *c.Quant, c.MaxPos
	case c.QuantCfg != nil:
		return *c.QuantCfg, c.MaxPos
	}
	return library.Quantization{}, c.MaxPos
}

// ImportGGUF imports the GGUF file at path (absolute, on this machine) into
// the data folder, as `lmx serve --model FILE.gguf` does, and returns the
// library's model. The file is checked first (GGUF magic, a header and
// tensor directory within its size), so a wrong or truncated file is an
// invalid request; importing needs the MLX runtime.
func (a *App) ImportGGUF(ctx context.Context, path string) (api.LocalModel, error) {
	if err := checkGGUF(path); err != nil {
		return api.LocalModel{}, err
	}
	if err := a.engineError(); err != nil {
		return api.LocalModel{}, fmt.Errorf("%w: importing a GGUF file needs the MLX runtime: %v", api.ErrEngineUnavailable, err)
	}
	if a.ggufDir() == "" {
		return api.LocalModel{}, fmt.Errorf("%w: import %s: no data folder to keep the converted model in", api.ErrUnavailable, path)
	}
	dir, err := gguf.Cached(ctx, path, a.ggufDir())
	if err != nil {
		return api.LocalModel{}, err
	}
	list, err := a.ScanModels()
	if err != nil {
		return api.LocalModel{}, err
	}
	a.Publish()
	for _, m := range list {
		if m.Path == dir {
			return m, nil
		}
	}
	return api.LocalModel{}, fmt.Errorf("import %s: the library does not list %s after the import", path, dir)
}

// checkGGUF validates path as an importable GGUF file.
func checkGGUF(path string) error {
	bad := func(format string, args ...any) error {
		return &api.ParamError{Param: "path", Err: fmt.Errorf(format, args...)}
	}
	switch {
	case path == "":
		return bad("path is required: the absolute path of a .gguf file on this machine")
	case !filepath.IsAbs(path):
		return bad("path %q is not absolute", path)
	case !gguf.IsGGUF(path):
		return bad("%s is not a .gguf file", path)
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return bad("%s: %v", path, err)
	case !st.Mode().IsRegular():
		return bad("%s is not a regular file", path)
	}
	if _, err := gguf.Open(path); err != nil {
		return &api.ParamError{Param: "path", Err: err}
	}
	return nil
}
