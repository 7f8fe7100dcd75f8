package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/metal"
	"github.com/lmx-app/lmx/store"
)

// MetalEngine is the production Engine: metal.Load with its default search
// (LMX_MLX_LIB, beside the executable, the app bundle, the repository's
// build/lib), and MLX's device information read on the MLX thread.
func MetalEngine() Engine {
	return Engine{
		Load: func() error { return metal.Load("") },
		Device: func() (map[string]any, error) {
			var info map[string]any
			err := metal.Do(context.Background(), func() error {
				var err error
				info, err = metal.DeviceInfo()
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("mlx device info: %w", err)
			}
			return info, nil
		},
	}
}

// SystemMemory reads the host's memory with metal.SystemMemory (pure Go; no
// MLX library needed).
func SystemMemory() (api.Memory, error) {
	m, err := metal.SystemMemory()
	if err != nil {
		return api.Memory{}, err
	}
	return api.Memory{
		Total: m.Total, Available: m.Available, Free: m.Free, Used: m.Used,
		Wired: m.Wired, Active: m.Active, Inactive: m.Inactive,
		Compressed: m.Compressed, WiredLimit: m.WiredLimit,
	}, nil
}

// autoBudgetFraction is the share of the system memory the model pool may
// fill when memory.limit_bytes is 0 and MLX reports no recommended working
// set (the CPU and CUDA backends): the rest is left to the system and the
// other apps.
const autoBudgetFraction = 0.75

// MemoryBudget is what the loaded models' estimates may add up to:
// memory.limit_bytes when set; otherwise, on Metal, MLX's recommended
// working set (the device's max_recommended_working_set_size: what the GPU
// keeps resident without paging), and elsewhere 75% of the system memory.
// When none is known the budget is 0 ("unknown") and not enforced.
func (a *App) MemoryBudget(s store.Settings) api.PoolBudget {
	if s.Memory.LimitBytes > 0 {
		return api.PoolBudget{Bytes: s.Memory.LimitBytes, Source: "memory.limit_bytes"}
	}
	if ws := a.recommendedWorkingSet(); ws > 0 {
		return api.PoolBudget{Bytes: ws, Source: "recommended_working_set"}
	}
	if a.memory != nil {
		if m, err := a.memory(); err == nil && m.Total > 0 {
			return api.PoolBudget{Bytes: int64(autoBudgetFraction * float64(m.Total)), Source: "system_memory"}
		}
	}
	return api.PoolBudget{Source: "unknown"}
}

// recommendedWorkingSet is the MLX device's max_recommended_working_set_size
// (Metal only), or 0.
func (a *App) recommendedWorkingSet() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ws, _ := a.device["max_recommended_working_set_size"].(int64)
	return ws
}

// mlxDefaults are MLX's own memory and cache limits, recorded the first
// time a setting replaces them so that a setting back at 0 restores them.
// MLX's limits belong to the process, hence one record for the package.
var mlxDefaults struct {
	sync.Mutex
	memory, cache int64
}

// applyMemoryLimits hands the memory settings to MLX: the memory limit
// (memory.limit_bytes), the buffer cache limit (memory.cache_limit_bytes),
// each back to MLX's default at 0, and on macOS the wired limit
// (memory.wired_limit_bytes, at most the system's wired cap; 0 wires
// nothing, MLX's default). It runs before every model load and when the
// settings change; without the MLX runtime it does nothing.
func (a *App) applyMemoryLimits(s store.Settings) error {
	if a.engineError() != nil {
		return nil
	}
	mlxDefaults.Lock()
	defer mlxDefaults.Unlock()
	setLimit(&mlxDefaults.memory, s.Memory.LimitBytes, metal.SetMemoryLimit)
	setLimit(&mlxDefaults.cache, s.Memory.CacheLimitBytes, metal.SetCacheLimit)
	wired := a.wiredLimit(s.Memory.WiredLimitBytes)
	if _, err := metal.SetWiredLimit(wired); err != nil {
		return fmt.Errorf("set the wired limit to %s: %w", gb(wired), err)
	}
	return nil
}

// setLimit sets an MLX limit to v, or back to its default (*def, recorded
// on the first change) when v is 0.
func setLimit(def *int64, v int64, set func(int64) int64) {
	switch {
	case v > 0:
		if prev := set(v); *def == 0 {
			*def = prev
		}
	case *def > 0:
		set(*def)
	}
}

// wiredLimit caps the wired limit setting at what macOS allows: its
// iogpu.wired_limit_mb when raised, else the recommended working set.
func (a *App) wiredLimit(v int64) int64 {
	limit := a.recommendedWorkingSet()
	if a.memory != nil {
		if m, err := a.memory(); err == nil && m.WiredLimit > 0 {
			limit = int64(m.WiredLimit)
		}
	}
	if limit > 0 {
		return min(v, limit)
	}
	return v
}
