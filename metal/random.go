package metal

import (
	"unsafe"
)

// Shim functions of random.cpp.
var (
	// int lmx_random_key(lmx_array* out, uint64_t seed);
	fnRandomKey uintptr
	// int lmx_random_split(lmx_array* out, lmx_array key, int32_t n);
	fnRandomSplit uintptr
	// int lmx_categorical(lmx_array* out, lmx_array logits, int32_t axis, lmx_array key);
	fnCategorical uintptr
	// int lmx_random_uniform(lmx_array* out, const int32_t* shape, int64_t ndim, int32_t dtype, lmx_array key);
	fnRandomUniform uintptr
)

var randomSyms = []sym{
	{"lmx_random_key", &fnRandomKey}, {"lmx_random_split", &fnRandomSplit},
	{"lmx_categorical", &fnCategorical}, {"lmx_random_uniform", &fnRandomUniform},
}

func loadRandom(lib uintptr) error { return bindSyms(lib, randomSyms) }

// RandomKey returns a PRNG key (uint32 [2]) for seed.
func RandomKey(seed uint64) *Array {
	mustInDo()
	r := call(fnRandomKey, outp(), uintptr(seed))
	return ret("random_key", r)
}

// RandomSplit derives n independent keys ([n, 2]) from key.
func RandomSplit(key *Array, n int) *Array {
	if !usable(key) {
		return &Array{}
	}
	r := call(fnRandomSplit, outp(), key.h, uintptr(n))
	return ret("random_split", r)
}

// Categorical samples indices (uint32) from the unnormalized log
// probabilities logits along axis; key nil uses MLX's global PRNG.
func Categorical(logits *Array, axis int, key *Array) *Array {
	kh, ok := optional(key)
	if !usable(logits) || !ok {
		return &Array{}
	}
	r := call(fnCategorical, outp(), logits.h, uintptr(axis), kh)
	return ret("categorical", r)
}

// RandomUniform samples uniformly from [0, 1).
func RandomUniform(shape []int, dt Dtype, key *Array) *Array {
	mustInDo()
	kh, ok := optional(key)
	if !ok {
		return &Array{}
	}
	s := ints32(shape)
	r := call(fnRandomUniform, outp(), uintptr(unsafe.Pointer(unsafe.SliceData(s))),
		uintptr(len(s)), uintptr(dt), kh)
	return ret("random_uniform", r)
}
