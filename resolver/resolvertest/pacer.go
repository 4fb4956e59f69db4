package resolvertest

import (
	"context"
	"sync"
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
