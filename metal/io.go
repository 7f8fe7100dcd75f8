package metal

import (
	"fmt"
	"sort"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Shim functions of io.cpp.
var (
	// int lmx_load_safetensors(lmx_tensors* out, const char* path, int64_t* n_arrays, int64_t* n_meta);
	fnLoadSafetensors uintptr
	// int lmx_tensors_array(lmx_tensors t, int64_t i, const char** name, lmx_array* arr);
	fnTensorsArray uintptr
	// int lmx_tensors_meta(lmx_tensors t, int64_t i, const char** key, const char** value);
	fnTensorsMeta uintptr
	// int lmx_tensors_free(lmx_tensors t);
	fnTensorsFree uintptr
	// int lmx_save_safetensors(const char* path, const char* names, const lmx_array* arrs, int64_t n_arrays, const char* keys, const char* values, int64_t n_meta);
	fnSaveSafetensors uintptr
)

var ioSyms = []sym{
	{"lmx_load_safetensors", &fnLoadSafetensors}, {"lmx_tensors_array", &fnTensorsArray},
	{"lmx_tensors_meta", &fnTensorsMeta}, {"lmx_tensors_free", &fnTensorsFree},
	{"lmx_save_safetensors", &fnSaveSafetensors},
}

func loadIO(lib uintptr) error { return bindSyms(lib, ioSyms) }

// LoadSafetensors maps a .safetensors file: arrays (read lazily, when first
// evaluated) and the header's metadata. The arrays belong to the current
// scope unless kept. Errors are returned, not made sticky.
func LoadSafetensors(path string) (map[string]*Array, map[string]string, error) {
	mustInDo()
	var counts [2]int64
	p := cString(path)
	r, _, _ := purego.SyscallN(fnLoadSafetensors, outp(), uintptr(unsafe.Pointer(unsafe.SliceData(p))),
		uintptr(unsafe.Pointer(&counts[0])), uintptr(unsafe.Pointer(&counts[1])))
	if !status(r) {
		return nil, nil, fmt.Errorf("load safetensors %s: %w", path, lastError("load_safetensors"))
	}
	t := outSlots[0]
	defer purego.SyscallN(fnTensorsFree, t)
	arrays, err := loadedArrays(t, counts[0])
	if err != nil {
		return nil, nil, fmt.Errorf("load safetensors %s: %w", path, err)
	}
	meta, err := loadedMeta(t, counts[1])
	if err != nil {
		FreeAll(values(arrays)...)
		return nil, nil, fmt.Errorf("load safetensors %s: %w", path, err)
	}
	return arrays, meta, nil
}

func loadedArrays(t uintptr, n int64) (map[string]*Array, error) {
	out := make(map[string]*Array, n)
	var name uintptr
	for i := range n {
		r, _, _ := purego.SyscallN(fnTensorsArray, t, uintptr(i), uintptr(unsafe.Pointer(&name)), outp())
		if !status(r) {
			FreeAll(values(out)...)
			return nil, lastError("tensors_array")
		}
		out[goString(name)] = track(outSlots[0])
	}
	return out, nil
}

func loadedMeta(t uintptr, n int64) (map[string]string, error) {
	out := make(map[string]string, n)
	var kv [2]uintptr
	for i := range n {
		r, _, _ := purego.SyscallN(fnTensorsMeta, t, uintptr(i), uintptr(unsafe.Pointer(&kv[0])),
			uintptr(unsafe.Pointer(&kv[1])))
		if !status(r) {
			return nil, lastError("tensors_meta")
		}
		out[goString(kv[0])] = goString(kv[1])
	}
	return out, nil
}

func values(m map[string]*Array) []*Array {
	out := make([]*Array, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	return out
}

// SaveSafetensors evaluates arrays and writes them with meta to path.
// Errors are returned, not made sticky (except an unusable array).
func SaveSafetensors(path string, arrays map[string]*Array, meta map[string]string) error {
	mustInDo()
	names := sortedKeys(arrays)
	list := make([]*Array, len(names))
	for i, n := range names {
		list[i] = arrays[n]
	}
	hs := handles(list)
	if hs == nil && len(list) > 0 {
		return fmt.Errorf("save safetensors %s: %w", path, st.err)
	}
	keys := sortedKeys(meta)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = meta[k]
	}
	p, pn, pk, pv := cString(path), packed(names), packed(keys), packed(vals)
	r, _, _ := purego.SyscallN(fnSaveSafetensors, uintptr(unsafe.Pointer(unsafe.SliceData(p))),
		uintptr(unsafe.Pointer(unsafe.SliceData(pn))), uintptr(unsafe.Pointer(unsafe.SliceData(hs))),
		uintptr(len(hs)), uintptr(unsafe.Pointer(unsafe.SliceData(pk))),
		uintptr(unsafe.Pointer(unsafe.SliceData(pv))), uintptr(len(keys)))
	if !status(r) {
		return fmt.Errorf("save safetensors %s: %w", path, lastError("save_safetensors"))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// packed joins strings as NUL-terminated C strings back to back.
func packed(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return append(b, 0) // never empty, so the pointer is valid
}
