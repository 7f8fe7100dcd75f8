package api

import (
	"reflect"
	"testing"
)

// TestPoolSchemasMatchGoTypes holds the pool's bodies to the document the
// way TestOpenAPISchemasMatchGoTypes holds the others.
func TestPoolSchemasMatchGoTypes(t *testing.T) {
	doc := openAPIDoc(t)
	for name, typ := range map[string]reflect.Type{"Pool": reflect.TypeFor[PoolStatus](), "PoolRequest": reflect.TypeFor[PoolRequest]()} {
		t.Run(name, func(t *testing.T) { compareType(t, doc, typ, ref(name), name) })
	}
}

// TestPoolWithoutABackendPool: a backend without a model pool answers the
// pool's routes with 409, not a panic.
func TestPoolWithoutABackendPool(t *testing.T) {
	w := serve(t, Config{}, "GET", "/api/pool", nil)
	if w.Code != 409 {
		t.Errorf("GET /api/pool = %d %s", w.Code, w.Body)
	}
}
