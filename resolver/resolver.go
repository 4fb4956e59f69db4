package resolver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"omsecrets/internal/jsoncheck"
)

// nullValue is the literal OpenMetadata stores for an unset secret; it
// resolves to JSON null (OM's Python secrets managers return None for it).
const nullValue = "null"

// DefaultConcurrency bounds the store calls one Resolve makes at once.
const DefaultConcurrency = 8

// StoreRef names a reference in a given store.
type StoreRef struct {
	Store string
	Ref   Ref
}

// Options configures a Resolver.
type Options struct {
	// Stores maps a store name (an OpenMetadata provider name such as "db"
	// or "aws") to the store that serves it.
	Stores map[string]Getter
	// Concurrency bounds the store calls one Resolve or Refresh has in
	// flight, over all stores; DefaultConcurrency if 0. A call waiting to
	// retry keeps its place.
	Concurrency int
	// Logger receives one debug line per store call and per retry;
	// slog.Default if nil.
	Logger *slog.Logger

	// CacheTTL is how long a fetched value is reused by Resolve; 0
	// disables the cache. Each entry lives a random 90 to 100% of it.
	// Values of stores whose ids are values (see ValueIDs) are not cached.
	CacheTTL time.Duration
	// Limits maps a store name to the client-side limit of its calls; a
	// store not named here is not limited. Each store's default is its
	// Spec.Limit, which the caller puts here (cmd does, from its store
	// table). Names of unknown stores are ignored.
	Limits map[string]Limit
	// Retry is the retry policy of transient store failures; its zero
	// fields take the defaults (see RetryPolicy).
	Retry RetryPolicy
	// Observer receives store calls, cache lookups and retries, for
	// metrics; nil means none.
	Observer Observer
	// OnChange receives the ids a store reports changed (see
	// ChangeNotifier), after the Resolver dropped them from its cache, so
	// that the caller re-resolves whatever used them; nil means none. It
	// must not block: it is called from the store's goroutines.
	OnChange func(store string, ids []string)

	// ChangeCheck says how Refresh uses stores that can list their
	// changes (see ChangeLister); its zero value turns that off.
	ChangeCheck ChangeCheck

	// Now is the clock of the cache; time.Now if nil. Rate limits and
	// retry waits use the real clock.
	Now func() time.Time
	// Rand returns a uniform number in [0, 1), for cache expiry and retry
	// jitter; math/rand/v2's Float64 if nil. It must be safe for
	// concurrent use.
	Rand func() float64
}

// ChangeCheck configures change-detecting refresh: a Refresh asks each
// store that is a ChangeLister which of the cached ids it is about to
// fetch are unchanged, and serves those from the cache instead of
// fetching them. Off unless Keep is positive.
type ChangeCheck struct {
	// Keep is how long past its cache expiry a value stays held so that
	// a refresh can still vouch for it; set it above the refresh interval
	// (cmd uses twice the interval). 0 turns change detection off.
	Keep time.Duration
	// MaxAge bounds how long a value is served on the store's word alone:
	// a value fetched longer ago is fetched again whatever the listing
	// says, which bounds the harm of a listing that lags (Secrets
	// Manager's ListSecrets is eventually consistent). 0 means
	// DefaultChangeMaxAge.
	MaxAge time.Duration
}

// DefaultChangeMaxAge is ChangeCheck.MaxAge's default.
const DefaultChangeMaxAge = time.Hour

// RateObserver is an Observer that also hears each change of a store's
// adaptive rate limit (see Limit), in calls per second.
type RateObserver interface {
	StoreRate(store string, perSecond float64)
}

// CacheObserver is an Observer that also hears the number of cached
// values (held ones included) after each Resolve, Refresh and Forget, so
// that a long-running caller can see that they stay bounded.
type CacheObserver interface {
	CacheEntries(n int)
}

// ChangeObserver is an Observer that also hears each change listing a
// Refresh made: of asked cached ids, vouched were found unchanged; on is
// false once the store refused the listing and is refreshed in full.
type ChangeObserver interface {
	ChangeCheck(store string, asked, vouched int, on bool)
}

