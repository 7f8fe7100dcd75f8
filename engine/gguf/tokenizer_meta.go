package gguf

import "fmt"

// Typed access to metadata values, as File.Metadata holds them. A key that is
// absent gives ok false; a key of another type is an error naming it.

func metaValue[T any](md map[string]any, key, want string) (T, bool, error) {
	var zero T
	raw, ok := md[key]
	if !ok {
		return zero, false, nil
	}
	v, ok := raw.(T)
	if !ok {
		return zero, false, fmt.Errorf("%w: metadata %s is %T, want %s", ErrCorrupt, key, raw, want)
	}
	return v, true, nil
}

func metaString(md map[string]any, key string) (string, bool, error) {
	return metaValue[string](md, key, "a string")
}

func metaInt(md map[string]any, key string) (int64, bool, error) {
	return metaValue[int64](md, key, "an integer")
}

func metaBool(md map[string]any, key string) (bool, bool, error) {
	return metaValue[bool](md, key, "a bool")
}

func metaStrings(md map[string]any, key string) ([]string, bool, error) {
	return metaValue[[]string](md, key, "a string array")
}

// metaInts reads an integer array of at least n elements; nil when absent.
func metaInts(md map[string]any, key string, n int) ([]int64, error) {
	v, ok, err := metaValue[[]int64](md, key, "an integer array")
	if err == nil && ok && len(v) < n {
		err = fmt.Errorf("%w: metadata %s has %d values for %d tokens", ErrCorrupt, key, len(v), n)
	}
	return v, err
}

// metaFloats reads a float array (or an integer one, which llama.cpp also
// accepts for scores) of at least n elements; nil when absent.
func metaFloats(md map[string]any, key string, n int) ([]float64, error) {
	var v []float64
	switch raw := md[key].(type) {
	case nil:
		return nil, nil
	case []float64:
		v = raw
	case []int64:
		v = make([]float64, len(raw))
		for i, x := range raw {
			v[i] = float64(x)
		}
	default:
		return nil, fmt.Errorf("%w: metadata %s is %T, want a float array", ErrCorrupt, key, raw)
	}
	if len(v) < n {
		return nil, fmt.Errorf("%w: metadata %s has %d values for %d tokens", ErrCorrupt, key, len(v), n)
	}
	return v, nil
}
