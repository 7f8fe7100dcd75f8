package library

import (
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

// FitKV estimates whether weights plus kv bytes of cache fit in budget
// bytes. The KV figure comes from engine.EstimateConfig, which knows each
// architecture's cache layout (sliding windows, latent attention, fixed
// states) from config.json alone.
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