// Resolver resolves references against a set of stores. It fetches each
// secret id once per call however many references name it, uses a store's
// batch method where it has one, caches values (see Options.CacheTTL),
// shares fetches in flight between concurrent calls, limits the rate of
// calls per store and retries transient failures (see RetryPolicy).
//
// A Resolver is safe for concurrent use. It starts no goroutine that
// outlives a Resolve or Refresh call, and needs no cleanup.
type Resolver struct {
	stores      map[string]Getter
	defaultKeys map[string]string   // store → KeyedValues.DefaultKey
	limits      map[string]*limiter // nil or missing: unlimited
	concurrency int
	logger      *slog.Logger
	ttl         time.Duration
	retry       RetryPolicy
	observer    Observer
	now         func() time.Time
	rand        func() float64
	check       ChangeCheck
	// listOff holds the stores whose change listing was refused: they
	// are refreshed in full from then on.
	listOff sync.Map

	mu        sync.Mutex
	cache     map[storeID]cacheEntry
	nextSweep time.Time
	flights   map[storeID]*flight
	// waiting counts the waits on fetches other calls own, so that tests
	// can tell when a call has joined a flight (export_test.go).
	waiting int
}

// New returns a Resolver for opts.
func New(opts Options) *Resolver {
	r := &Resolver{
		stores:      make(map[string]Getter, len(opts.Stores)),
		defaultKeys: make(map[string]string),
		limits:      make(map[string]*limiter),
		concurrency: opts.Concurrency,
		logger:      opts.Logger,
		ttl:         max(opts.CacheTTL, 0),
		retry:       opts.Retry.withDefaults(),
		observer:    opts.Observer,
		now:         opts.Now,
		rand:        opts.Rand,
		check:       opts.ChangeCheck,
		cache:       make(map[storeID]cacheEntry),
		flights:     make(map[storeID]*flight),
	}
	for name, g := range opts.Stores {
		if g == nil { // a nil store is an unknown store, not a panic
			continue
		}
		r.stores[name] = g
		if kv, ok := g.(KeyedValues); ok {
			r.defaultKeys[name] = kv.DefaultKey()
		}
		if lim := newLimiter(opts.Limits[name]); lim != nil {
			if ro, ok := opts.Observer.(RateObserver); ok {
				lim.onRate = func(perSecond float64) { ro.StoreRate(name, perSecond) }
				ro.StoreRate(name, lim.perSecond())
			}
			r.limits[name] = lim
		}
	}
	if r.check.Keep < 0 {
		r.check.Keep = 0
	}
	if r.check.MaxAge <= 0 {
		r.check.MaxAge = DefaultChangeMaxAge
	}
	if r.concurrency <= 0 {
		r.concurrency = DefaultConcurrency
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.observer == nil {
		r.observer = nopObserver{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	r.nextSweep = r.now().Add(r.ttl)
	// Only a caller that re-resolves on changes (run's daemon) needs the
	// stores to watch: a one-shot command would open a watch per secret
	// for nothing.
	if opts.OnChange != nil {
		for name, g := range r.stores {
			if cn, ok := g.(ChangeNotifier); ok {
				cn.Notify(func(ids []string) { r.changed(name, ids, opts.OnChange) })
			}
		}
	}
	return r
}

// changed handles a store's report that ids changed: their cached values
// are dropped, and fetches of them in flight will not be cached (they may
// have read the old value), before onChange hears of them.
func (r *Resolver) changed(store string, ids []string, onChange func(string, []string)) {
	if len(ids) == 0 {
		return
	}
	r.drop(store, ids)
	r.logger.Debug("store reported changes", "store", store, "ids", len(ids))
	if onChange != nil {
		onChange(store, slices.Clone(ids))
	}
}

// drop removes the cached values of ids of store and keeps fetches of them
// in flight from caching what they read.
func (r *Resolver) drop(store string, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		k := storeID{store, id}
		delete(r.cache, k)
		if fl := r.flights[k]; fl != nil {
			fl.cache = false
		}
	}
}

// Forget says that the caller no longer uses ids of store (no definition
// reads them): their cached values are dropped, and a store that keeps
// state per id (Forgetter: the Kubernetes store's watches) drops it. A
// fetch of them in flight completes, but its value is not cached. A later
// Resolve of them is like a first one.
func (r *Resolver) Forget(store string, ids []string) {
	if len(ids) == 0 {
		return
	}
	r.drop(store, ids)
	r.observeCache()
	if f, ok := r.stores[store].(Forgetter); ok {
		f.Forget(slices.Clone(ids))
	}
}

// observeCache tells a CacheObserver the number of cached values.
func (r *Resolver) observeCache() {
	co, ok := r.observer.(CacheObserver)
	if !ok {
		return
	}
	r.mu.Lock()
	n := len(r.cache)
	r.mu.Unlock()
	co.CacheEntries(n)
}

// HidesIDs reports whether store's ids are values that must not be printed
// (see ValueIDs): print its references with Ref.Label(true).
func (r *Resolver) HidesIDs(store string) bool {
	return hidesIDs(r.stores[store])
}

func hidesIDs(g Getter) bool {
	v, ok := g.(ValueIDs)
	return ok && v.IDsAreValues()
}

// storeID identifies one fetch: a secret id in a store.
type storeID struct{ store, id string }

// fetched is the outcome of one fetch.
type fetched struct {
	val Secret
	err error
}

// Resolve resolves every reference in refs. It returns the values of those
// that resolved, and errors.Join of one *RefError per reference that did
// not, sorted by store and reference. Callers that must fail closed check
// the error before using any value.
//
// Values come from the cache when they are there (see Options.CacheTTL).
// Ids that another Resolve or Refresh is fetching are not fetched again:
// this call waits for that fetch. The others are fetched, in batches where
// the store has them (ceil(ids / MaxBatch) calls per store), through each
// store's rate limit and with retries of transient failures.
//
// If ctx ends, the references not resolved yet fail with an error
// wrapping ErrUnavailable and ctx.Err(). Another caller's context ending
// never fails this call: if a fetch this call waits for fails because its
// owner's context ended, this call fetches the id itself.
func (r *Resolver) Resolve(ctx context.Context, refs []StoreRef) (map[StoreRef]Secret, error) {
	return r.resolve(ctx, refs, false)
}

// Refresh is Resolve without reading the cache: it fetches every id (or
// waits for a fetch already in flight, which is as fresh) and stores the
// results in the cache. A failure that is not transient removes the cached
// value; a transient one keeps it. It serves the daemon's periodic
// refresh (reconcile calls it for the jobs the refresh queues), so rotated
// secrets reach their files within one refresh interval while
// event-driven runs are served from the cache.
func (r *Resolver) Refresh(ctx context.Context, refs []StoreRef) (map[StoreRef]Secret, error) {
	return r.resolve(ctx, refs, true)
}

func (r *Resolver) resolve(ctx context.Context, refs []StoreRef, refresh bool) (map[StoreRef]Secret, error) {
	// Plan: one fetch per (store, id), in the order of first reference.
	var keys []storeID
	seen := make(map[storeID]bool)
	for _, sr := range refs {
		k := storeID{sr.Store, sr.Ref.ID}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	results := make(map[storeID]fetched, len(keys))
	for pending := keys; len(pending) > 0; {
		pending = r.round(ctx, pending, refresh, results)
	}
	r.observeCache()

	out := make(map[StoreRef]Secret, len(refs))
	var errs []*RefError
	done := make(map[StoreRef]bool, len(refs))
	for _, sr := range refs {
		if done[sr] {
			continue
		}
		done[sr] = true
		f := results[storeID{sr.Store, sr.Ref.ID}]
		v, err := f.val, f.err
		if err == nil {
			key := sr.Ref.Key
			dk, keyed := r.defaultKeys[sr.Store]
			if keyed && key == "" {
				key = dk
			}
			v, err = derive(v, key, keyed)
		}
		if err != nil {
			errs = append(errs, &RefError{Store: sr.Store, Ref: sr.Ref, Err: WithoutRef(err), HideID: r.HidesIDs(sr.Store)})
			continue
		}
		out[sr] = v
	}
	if len(errs) == 0 {
		return out, nil
	}
	slices.SortFunc(errs, func(a, b *RefError) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Ref.ID, b.Ref.ID), cmp.Compare(a.Ref.Key, b.Ref.Key))
	})
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return out, errors.Join(joined...)
}

