package generate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// readDiskFile reads and checks a file's header: its tensors' byte ranges
// against the file size (truncation), its format, version and model, and
// its tokens against their checksum. The tensors are checked on load.
func readDiskFile(path, modelID string) (*diskFile, error) {
	h, err := model.ReadHeader(path)
	if err != nil { // its message starts with the path, which reject names
		return nil, fmt.Errorf("%w: %s", errBadFile, strings.TrimPrefix(err.Error(), path+": "))
	}
	md := h.Metadata
	switch {
	case md[metaFormat] != diskFormat:
		return nil, fmt.Errorf("%w: not an LMX prefix cache file", errForeignFile)
	case md[metaVersion] != strconv.Itoa(DiskFormatVersion):
		return nil, fmt.Errorf("%w: format version %q, this LMX reads %d", errForeignFile, md[metaVersion], DiskFormatVersion)
	case md[metaModel] != modelID:
		return nil, fmt.Errorf("%w: written for model %q, not %q", errForeignFile, md[metaModel], modelID)
	}
	tokens, err := decodeTokens(md[metaTokens])
	if err != nil {
		return nil, err
	}
	if sha(tokenBytes(tokens)) != md[metaTokensSum] {
		return nil, fmt.Errorf("%w: tokens do not match their checksum", errBadFile)
	}
	layers, err := decodeLayers(md[metaLayers])
	if err != nil {
		return nil, err
	}
	if err := checkTensors(h, layers); err != nil {
		return nil, err
	}
	if md[metaLayout] == "" || md[metaSum] == "" || len(tokens) == 0 {
		return nil, fmt.Errorf("%w: layout, checksum or tokens missing", errBadFile)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadFile, err)
	}
	return &diskFile{path: path, key: md[metaLayout], tokens: tokens, size: st.Size()}, nil
}

// checkTensors verifies that the header has exactly the layers' tensors.
func checkTensors(h *model.Header, layers []diskLayer) error {
	n := 0
	for l, ly := range layers {
		for i := range ly.Arrays {
			if _, ok := h.Tensors[tensorName(l, i)]; !ok {
				return fmt.Errorf("%w: tensor %s missing", errBadFile, tensorName(l, i))
			}
			n++
		}
	}
	if n != len(h.Tensors) || n == 0 {
		return fmt.Errorf("%w: %d tensors, the layers name %d", errBadFile, len(h.Tensors), n)
	}
	return nil
}

func (d *DiskCache) writeFile(path, key string, tokens []int32, caches []cache.Cache, states []cache.State) error {
	layers := make([]diskLayer, len(caches))
	arrays := map[string]*metal.Array{}
	for l, c := range caches {
		// A KV-shared layer's cache holds nothing: its source's has it.
		if _, shared := c.(*cache.Shared); len(states[l].Arrays) == 0 && !shared {
			return fmt.Errorf("layer %d has no state", l)
		}
		layers[l] = diskLayer{Type: fmt.Sprintf("%T", c), Meta: states[l].Meta, Arrays: len(states[l].Arrays)}
		for i, a := range states[l].Arrays {
			arrays[tensorName(l, i)] = a
		}
	}
	lj, err := json.Marshal(layers)
	if err != nil {
		return err
	}
	tb := tokenBytes(tokens)
	meta := map[string]string{
		metaFormat: diskFormat, metaVersion: strconv.Itoa(DiskFormatVersion), metaModel: d.model,
		metaLayout: key, metaLayers: string(lj), metaTokens: base64.StdEncoding.EncodeToString(tb), metaTokensSum: sha(tb),
	}
	if meta[metaSum], err = fileSum(meta, layers, arrays); err != nil {
		return err
	}
	// MLX adds .safetensors to a name without it, so the temporary name ends so.
	tmp, err := os.CreateTemp(d.dir, tmpPrefix+"*.safetensors")
	if err != nil {
		return err
	}
	tmp.Close()
	if err := metal.SaveSafetensors(tmp.Name(), arrays, meta); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// fileSum is the checksum of a file's content: its model, layout, layers
// and tokens, then each tensor's name, dtype, shape and bytes in layer order.
// Evaluates the arrays (MLX thread).
func fileSum(meta map[string]string, layers []diskLayer, arrays map[string]*metal.Array) (string, error) {
	h := sha256.New()
	for _, k := range []string{metaModel, metaLayout, metaLayers, metaTokens} {
		writeField(h, meta[k])
	}
	for l, ly := range layers {
		for i := range ly.Arrays {
			name := tensorName(l, i)
			a := arrays[name]
			if a == nil {
				return "", fmt.Errorf("%w: tensor %s missing", errBadFile, name)
			}
			writeField(h, fmt.Sprintf("%s %s %v", name, a.Dtype(), a.Shape()))
			b, err := a.Bytes()
			if err != nil {
				return "", fmt.Errorf("read %s: %w", name, err)
			}
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeField hashes s with its length, so fields cannot run into each other.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	io.WriteString(h, s)
}

func tensorName(layer, i int) string { return fmt.Sprintf("l%d.%d", layer, i) }

// tokenBytes encodes tokens as little-endian int32.
func tokenBytes(tokens []int32) []byte {
	b := make([]byte, 4*len(tokens))
	for i, t := range tokens {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return b
}

func decodeTokens(s string) ([]int32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: tokens are not base64 of int32s", errBadFile)
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

func decodeLayers(s string) ([]diskLayer, error) {
	var layers []diskLayer
	if err := json.Unmarshal([]byte(s), &layers); err != nil || len(layers) == 0 {
		return nil, fmt.Errorf("%w: bad layer list %q", errBadFile, s)
	}
	return layers, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ModelID identifies a model folder's weights for the disk prefix cache
// without reading them all: a hash of config.json, and of each weight
// file's name, size and eight 4 KiB samples spread over it (so a fine-tune
// with the same shapes gets another id). A caller that loads the same
// weights differently (another dtype) must add that to the id.
func ModelID(dir string) (string, error) {
	h := sha256.New()
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("model id: %w", err)
	}
	writeField(h, string(cfg))
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		return "", fmt.Errorf("model id: %w", err)
	}
	for _, wh := range headers {
		if err := hashSamples(h, wh.Path); err != nil {
			return "", fmt.Errorf("model id: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// hashSamples hashes a file's name, size and eight spread 4 KiB samples.
func hashSamples(h hash.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	writeField(h, fmt.Sprintf("%s %d", filepath.Base(path), info.Size()))
	buf := make([]byte, 4096)
	for i := range int64(8) {
		n, err := f.ReadAt(buf, info.Size()*i/8)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		h.Write(buf[:n])
	}
	return nil
}
