package watch

import (
	"cmp"
	"slices"
	"time"
)

// key names what a burst is about: a file path, or (dir set) a directory
// to rescan. The flag keeps a directory and a file of the same name apart.
type key struct {
	path string
	dir  bool
}

// burst is a run of events on one key.
type burst struct {
	first, last time.Time
}

// coalescer holds the bursts still waiting for quiet. It is pure: time is
// passed in, and it neither sleeps nor touches the filesystem, so the
// debounce rule can be tested on its own. Not safe for concurrent use; the
// Run goroutine owns it.
//
// The rule is consul-template's quiescence (manager/runner.go): each event
// pushes the deadline to last+quiet, but never past first+maxWait, so a
// file rewritten continuously is still picked up.
type coalescer struct {
	quiet, maxWait time.Duration
	pending        map[key]burst

	// earliest caches next's answer; stale when dirty.
	earliest time.Time
	dirty    bool
}

func newCoalescer(quiet, maxWait time.Duration) *coalescer {
	return &coalescer{quiet: quiet, maxWait: maxWait, pending: make(map[key]burst)}
}

// touch records an event on k at now. It reports whether the event was
// merged into a burst already pending.
func (c *coalescer) touch(k key, now time.Time) bool {
	c.dirty = true
	b, ok := c.pending[k]
	if !ok {
		c.pending[k] = burst{first: now, last: now}
		return false
	}
	b.last = now
	c.pending[k] = b
	return true
}

// drop forgets k's burst, if any, and reports whether there was one.
func (c *coalescer) drop(k key) bool {
	if _, ok := c.pending[k]; !ok {
		return false
	}
	delete(c.pending, k)
	c.dirty = true
	return true
}

// deadline is when b is due.
func (c *coalescer) deadline(b burst) time.Time {
	quiet, ceiling := b.last.Add(c.quiet), b.first.Add(c.maxWait)
	if ceiling.Before(quiet) {
		return ceiling
	}
	return quiet
}

// next returns the earliest deadline, and false when nothing is pending.
func (c *coalescer) next() (time.Time, bool) {
	if len(c.pending) == 0 {
		return time.Time{}, false
	}
	if c.dirty {
		first := true
		for _, b := range c.pending {
			if d := c.deadline(b); first || d.Before(c.earliest) {
				c.earliest, first = d, false
			}
		}
		c.dirty = false
	}
	return c.earliest, true
}

// due removes and returns the keys whose deadline is not after now, by
// deadline, then directories first (a rescan may add to a file's burst),
// then path, so the order is deterministic.
func (c *coalescer) due(now time.Time) []key {
	type item struct {
		k  key
		at time.Time
	}
	var items []item
	for k, b := range c.pending {
		if at := c.deadline(b); !at.After(now) {
			items = append(items, item{k, at})
		}
	}
	if len(items) == 0 {
		return nil
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if a.k.dir != b.k.dir {
			if a.k.dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.k.path, b.k.path)
	})
	keys := make([]key, len(items))
	for i, it := range items {
		keys[i] = it.k
		delete(c.pending, it.k)
	}
	c.dirty = true
	return keys
}

// readyPaths is the FIFO of paths whose burst is over, waiting to be
// handed to the consumer, each at most once. (It is not the daemon's job
// queue, which this feeds through the Event channel.) Not safe for
// concurrent use.
type readyPaths struct {
	items []string
	set   map[string]struct{}
}

func newReadyPaths() *readyPaths { return &readyPaths{set: make(map[string]struct{})} }

// push appends path unless it is already there, and reports whether it
// did.
func (rp *readyPaths) push(path string) bool {
	if _, ok := rp.set[path]; ok {
		return false
	}
	rp.set[path] = struct{}{}
	rp.items = append(rp.items, path)
	return true
}

func (rp *readyPaths) has(path string) bool {
	_, ok := rp.set[path]
	return ok
}

func (rp *readyPaths) len() int { return len(rp.items) }

// head returns the first path; there must be one.
func (rp *readyPaths) head() string { return rp.items[0] }

// pop removes the first path; there must be one.
func (rp *readyPaths) pop() {
	delete(rp.set, rp.items[0])
	rp.items[0] = ""
	rp.items = rp.items[1:]
}

// remove takes path out wherever it is, and reports whether it was there.
// It is linear in the number of waiting paths, which is small unless the
// consumer is stuck, and it is called only for a path queued whole that
// changed again (runState.hurry).
func (rp *readyPaths) remove(path string) bool {
	if _, ok := rp.set[path]; !ok {
		return false
	}
	delete(rp.set, path)
	i := slices.Index(rp.items, path)
	rp.items = slices.Delete(rp.items, i, i+1)
	return true
}
