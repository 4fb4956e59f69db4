package resolver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// benchRefs returns 800 references to 100 ids (8 keys of each JSON
// secret), like 100 definitions sharing credentials, and the store's
// values.
func benchRefs() ([]resolver.StoreRef, map[string]string) {
	values := make(map[string]string)
	var refs []resolver.StoreRef
	for i := range 100 {
		id := fmt.Sprintf("/bench/%03d", i)
		values[id] = `{"k0":"v","k1":"v","k2":"v","k3":"v","k4":"v","k5":"v","k6":"v","k7":"v"}`
		for k := range 8 {
			refs = append(refs, resolver.StoreRef{Store: "aws", Ref: resolver.Ref{ID: id, Key: fmt.Sprintf("k%d", k)}})
		}
	}
	return refs, values
}

// BenchmarkResolveWarmCache resolves from a warm cache: no store call,
// only lookups and derive.
func BenchmarkResolveWarmCache(b *testing.B) {
	refs, values := benchRefs()
	store := resolvertest.NewBatchFake(values, 20)
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": store}, CacheTTL: time.Hour})
	if _, err := r.Resolve(context.Background(), refs); err != nil {
		b.Fatal(err)
	}
	store.Reset()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(context.Background(), refs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(store.Batches())/float64(b.N), "store-calls/op")
}

// BenchmarkResolveCold resolves with the cache disabled: 5 batch calls
// per Resolve, for comparison with the warm path.
func BenchmarkResolveCold(b *testing.B) {
	refs, values := benchRefs()
	store := resolvertest.NewBatchFake(values, 20)
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": store}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(context.Background(), refs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(store.Batches())/float64(b.N), "store-calls/op")
}
