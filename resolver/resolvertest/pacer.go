package resolvertest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"omsecrets/resolver"
)

// CountingPacer is a resolver.Pacer that calls do at once and counts the
// calls per operation, for a ChangeLister's tests. The zero value is
// ready to use; it is safe for concurrent use.
type CountingPacer struct {
	mu    sync.Mutex
	calls map[string]int
}

// Call implements resolver.Pacer.
func (c *CountingPacer) Call(ctx context.Context, op string, do func(context.Context) error) error {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	c.mu.Unlock()
	return do(ctx)
}

// Count returns the calls of op made so far.
func (c *CountingPacer) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// HeldOf returns the (id, version) pairs of values a store returned, in
// id order: what a Resolver holding them asks a ChangeLister about.
func HeldOf(values map[string]resolver.Secret) []resolver.Held {
	held := make([]resolver.Held, 0, len(values))
	for _, id := range slices.Sorted(maps.Keys(values)) {
		held = append(held, resolver.Held{ID: id, Version: values[id].Version()})
	}
	return held
}

// Merge returns the union of value maps, later maps winning.
func Merge(ms ...map[string]resolver.Secret) map[string]resolver.Secret {
	out := make(map[string]resolver.Secret)
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}
