package resolver

import "time"

// Observer receives the Resolver's events, for metrics. Its methods are
// called synchronously from the goroutines that make the calls, so they
// must be fast and safe for concurrent use; they must not call back into
// the Resolver.
//
// No method is given a secret id or value: labels built from the arguments
// stay low-cardinality and never identify a secret, even for stores whose
// ids are values (see ValueIDs).
type Observer interface {
	// StoreCall reports one call to a store: op is "get" or "batch", ids
	// the number of ids asked for, d how long the call took, and result
	// the Class of the call's error. For a batch the result is that of the
	// call as a whole: a batch that answered with some ids not found or
	// refused is "ok". Calls refused before reaching the store (a done
	// context, a rate limit wait that would pass the deadline) are not
	// reported.
	StoreCall(store, op string, ids int, result string, d time.Duration)
	// CacheLookup reports one lookup of a (store, id) in the cache by
	// Resolve. Refresh and stores whose ids are values do not look up.
	CacheLookup(store string, hit bool)
	// Retry reports that a failed store call will be retried after wait;
	// result is the Class of the failure ("throttled" or "unavailable").
	Retry(store, result string, wait time.Duration)
}

// nopObserver is the Observer used when Options.Observer is nil.
type nopObserver struct{}

func (nopObserver) StoreCall(string, string, int, string, time.Duration) {}
func (nopObserver) CacheLookup(string, bool)                             {}
func (nopObserver) Retry(string, string, time.Duration)                  {}
