package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// indexFile is the shard index mlx-lm writes beside the weights.
const indexFile = "model.safetensors.index.json"

// copied are the files taken over from the source folder as they are: the
// tokenizer in its every form, chat templates and generation defaults.
var copied = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
	"added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
	"generation_config.json",
}

// save writes the arrays in shards of at most limit bytes (mlx-lm's
// make_shards over the sorted names) and the index; each shard's arrays are
// freed once written. Must run on the MLX thread.
func (o *output) save(ctx context.Context, dst string, limit int64, res *Result) error {
	names := slices.Sorted(maps.Keys(o.arrays))
	defer func() {
		for _, a := range o.arrays {
			a.Free()
		}
	}()
	shards := planShards(names, o.arrays, limit)
	weightMap := make(map[string]string, len(names))
	for i, shard := range shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		file := shardName(i, len(shards))
		if err := o.saveShard(filepath.Join(dst, file), shard); err != nil {
			return err
		}
		for _, n := range shard {
			weightMap[n] = file
			res.TotalBytes += int64(o.arrays[n].Nbytes())
			o.arrays[n].Free()
		}
		res.Shards = append(res.Shards, file)
	}
	return writeIndex(dst, res, weightMap)
}

// saveShard writes the named arrays to one safetensors file.
func (o *output) saveShard(path string, names []string) error {
	m := make(map[string]*metal.Array, len(names))
	for _, n := range names {
		m[n] = o.arrays[n]
	}
	return metal.SaveSafetensors(path, m, map[string]string{"format": "mlx"})
}

// planShards groups names in order into shards of at most limit bytes; a
// larger tensor gets a shard of its own.
func planShards(names []string, arrays map[string]*metal.Array, limit int64) [][]string {
	var shards [][]string
	var size int64
	for _, n := range names {
		b := int64(arrays[n].Nbytes())
		if len(shards) == 0 || size+b > limit {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], n)
		size += b
	}
	return shards
}

// shardName is mlx-lm's file name for shard i of n.
func shardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

// writeIndex writes model.safetensors.index.json as mlx-lm does (always,
// even for one shard).
func writeIndex(dst string, res *Result, weightMap map[string]string) error {
	index := struct {
		Metadata struct {
			TotalSize       int64 `json:"total_size"`
			TotalParameters int64 `json:"total_parameters"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{WeightMap: weightMap}
	index.Metadata.TotalSize, index.Metadata.TotalParameters = res.TotalBytes, res.TotalParams
	return WriteJSON(filepath.Join(dst, indexFile), index)
}

// writeConfig writes config.json: the source's fields, with mlx-lm's edits
// (generation_config.json's eos_token_id, no _name_or_path or
// vision_config), the old field names mlx_lm reads (addMLXLMFields) and, when quantizing, the quantization block under both of
// mlx-lm's names.
func writeConfig(s *source, dst string, quant map[string]any) error {
	data, err := os.ReadFile(filepath.Join(s.dir, "config.json"))
	if err != nil {
		return fmt.Errorf("read model config: %w", err)
	}
	var cfg map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("parse model config: %w", err)
	}
	addMLXLMFields(cfg)
	delete(cfg, "_name_or_path")
	delete(cfg, "vision_config")
	if err := mergeGenerationEOS(s.dir, cfg); err != nil {
		return err
	}
	if quant != nil {
		cfg["quantization"], cfg["quantization_config"] = quant, quant
	}
	return WriteJSON(filepath.Join(dst, "config.json"), cfg)
}

// mergeGenerationEOS sets eos_token_id from generation_config.json when that
// file names one (mlx-lm's load_config does, and convert saves the result).
func mergeGenerationEOS(dir string, cfg map[string]any) error {
	gen, err := model.ReadGenerationConfig(dir)
	if err != nil {
		return err
	}
	switch len(gen.EOSTokenIDs) {
	case 0:
	case 1:
		cfg["eos_token_id"] = gen.EOSTokenIDs[0]
	default:
		cfg["eos_token_id"] = gen.EOSTokenIDs
	}
	return nil
}

// WriteJSON writes v as the model folder's JSON files are written: indented
// by four spaces, keys sorted, without HTML escaping (chat templates hold <
// and >). engine/gguf writes its files with it too.
func WriteJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// copyFiles copies the tokenizer and generation files that src has.
func copyFiles(src, dst string) error {
	for _, name := range copied {
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return nil
}

// copyFile copies one file.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
