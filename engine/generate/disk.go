package generate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// DiskFormatVersion is the version of the prefix cache's files. A file of
// another version is ignored and left for the LMX that wrote it (the size
// cap ages it out).
const DiskFormatVersion = 1

// The write policy. Only entries reused from memory are written, once each;
// on top of that at most one file per diskMinInterval and diskWindowBytes
// per diskWindow (one larger file when nothing else was written in the
// window): at most about 74 GB a day however busy the server, so an SSD
// rated for a few hundred TB written lasts its warranty. A write held back
// is tried again at the entry's next hit.
const (
	diskMinInterval = 10 * time.Second
	diskWindow      = 10 * time.Minute
	diskWindowBytes = 512 << 20
)

// Metadata keys of a prefix cache file (all values are strings).
const (
	metaFormat    = "lmx.format"
	metaVersion   = "lmx.version"
	metaModel     = "lmx.model"
	metaLayout    = "lmx.layout"
	metaLayers    = "lmx.layers"
	metaTokens    = "lmx.tokens"
	metaTokensSum = "lmx.tokens_sha256"
	metaSum       = "lmx.sha256"
	diskFormat    = "lmx-prefix-cache"
	tmpPrefix     = ".tmp-"
)

var (
	// errBadFile marks a file that is truncated or corrupt: it is removed.
	errBadFile = errors.New("corrupt prefix cache file")
	// errForeignFile marks another model's, version's or program's file: it
	// is left in place.
	errForeignFile = errors.New("foreign prefix cache file")
)

// DiskStats are the on-disk prefix cache's counters.
type DiskStats struct {
	// Files and Bytes are this model's indexed files; Limit caps the whole
	// directory (every model's files).
	Files        int
	Bytes, Limit int64
	// Writes and WrittenBytes count files written; Deferred the writes the
	// rate limit held back; Evicted the files the size cap deleted.
	Writes, WrittenBytes, Deferred, Evicted int64
	// Loads count files restored into memory, LoadedTokens their tokens.
	Loads, LoadedTokens int64
	// Rejected counts files ignored as truncated, corrupt, foreign or of
	// another version; WriteErrors the writes that failed.
	Rejected, WriteErrors int64
}

// DiskCache keeps reused prefixes of one model as safetensors files under
// <dir>/<modelID>/, so a restart or a model reload starts with them. An
// index of the files' tokens (read from their headers, not their tensors)
// is searched when memory has no better match; a file is validated in full
// (header, checksums, cache types) before it is restored. The directory is
// capped at limit bytes, least recently used files (by mtime, updated on
// every use) first out. After NewDiskCache, MLX thread only: the prefix
// cache calls it.
type DiskCache struct {
	root, dir, model string
	limit            int64
	logf             func(format string, args ...any)
	files            map[string]*diskFile // by path

	minInterval, window time.Duration
	windowBytes         int64
	writes              []diskWrite // within window, oldest first
	st                  DiskStats
}

// diskFile is one indexed file.
type diskFile struct {
	path   string
	key    string // layoutKey of its caches
	tokens []int32
	size   int64
}

type diskWrite struct {
	at    time.Time
	bytes int64
}

// diskLayer describes one layer's cache in a file's metadata.
type diskLayer struct {
	Type   string `json:"type"`
	Meta   []int  `json:"meta"`
	Arrays int    `json:"arrays"`
}

