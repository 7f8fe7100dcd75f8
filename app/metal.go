package app

import (
	"context"
	"fmt"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/metal"
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
