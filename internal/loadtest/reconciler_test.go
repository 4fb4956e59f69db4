package loadtest

import (
	"testing"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/resolver"
)

// storeReconciler is the reconciler cmd builds for one store g of spec:
// the store's default rate limit, the cache TTL of the fleet, no
// OpenMetadata. watch sets an OnChange, as run does, so that a store that
// reports changes watches what it read.
func storeReconciler(b *testing.B, spec resolver.Spec, g resolver.Getter, watch bool) *reconcile.Reconciler {
	b.Helper()
	opts := resolver.Options{
		Stores:   map[string]resolver.Getter{spec.Name: g},
		CacheTTL: cacheTTL,
		Limits:   map[string]resolver.Limit{spec.Name: spec.Limit},
	}
	if watch {
		opts.OnChange = func(string, []string) {}
	}
	r, err := reconcile.New(reconcile.Options{
		Resolver:  resolver.New(opts),
		Providers: reconcile.NewProviders([]resolver.Spec{spec}),
		Format:    render.JSON,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}
