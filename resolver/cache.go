package resolver

import "time"

// The cache and the in-flight table are keyed by storeID and guarded by
// Resolver.mu. The cache holds raw stored values, before derive, so
// "secret:x#a" and "secret:x#b" share one entry and one fetch.

// cacheJitter is the largest share of the TTL taken off an entry's
// lifetime at random, so that entries fetched together (a fleet of
// daemons started together, or one Resolve of many ids) do not all expire
// at the same instant and hit the store in one burst.
const cacheJitter = 0.1

// cacheEntry is one cached raw value.
type cacheEntry struct {
	val     Secret
	expires time.Time // the entry is used while now is before expires
	// fetched is when the value was read from the store; hold is until
	// when the entry is kept past expires so that a Refresh can have a
	// ChangeLister vouch for it (hold == expires for other stores).
	fetched, hold time.Time
}

// flight is one fetch of a (store, id) in progress. Its owner (the
// Resolve or Refresh call that registered it) completes it exactly once;
// other calls that need the id wait on done instead of fetching it again.
type flight struct {
	done chan struct{} // closed by complete
	// res and ownerEnded are written before done is closed and read
	// after.
	res fetched
	// ownerEnded is set when the fetch failed after its owner's context
	// ended: the failure is the owner's, not the store's, so a waiter
	// whose own context is alive fetches the id itself.
	ownerEnded bool
	// cache: store a success in the cache (TTL > 0, and no change of
	// the id was reported while the fetch ran); guarded by Resolver.mu.
	cache     bool
	completed bool // guarded by Resolver.mu
}

// cacheGet returns the cached value of k if it has not expired at now,
// and drops it if it has. r.mu must be held.
func (r *Resolver) cacheGet(k storeID, now time.Time) (Secret, bool) {
	e, ok := r.cache[k]
	if !ok {
		return Secret{}, false
	}
	if !now.Before(e.expires) {
		if !now.Before(e.hold) {
			delete(r.cache, k)
		}
		return Secret{}, false
	}
	return e.val, true
}

// life returns a new entry's jittered lifetime.
func (r *Resolver) life() time.Duration {
	return r.ttl - time.Duration(r.rand()*cacheJitter*float64(r.ttl))
}

// holdFor is how long past expiry an entry of store is held.
func (r *Resolver) holdFor(store string) time.Duration {
	if r.check.Keep <= 0 {
		return 0
	}
	if _, ok := r.stores[store].(ChangeLister); !ok {
		return 0
	}
	return r.check.Keep
}

// cacheRenew gives e, the entry of k a store vouched for, a new lifetime
// from now, keeping its fetched time. r.mu must be held.
func (r *Resolver) cacheRenew(k storeID, e cacheEntry, now time.Time) {
	e.expires = now.Add(r.life())
	e.hold = e.expires.Add(r.holdFor(k.store))
	r.cache[k] = e
}

// cachePut stores v under k with a jittered expiry, and sweeps expired
// entries at most once per TTL so that ids nobody asks for any more do
// not stay in memory. r.mu must be held.
func (r *Resolver) cachePut(k storeID, v Secret, now time.Time) {
	expires := now.Add(r.life())
	r.cache[k] = cacheEntry{val: v, expires: expires, fetched: now, hold: expires.Add(r.holdFor(k.store))}
	if now.Before(r.nextSweep) {
		return
	}
	for key, e := range r.cache {
		if !now.Before(e.hold) {
			delete(r.cache, key)
		}
	}
	r.nextSweep = now.Add(r.ttl)
}

// complete publishes the outcome of fl, the flight of k: it caches a
// success (a permanent failure drops the cached value, so a secret that
// was deleted or whose access was revoked is not served from the cache;
// a transient one keeps it), removes fl from the in-flight table and
// wakes the waiters. Completing a flight twice does nothing.
func (r *Resolver) complete(k storeID, fl *flight, f fetched, ownerEnded bool) {
	r.mu.Lock()
	if fl.completed {
		r.mu.Unlock()
		return
	}
	fl.completed = true
	fl.res = f
	fl.ownerEnded = f.err != nil && ownerEnded
	if r.flights[k] == fl {
		delete(r.flights, k)
	}
	if fl.cache {
		switch {
		case f.err == nil:
			r.cachePut(k, f.val, r.now())
		case !Transient(f.err):
			delete(r.cache, k)
		}
	}
	r.mu.Unlock()
	close(fl.done)
}