// joined is a flight of another call that this call waits for.
type joined struct {
	key storeID
	fl  *flight
}

// round gives an outcome in results to every key it can: from the cache
// (unless refresh), by fetching the keys nobody is fetching, or by waiting
// for the fetches other calls own. It returns the keys to plan again: those
// whose fetch failed because its owner's context ended while ctx is alive.
func (r *Resolver) round(ctx context.Context, keys []storeID, refresh bool, results map[storeID]fetched) []storeID {
	type lookup struct {
		store string
		hit   bool
	}
	var lookups []lookup
	var waits []joined
	owned := make(map[string][]string) // store → ids this call fetches
	flights := make(map[storeID]*flight)
	var vouched map[storeID]heldEntry // the entries vouched for
	if refresh {
		vouched = r.vouch(ctx, keys)
	}

	r.mu.Lock()
	now := r.now()
	for _, k := range keys {
		g, ok := r.stores[k.store]
		if !ok {
			results[k] = fetched{err: fmt.Errorf("%w %q", ErrUnknownStore, k.store)}
			continue
		}
		// Ids that are values have nothing to fetch: no cache, no sharing.
		if !hidesIDs(g) {
			if h, ok := vouched[k]; ok {
				// The store vouched that the version of the held entry is
				// current: serve that entry (unless a change report
				// dropped or a fetch replaced it meanwhile) and give it a
				// new lifetime. The store was asked about this entry's
				// version, not about what it last returned: a fetch in
				// flight cannot make it vouch for an older value.
				if e, held := r.cache[k]; held && e.fetched.Equal(h.fetched) && e.val.Version() == h.version {
					r.cacheRenew(k, e, now)
					results[k] = fetched{val: e.val}
					continue
				}
			}
			if r.ttl > 0 && !refresh {
				v, hit := r.cacheGet(k, now)
				lookups = append(lookups, lookup{k.store, hit})
				if hit {
					results[k] = fetched{val: v}
					continue
				}
			}
			if fl := r.flights[k]; fl != nil {
				r.waiting++
				waits = append(waits, joined{k, fl})
				continue
			}
			fl := &flight{done: make(chan struct{}), cache: r.ttl > 0}
			r.flights[k] = fl
			flights[k] = fl
		}
		owned[k.store] = append(owned[k.store], k.id)
	}
	r.mu.Unlock()
	for _, l := range lookups {
		r.observer.CacheLookup(l.store, l.hit)
	}

	var mu sync.Mutex // guards results while fetches run
	record := func(store, id string, f fetched) {
		k := storeID{store, id}
		mu.Lock()
		results[k] = f
		mu.Unlock()
		if fl := flights[k]; fl != nil {
			r.complete(k, fl, f, ctx.Err() != nil || isContextErr(f.err))
		}
	}
	func() {
		// A flight this call owns but left without an outcome (a bug, or
		// a panic unwinding this goroutine) would keep its waiters until
		// their own context ends: fail them so they fetch the id
		// themselves. Completing a flight twice does nothing.
		defer func() {
			for k, fl := range flights {
				r.complete(k, fl, fetched{err: fmt.Errorf("%w: fetch ended without an outcome", ErrUnavailable)}, true)
			}
		}()
		r.fetchAll(ctx, owned, record)
	}()

	var again []storeID
	for _, w := range waits {
		select {
		case <-w.fl.done:
			if w.fl.ownerEnded && ctx.Err() == nil {
				again = append(again, w.key)
			} else {
				results[w.key] = w.fl.res
			}
		case <-ctx.Done():
			results[w.key] = fetched{err: fmt.Errorf("%w: wait for a fetch in flight: %w", ErrUnavailable, ctx.Err())}
		}
	}
	if len(waits) > 0 {
		r.mu.Lock()
		r.waiting -= len(waits)
		r.mu.Unlock()
	}
	return again
}

