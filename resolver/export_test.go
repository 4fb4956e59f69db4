package resolver

// Stats is a snapshot of a Resolver's shared state, for the tests of the
// cache and of shared fetches.
type Stats struct {
	// CacheEntries is the number of cached values, expired ones not yet
	// removed included.
	CacheEntries int
	// InFlight is the number of (store, id) fetches in progress.
	InFlight int
	// Waiting is the number of waits, by Resolve or Refresh calls, on
	// fetches that other calls own.
	Waiting int
}

// StatsOf returns a snapshot of r's cache and fetches in flight.
func StatsOf(r *Resolver) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{CacheEntries: len(r.cache), InFlight: len(r.flights), Waiting: r.waiting}
}
