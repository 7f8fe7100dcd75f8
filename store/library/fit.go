package library

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Verdict is the answer to "will it fit".
type Verdict string

// Verdicts of Fit.
const (
	Fits    Verdict = "fits"     // needs at most TightFraction of the budget
	Tight   Verdict = "tight"    // fits, but leaves little for the rest of the system
	WontFit Verdict = "wont_fit" // needs more than the budget
)

// TightFraction of the budget is the most a model may need and still "fit"
// comfortably; above it, up to the whole budget, it is "tight".
const TightFraction = 0.8

// FitResult carries the verdict with the numbers behind it.
type FitResult struct {
	Verdict      Verdict `json:"verdict"`
	WeightsBytes int64   `json:"weights_bytes"`
	KVBytes      int64   `json:"kv_bytes"` // KV cache for the whole context
	NeedBytes    int64   `json:"need_bytes"`
	BudgetBytes  int64   `json:"budget_bytes"`
}

// Fit estimates whether weights plus a KV cache of contextTokens fit in
// budget bytes.
func Fit(weightsBytes, kvBytesPerToken int64, contextTokens int, budget int64) FitResult {
	return FitKV(weightsBytes, kvBytesPerToken*int64(contextTokens), budget)
}

// FitKV is Fit with the KV cache's bytes already summed (an estimate that
// knows the architecture's layout: sliding windows, fixed states).
func FitKV(weightsBytes, kv int64, budget int64) FitResult {
	r := FitResult{WeightsBytes: weightsBytes, KVBytes: kv, NeedBytes: weightsBytes + kv, BudgetBytes: budget}
	switch {
	case float64(r.NeedBytes) <= TightFraction*float64(budget):
		r.Verdict = Fits
	case r.NeedBytes <= budget:
		r.Verdict = Tight
	default:
		r.Verdict = WontFit
	}
	return r
}

// KVBytesPerToken is 2 (K and V) × layers × kv_heads × head_dim × dtype
// bytes, read from a config.json (its text_config for multimodal models).
func KVBytesPerToken(configJSON []byte) (int64, error) {
	var c struct {
		Layers     int64           `json:"num_hidden_layers"`
		Heads      int64           `json:"num_attention_heads"`
		KVHeads    int64           `json:"num_key_value_heads"`
		HeadDim    int64           `json:"head_dim"`
		Hidden     int64           `json:"hidden_size"`
		TorchDType string          `json:"torch_dtype"`
		DType      string          `json:"dtype"`
		Text       json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(configJSON, &c); err != nil {
		return 0, fmt.Errorf("parse config: %w", err)
	}
	if c.Layers == 0 && c.Text != nil {
		return KVBytesPerToken(c.Text)
	}
	if c.Layers <= 0 || c.Heads <= 0 {
		return 0, fmt.Errorf("config lacks num_hidden_layers or num_attention_heads")
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	dtype := c.TorchDType
	if dtype == "" {
		dtype = c.DType
	}
	return 2 * c.Layers * c.KVHeads * c.HeadDim * dtypeBytes(dtype), nil
}

// dtypeBytes is the width of a config dtype; MLX runs unknown ones in float16.
func dtypeBytes(dtype string) int64 {
	if dtype == "float32" {
		return 4
	}
	return 2
}

// Memory is what the machine offers, filled by the caller from
// metal.SystemMemory (which reads /proc/meminfo on Linux and sysctl on
// macOS: the one place the host's memory is parsed).
type Memory struct {
	TotalBytes      int64 `json:"total_bytes"`
	AvailableBytes  int64 `json:"available_bytes"`
	WiredLimitBytes int64 `json:"wired_limit_bytes"`
}

// Budget is what a model may use: the wired limit where there is one (the
// GPU's share of unified memory), else the available memory, else the total.
func (m Memory) Budget() int64 {
	switch {
	case m.WiredLimitBytes > 0:
		return m.WiredLimitBytes
	case m.AvailableBytes > 0:
		return m.AvailableBytes
	}
	return m.TotalBytes
}

// WeightsBytes sums the sizes of the weight files mlx-lm loads
// (model*.safetensors) among names with sizes.
func WeightsBytes(sizes map[string]int64) int64 {
	var total int64
	for name, size := range sizes {
		if ok, _ := filepath.Match("model*.safetensors", filepath.Base(name)); ok {
			total += size
		}
	}
	return total
}

// FitFolder estimates whether the model in dir fits with contextTokens of
// KV cache in budget bytes.
func FitFolder(dir string, contextTokens int, budget int64) (FitResult, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return FitResult{}, fmt.Errorf("fit: %w", err)
	}
	kv, err := KVBytesPerToken(cfg)
	if err != nil {
		return FitResult{}, fmt.Errorf("fit %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return FitResult{}, fmt.Errorf("fit: %w", err)
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil { // follows snapshot links
			sizes[e.Name()] = fi.Size()
		}
	}
	return Fit(WeightsBytes(sizes), kv, contextTokens, budget), nil
}
