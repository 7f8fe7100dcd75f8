// Package model is the engine's view of a Hugging Face / mlx-community model
// folder. The format itself (config.json, MLX quantization settings,
// safetensors headers, shard indexes) is read by internal/checkpoint, the
// one reader the library scan shares; this package re-exports it under the
// names the engine uses.
package model

import "github.com/lmx-app/lmx/internal/checkpoint"

// The checkpoint reader's types.
type (
	// Config is config.json, normalized across transformers versions.
	Config = checkpoint.Config
	// Rope is one rotary-embedding setting.
	Rope = checkpoint.Rope
	// QuantParams are the MLX quantization parameters of one module.
	QuantParams = checkpoint.QuantParams
	// Quantization is config.json's "quantization" object.
	Quantization = checkpoint.Quantization
	// Header is the parsed header of a safetensors file.
	Header = checkpoint.Header
	// TensorInfo describes one tensor of a safetensors file.
	TensorInfo = checkpoint.TensorInfo
	// GenerationConfig is what generation_config.json contributes.
	GenerationConfig = checkpoint.GenerationConfig
)

// The checkpoint reader's errors (the same values: errors.Is matches either name).
var (
	ErrInvalidConfig  = checkpoint.ErrInvalidConfig
	ErrCorruptWeights = checkpoint.ErrCorruptWeights
	ErrMissingShard   = checkpoint.ErrMissingShard
	ErrNoWeights      = checkpoint.ErrNoWeights
)

// ReadConfig reads and normalizes dir/config.json.
func ReadConfig(dir string) (*Config, error) { return checkpoint.ReadConfig(dir) }

// ParseConfig normalizes the JSON of a config.json; path is used in errors.
func ParseConfig(path string, data []byte) (*Config, error) {
	return checkpoint.ParseConfig(path, data)
}

// ReadHeader reads and validates the header of a safetensors file.
func ReadHeader(path string) (*Header, error) { return checkpoint.ReadHeader(path) }

// WeightHeaders finds a folder's weight files and returns their validated headers.
func WeightHeaders(dir string) ([]*Header, error) { return checkpoint.WeightHeaders(dir) }

// ReadGenerationConfig reads dir/generation_config.json (missing: empty).
func ReadGenerationConfig(dir string) (*GenerationConfig, error) {
	return checkpoint.ReadGenerationConfig(dir)
}

// MergeEOS returns the EOS ids of the lists together, first-seen order.
func MergeEOS(lists ...[]int) []int { return checkpoint.MergeEOS(lists...) }

// For this package's tests of the header reader (fuzz_test.go).
const maxHeaderBytes = checkpoint.MaxHeaderBytes

var dtypeSizes = checkpoint.DtypeSizes()