// NewDiskCache opens (making it) the cache directory of modelID under dir,
// indexes its files and applies the size cap. Files that are truncated or
// corrupt are removed, files of another model or version are left in place;
// each is logged through logf (nil: not logged).
func NewDiskCache(dir string, limitBytes int64, modelID string, logf func(format string, args ...any)) (*DiskCache, error) {
	if modelID == "" || modelID == "." || modelID == ".." || strings.ContainsAny(modelID, `/\`) {
		return nil, fmt.Errorf("prefix cache: model id %q cannot name a folder", modelID)
	}
	if limitBytes <= 0 {
		return nil, fmt.Errorf("prefix cache: disk limit %d bytes", limitBytes)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	d := &DiskCache{root: dir, dir: filepath.Join(dir, modelID), model: modelID, limit: limitBytes, logf: logf,
		files: map[string]*diskFile{}, minInterval: diskMinInterval, window: diskWindow, windowBytes: diskWindowBytes}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("prefix cache: %w", err)
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("prefix cache: %w", err)
	}
	for _, e := range entries {
		d.index(e)
	}
	d.enforce()
	return d, nil
}

// index adds one directory entry to the index; a temporary file is a write
// that a crash interrupted, and goes.
func (d *DiskCache) index(e os.DirEntry) {
	path := filepath.Join(d.dir, e.Name())
	switch {
	case strings.HasPrefix(e.Name(), tmpPrefix):
		_ = os.Remove(path)
	case strings.HasSuffix(e.Name(), ".safetensors") && e.Type().IsRegular():
		f, err := readDiskFile(path, d.model)
		if err != nil {
			d.reject(path, err)
			return
		}
		d.files[path] = f
	}
}

// reject drops a bad file from the index, logs it and removes it unless it
// is foreign.
func (d *DiskCache) reject(path string, err error) {
	d.st.Rejected++
	delete(d.files, path)
	if errors.Is(err, errForeignFile) {
		d.logf("prefix cache: ignoring %s: %v (left in place)", path, err)
		return
	}
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		d.logf("prefix cache: ignoring %s: %v (could not remove it: %v)", path, err, rmErr)
		return
	}
	d.logf("prefix cache: ignoring %s: %v (removed)", path, err)
}

// match returns the file of layout key sharing the longest prefix with
// prompt, and that prefix's length. A linear scan: the size cap keeps the
// files to hundreds, each compared only up to its first differing token.
func (d *DiskCache) match(key string, prompt []int32) (*diskFile, int) {
	var best *diskFile
	n := 0
	for _, f := range d.files {
		if f.key != key {
			continue
		}
		if k := commonPrefix(f.tokens, prompt); k > n {
			best, n = f, k
		}
	}
	return best, n
}

// covering returns a file of layout key holding all of tokens (nil: none).
func (d *DiskCache) covering(key string, tokens []int32) *diskFile {
	for _, f := range d.files {
		if f.key == key && len(f.tokens) >= len(tokens) && commonPrefix(f.tokens, tokens) == len(tokens) {
			return f
		}
	}
	return nil
}

// load reads f into fresh caches of m (MLX thread): the header is checked
// again (the file may have changed since it was indexed), then the tensors
// against the checksum, the cache types against m's and every restored
// cache's length against the tokens. A file that fails is rejected.
func (d *DiskCache) load(m arch.Model, opts arch.CacheOptions, f *diskFile) ([]cache.Cache, error) {
	caches, err := d.read(m, opts, f)
	if err != nil {
		if errors.Is(err, errBadFile) || errors.Is(err, errForeignFile) {
			d.reject(f.path, err)
		} else {
			d.logf("prefix cache: loading %s: %v", f.path, err)
		}
		return nil, err
	}
	d.touch(f)
	d.st.Loads++
	d.st.LoadedTokens += int64(len(f.tokens))
	return caches, nil
}

func (d *DiskCache) read(m arch.Model, opts arch.CacheOptions, f *diskFile) ([]cache.Cache, error) {
	g, err := readDiskFile(f.path, d.model)
	if err != nil {
		return nil, err
	}
	if g.key != f.key || !slices.Equal(g.tokens, f.tokens) {
		return nil, fmt.Errorf("%w: changed since it was indexed", errBadFile)
	}
	arrays, meta, err := metal.LoadSafetensors(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadFile, err)
	}
	layers, err := decodeLayers(meta[metaLayers])
	if err != nil {
		return nil, err
	}
	sum, err := fileSum(meta, layers, arrays)
	if err != nil {
		return nil, err
	}
	if sum != meta[metaSum] {
		return nil, fmt.Errorf("%w: tensors do not match their checksum", errBadFile)
	}
	caches, err := m.NewCaches(opts)
	if err != nil {
		return nil, err
	}
	if err := restoreLayers(caches, layers, arrays, len(f.tokens)); err != nil {
		freeCaches(caches)
		return nil, err
	}
	return caches, nil
}

// restoreLayers restores each cache from its layer's arrays (the caches
// take them over) and checks that it then holds n positions.
func restoreLayers(caches []cache.Cache, layers []diskLayer, arrays map[string]*metal.Array, n int) error {
	if len(layers) != len(caches) {
		return fmt.Errorf("%w: %d layers, the model has %d", errBadFile, len(layers), len(caches))
	}
	for l, c := range caches {
		if typ := fmt.Sprintf("%T", c); typ != layers[l].Type {
			return fmt.Errorf("%w: layer %d holds a %s, the model makes a %s", errBadFile, l, layers[l].Type, typ)
		}
		st := cache.State{Meta: layers[l].Meta}
		for i := range layers[l].Arrays {
			st.Arrays = append(st.Arrays, arrays[tensorName(l, i)])
		}
		if err := c.Restore(st); err != nil {
			return fmt.Errorf("%w: layer %d: %v", errBadFile, l, err)
		}
		if c.Offset() != n {
			return fmt.Errorf("%w: layer %d holds %d positions for %d tokens", errBadFile, l, c.Offset(), n)
		}
	}
	return nil
}

// save writes the caches of tokens (an entry of the memory cache) to a file
// unless one already holds them or they exceed the size cap (MLX thread).
// False when the rate limit held the write back: a later hit may retry.
func (d *DiskCache) save(key string, tokens []int32, caches []cache.Cache) bool {
	if d.covering(key, tokens) != nil {
		return true
	}
	done := true
	metal.Scope(func() {
		states := make([]cache.State, len(caches))
		var size int64
		for i, c := range caches {
			states[i] = c.State()
			for _, a := range states[i].Arrays {
				size += int64(a.Nbytes())
			}
		}
		switch {
		case size > d.limit:
		case !d.allow(size):
			d.st.Deferred++
			done = false
		default:
			d.write(key, tokens, caches, states)
		}
	})
	return done
}

// allow applies the rate limit to a write of size bytes and records it.
func (d *DiskCache) allow(size int64) bool {
	now := time.Now()
	var recent int64
	kept := d.writes[:0]
	for _, w := range d.writes {
		if now.Sub(w.at) < d.window {
			kept = append(kept, w)
			recent += w.bytes
		}
	}
	d.writes = kept
	if n := len(kept); n > 0 && (now.Sub(kept[n-1].at) < d.minInterval || recent+size > d.windowBytes) {
		return false
	}
	d.writes = append(d.writes, diskWrite{at: now, bytes: size})
	return true
}

// write saves one file through a temporary name, so a crash never leaves a
// partial file under a real name; files whose tokens it extends go.
func (d *DiskCache) write(key string, tokens []int32, caches []cache.Cache, states []cache.State) {
	path := filepath.Join(d.dir, sha(append([]byte(key+"\x00"), tokenBytes(tokens)...))[:32]+".safetensors")
	if err := d.writeFile(path, key, tokens, caches, states); err != nil {
		d.st.WriteErrors++
		d.logf("prefix cache: writing %s: %v", path, err)
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		d.st.WriteErrors++
		d.logf("prefix cache: writing %s: %v", path, err)
		return
	}
	f := &diskFile{path: path, key: key, tokens: tokens, size: st.Size()}
	for _, g := range d.files {
		if g.key == key && len(g.tokens) < len(tokens) && commonPrefix(g.tokens, tokens) == len(g.tokens) {
			_ = os.Remove(g.path)
			delete(d.files, g.path)
		}
	}
	d.files[path] = f
	d.st.Writes++
	d.st.WrittenBytes += f.size
	d.enforce()
}

// touch marks a file as just used, for the size cap's LRU order.
func (d *DiskCache) touch(f *diskFile) {
	now := time.Now()
	_ = os.Chtimes(f.path, now, now)
}

// enforce deletes the least recently used files of every model under the
// directory until they fit in the limit.
func (d *DiskCache) enforce() {
	type use struct {
		path string
		size int64
		at   time.Time
	}
	paths, _ := filepath.Glob(filepath.Join(d.root, "*", "*.safetensors"))
	var all []use
	var total int64
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil || strings.HasPrefix(filepath.Base(p), tmpPrefix) || !info.Mode().IsRegular() {
			continue
		}
		all = append(all, use{p, info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	for _, u := range all {
		if total <= d.limit {
			break
		}
		if os.Remove(u.path) == nil {
			total -= u.size
			delete(d.files, u.path)
			d.st.Evicted++
		}
	}
}

// Clear deletes this model's indexed files and empties the index, returning
// how many files and bytes went. MLX thread only, like the rest (run it
// through metal.Do).
func (d *DiskCache) Clear() (files int, bytes int64) {
	for path, f := range d.files {
		if err := os.Remove(path); err == nil || errors.Is(err, os.ErrNotExist) {
			files++
			bytes += f.size
		} else {
			d.logf("prefix cache: could not remove %s: %v", path, err)
		}
		delete(d.files, path)
	}
	return files, bytes
}

// stats returns the counters.
func (d *DiskCache) stats() DiskStats {
	st := d.st
	st.Files, st.Limit = len(d.files), d.limit
	for _, f := range d.files {
		st.Bytes += f.size
	}
	return st
}

// fromDisk loads the file sharing the longest prefix with prompt into the
// memory cache when it gives more tokens than the memory match (matched),
// and returns the memory cache's new match; nil when it does not.
func (p *prefixCache) fromDisk(m arch.Model, opts arch.CacheOptions, key string, prompt []int32, matched int) (*prefixEntry, int) {
	if p.disk == nil {
		return nil, 0
	}
	f, n := p.disk.match(key, prompt)
	last := len(prompt) - 1
	if f == nil || min(n, last) <= min(matched, last) || f.size > p.limit {
		return nil, 0
	}
	caches, err := p.disk.load(m, opts, f)
	if err != nil {
		return nil, 0
	}
	e := p.insert(m, opts, f.tokens, caches)
	if e == nil {
		return nil, 0
	}
	e.onDisk = true
	return p.lookup(key, prompt)
}

// persist runs on a memory hit of e: the first writes it to disk (rate
// limit permitting: a held-back write is retried at a later hit), later
// ones mark its file as recently used.
func (p *prefixCache) persist(e *prefixEntry) {
	if p.disk == nil {
		return
	}
	if e.onDisk {
		if f := p.disk.covering(e.key, e.tokens); f != nil {
			p.disk.touch(f)
		}
		return
	}
	e.onDisk = p.disk.save(e.key, e.tokens, e.caches)
}
