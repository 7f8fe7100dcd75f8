package arch

import (
	"errors"
	"strconv"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
)

func TestNewCachesBoundedSize(t *testing.T) {
	d := &Decoder{Layers: []*Block{{}, {}}}
	tests := []struct {
		maxKV int
		ok    bool
	}{
		{-1, false}, {1, false}, {4, false}, {0, true}, {5, true}, {512, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.maxKV), func(t *testing.T) {
			caches, err := d.NewCaches(CacheOptions{MaxKVSize: tt.maxKV})
			if !tt.ok {
				// A window no larger than the kept prefix would write past
				// its buffer at the first eviction.
				if !errors.Is(err, ErrCacheOptions) {
					t.Errorf("err %v, want ErrCacheOptions", err)
				}
				return
			}
			if err != nil || len(caches) != 2 {
				t.Fatalf("%d caches, err %v", len(caches), err)
			}
			r, bounded := caches[0].(*cache.Rotating)
			if bounded != (tt.maxKV > 0) || (bounded && r.MaxSize() != tt.maxKV) {
				t.Errorf("cache %T", caches[0])
			}
		})
	}
}