// heldEntry identifies the cache entry a store was asked about.
type heldEntry struct {
	fetched time.Time
	version string
}

// vouch asks each ChangeLister store among keys which of its held cache
// entries (see ChangeCheck) are unchanged, giving it the id and the
// version token of each, and returns the entries it vouched for. A store
// that refuses the listing is refreshed in full from then on, said once
// in the log; one that cannot list now is refreshed in full this time.
func (r *Resolver) vouch(ctx context.Context, keys []storeID) map[storeID]heldEntry {
	if r.check.Keep <= 0 {
		return nil
	}
	type candidate struct {
		held []Held
		at   map[string]heldEntry
	}
	cands := make(map[string]*candidate)
	r.mu.Lock()
	now := r.now()
	for _, k := range keys {
		g, ok := r.stores[k.store]
		if !ok {
			continue
		}
		if _, ok := g.(ChangeLister); !ok || hidesIDs(g) {
			continue
		}
		if _, off := r.listOff.Load(k.store); off {
			continue
		}
		e, held := r.cache[k]
		if !held || e.val.Version() == "" || !now.Before(e.hold) || now.Sub(e.fetched) >= r.check.MaxAge {
			continue
		}
		c := cands[k.store]
		if c == nil {
			c = &candidate{at: make(map[string]heldEntry)}
			cands[k.store] = c
		}
		if _, dup := c.at[k.id]; dup {
			continue
		}
		c.held = append(c.held, Held{ID: k.id, Version: e.val.Version()})
		c.at[k.id] = heldEntry{fetched: e.fetched, version: e.val.Version()}
	}
	r.mu.Unlock()

	out := make(map[storeID]heldEntry)
	for _, store := range slices.Sorted(maps.Keys(cands)) {
		c := cands[store]
		cl := r.stores[store].(ChangeLister)
		same, err := cl.Unchanged(ctx, c.held, pacer{r, store})
		co, observed := r.observer.(ChangeObserver)
		switch {
		case errors.Is(err, ErrPermission):
			r.listOff.Store(store, true)
			r.logger.WarnContext(ctx, "change detection off: the store refused to list its changes, so every refresh reads each secret; grant the listing permission to save calls",
				"store", store, "error", WithoutRef(err))
			if observed {
				co.ChangeCheck(store, len(c.held), 0, false)
			}
			continue
		case err != nil:
			r.logger.DebugContext(ctx, "change listing failed: refreshing in full this time", "store", store, "ids", len(c.held), "result", Class(err), "error", WithoutRef(err))
			if observed {
				co.ChangeCheck(store, len(c.held), 0, true)
			}
			continue
		}
		n := 0
		for _, id := range same {
			if at, ok := c.at[id]; ok {
				out[storeID{store, id}] = at
				delete(c.at, id) // a duplicate counts once
				n++
			}
		}
		r.logger.DebugContext(ctx, "change listing", "store", store, "ids", len(c.held), "unchanged", n)
		if observed {
			co.ChangeCheck(store, len(c.held), n, true)
		}
	}
	return out
}

// pacer is the Pacer a ChangeLister's requests go through.
type pacer struct {
	r     *Resolver
	store string
}

// Call implements Pacer.
func (p pacer) Call(ctx context.Context, op string, do func(context.Context) error) error {
	lim := p.r.limits[p.store]
	if err := lim.acquire(ctx); err != nil {
		return err
	}
	start := time.Now()
	err := do(ctx)
	p.r.observer.StoreCall(p.store, op, 0, Class(err), time.Since(start))
	if err == nil || errors.Is(err, ErrThrottled) {
		lim.feedback(err != nil)
	}
	return err
}

// fetchAll fetches the ids of each store, in chunks of the store's
// MaxBatch (read now: a store may lower it after a refused batch) or one
// by one, at most r.concurrency at once, and records an outcome for each.
func (r *Resolver) fetchAll(ctx context.Context, ids map[string][]string, record func(store, id string, f fetched)) {
	var g errgroup.Group
	g.SetLimit(r.concurrency)
	for _, store := range slices.Sorted(maps.Keys(ids)) {
		list, getter := ids[store], r.stores[store]
		if bg, ok := getter.(BatchGetter); ok && bg.MaxBatch() > 1 {
			for chunk := range slices.Chunk(list, bg.MaxBatch()) {
				g.Go(func() error {
					r.fetch(ctx, store, getter, chunk, record)
					return nil
				})
			}
			continue
		}
		for _, id := range list {
			g.Go(func() error {
				r.fetch(ctx, store, getter, []string{id}, record)
				return nil
			})
		}
	}
	_ = g.Wait() // workers record their errors; none is returned
}

// callBatch makes one GetBatch call, once the store's limit allows it,
// and sets an outcome in out for every id. It returns an error only if
// the limit allowed no call before ctx ended.
func (r *Resolver) callBatch(ctx context.Context, store string, bg BatchGetter, ids []string, out map[string]fetched) error {
	if err := r.limits[store].acquire(ctx); err != nil {
		return err
	}
	start := time.Now()
	vals, err := bg.GetBatch(ctx, ids)
	d := time.Since(start)

	perID := make(map[string]error)
	var whole error
	for _, e := range Unjoin(err) {
		var re *RefError
		if errors.As(e, &re) && re.Ref.ID != "" {
			perID[re.Ref.ID] = re.Err
		} else {
			whole = errors.Join(whole, e)
		}
	}
	r.logger.DebugContext(ctx, "store batch get", "store", store, "ids", len(ids), "found", len(vals), "result", Class(err))
	r.observer.StoreCall(store, "batch", len(ids), Class(whole), d)
	if whole == nil || errors.Is(whole, ErrThrottled) {
		r.limits[store].feedback(whole != nil)
	}
	for _, id := range ids {
		switch v, ok := vals[id]; {
		case ok:
			out[id] = fetched{val: r.versioned(bg, v)}
		case perID[id] != nil:
			out[id] = fetched{err: perID[id]}
		case whole != nil:
			out[id] = fetched{err: whole}
		default:
			out[id] = fetched{err: fmt.Errorf("%w: store returned no value", ErrNotFound)}
		}
	}
	return nil
}

// callGet makes one Get call, once the store's limit allows it, and sets
// the outcome of id in out. It returns an error only if the limit allowed
// no call before ctx ended.
func (r *Resolver) callGet(ctx context.Context, store string, g Getter, id string, out map[string]fetched) error {
	if err := r.limits[store].acquire(ctx); err != nil {
		return err
	}
	start := time.Now()
	v, err := g.Get(ctx, id)
	d := time.Since(start)

	r.logger.DebugContext(ctx, "store get", "store", store, "ref", Ref{ID: id}.Label(r.HidesIDs(store)), "result", Class(err))
	r.observer.StoreCall(store, "get", 1, Class(err), d)
	if err == nil || errors.Is(err, ErrThrottled) {
		r.limits[store].feedback(err != nil)
	}
	if err == nil {
		v = r.versioned(g, v)
	}
	out[id] = fetched{val: v, err: WithoutRef(err)}
	return nil
}

// versioned gives v, a value g returned, a content version
// (ContentVersion) if g gave it none. A ChangeLister never vouches for
// a content version: it cannot list one.
func (r *Resolver) versioned(g Getter, v Secret) Secret {
	if v.Version() != "" || hidesIDs(g) {
		return v
	}
	return v.WithVersion(ContentVersion(v))
}

// isContextErr reports whether err comes from a context that ended.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// derive applies the null rule, the #key selection and the mask check to a
// stored value. Its errors never include the value or a parser message that
// could quote it.
func derive(v Secret, key string, keyed bool) (Secret, error) {
	if v.IsNull() || v.Value() == nullValue {
		if key != "" {
			return Secret{}, fmt.Errorf("%w: secret is null, cannot select key %q", ErrBadRef, key)
		}
		return NullSecret(), nil
	}
	if key != "" {
		if v.Value() == Mask {
			return Secret{}, ErrMasked
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v.Value()), &obj); err != nil || obj == nil {
			return Secret{}, fmt.Errorf("%w: secret is not a JSON object, cannot select key %q", ErrBadRef, key)
		}
		if jsoncheck.LoneSurrogate([]byte(v.Value())) >= 0 {
			// encoding/json would turn it into U+FFFD unseen.
			return Secret{}, fmt.Errorf("%w: secret is JSON with a \\u escape of half a UTF-16 surrogate pair, cannot select key %q", ErrBadRef, key)
		}
		raw, ok := obj[key]
		if !ok {
			return Secret{}, fmt.Errorf("%w: key %q not in secret", ErrNotFound, key)
		}
		var s string
		switch {
		case string(raw) == nullValue:
			return NullSecret(), nil
		case json.Unmarshal(raw, &s) == nil:
			v = NewSecret(s)
		case keyed:
			// A keyed store's values are strings or null; it marks a value
			// it cannot carry as text (bytes that are not UTF-8) with
			// anything else (see KeyedValues).
			return Secret{}, fmt.Errorf("%w: key %q holds bytes that are not UTF-8 text", ErrBadRef, key)
		default:
			// Numbers, booleans, objects and arrays are used as their
			// compact JSON text: secret fields in OM's schemas are strings.
			v = NewSecret(compact(raw))
		}
	}
	if !utf8.ValidString(v.Value()) {
		// JSON and YAML output would silently replace the invalid bytes.
		return Secret{}, fmt.Errorf("%w: secret value is not valid UTF-8 text", ErrBadRef)
	}
	if v.Value() == Mask {
		return Secret{}, ErrMasked
	}
	return v, nil
}

// RefErrors indexes the *RefError leaves of an error Resolve or Refresh
// returned by the reference they name.
func RefErrors(err error) map[StoreRef]error {
	out := make(map[StoreRef]error)
	for _, e := range Unjoin(err) {
		var re *RefError
		if errors.As(e, &re) {
			out[StoreRef{Store: re.Store, Ref: re.Ref}] = e
		}
	}
	return out
}

// joinType is the type errors.Join returns.
var joinType = reflect.TypeOf(errors.Join(errors.New("a"), errors.New("b")))

// Unjoin returns the leaves of an error tree built with errors.Join, in
// order; a nil error gives none and any other error gives itself. Only
// errors.Join results are split: an error from fmt.Errorf with several %w
// (such as Throttled's) is one error, with one message.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && reflect.TypeOf(err) == joinType {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return ""
	}
	return b.String()
}
