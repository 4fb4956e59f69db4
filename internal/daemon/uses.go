package daemon

import (
	"maps"
	"slices"
	"sync"

	"omsecrets/internal/reconcile"
)

// uses indexes which definitions read which secrets, for Changed. It is
// safe for concurrent use: stores report changes from their own
// goroutines.
//
// The index learns what a definition reads only once its resolution
// ended, so a change reported while a batch runs may concern a secret no
// indexed definition reads yet (a new definition, or one edited to read
// another secret). Such changes are kept, with their sequence number,
// while a batch that started before them runs: the batch asks (since)
// whether a secret its results read changed after it started, and
// re-queues those definitions. Nothing is kept while no batch runs.
//
// A secret no definition reads any more (its definitions were deleted,
// renamed or edited) is forgotten when a batch ends, if nobody reads it
// again by then, so that the resolver and the store drop what they keep
// for it (the Kubernetes store's watch). A batch still running may have
// read it for a definition not indexed yet: forgetting counts as a change
// for such batches (recent), so that they re-queue that definition, whose
// next read watches the secret again.
type uses struct {
	mu    sync.Mutex
	byDef map[string][]reconcile.SecretID
	bySec map[reconcile.SecretID]map[string]bool
	// seq numbers the change reports; running counts the batches in
	// flight by the seq they started at; recent holds, for the secrets
	// reported changed while batches run, the seq of the last report.
	seq     uint64
	running map[uint64]int
	recent  map[reconcile.SecretID]uint64
	// unused holds the secrets that lost their last user, until end
	// forgets them.
	unused map[reconcile.SecretID]bool
}

func newUses() *uses {
	return &uses{
		byDef:   make(map[string][]reconcile.SecretID),
		bySec:   make(map[reconcile.SecretID]map[string]bool),
		running: make(map[uint64]int),
		recent:  make(map[reconcile.SecretID]uint64),
		unused:  make(map[reconcile.SecretID]bool),
	}
}

// begin registers a batch starting now and returns its start, for since
// and end.
func (u *uses) begin() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.running[u.seq]++
	return u.seq
}

// end unregisters a batch that started at start, drops the changes no
// batch still running can ask about, and forgets (calls forget with, by
// store, under the lock: forget must not call back) the secrets that lost
// their last user and are still unused.
func (u *uses) end(start uint64, forget func(store string, ids []string)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running[start]--; u.running[start] <= 0 {
		delete(u.running, start)
	}
	if len(u.running) == 0 {
		clear(u.recent)
	} else {
		oldest := slices.Min(slices.Collect(maps.Keys(u.running)))
		for id, at := range u.recent {
			if at <= oldest {
				delete(u.recent, id)
			}
		}
	}
	if len(u.unused) == 0 {
		return
	}
	byStore := make(map[string][]string)
	for id := range u.unused {
		if len(u.bySec[id]) > 0 {
			continue // read again meanwhile
		}
		byStore[id.Store] = append(byStore[id.Store], id.ID)
		if len(u.running) > 0 {
			u.seq++
			u.recent[id] = u.seq
		}
	}
	clear(u.unused)
	if forget != nil {
		for _, store := range slices.Sorted(maps.Keys(byStore)) {
			ids := byStore[store]
			slices.Sort(ids)
			forget(store, ids)
		}
	}
}

// changed notes a change report of ids in store and returns the
// definitions known to read them, sorted.
func (u *uses) changed(store string, ids []string) []string {
	u.mu.Lock()
	u.seq++
	if len(u.running) > 0 {
		for _, id := range ids {
			u.recent[reconcile.SecretID{Store: store, ID: id}] = u.seq
		}
	}
	u.mu.Unlock()
	return u.users(store, ids)
}

// since reports whether any of ids was reported changed after start, the
// start of a batch still running.
func (u *uses) since(start uint64, ids []reconcile.SecretID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range ids {
		if u.recent[id] > start {
			return true
		}
	}
	return false
}

// sizes returns the number of definitions and of secrets indexed, and of
// changes kept for running batches, for the tests of bounded state.
func (u *uses) sizes() (defs, secrets, recent int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.byDef), len(u.bySec), len(u.recent) + len(u.unused)
}

// set replaces what path reads; nil forgets path.
func (u *uses) set(path string, ids []reconcile.SecretID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range u.byDef[path] {
		delete(u.bySec[id], path)
		if len(u.bySec[id]) == 0 {
			delete(u.bySec, id)
			if !slices.Contains(ids, id) {
				u.unused[id] = true
			}
		}
	}
	if len(ids) == 0 {
		delete(u.byDef, path)
		return
	}
	u.byDef[path] = slices.Clone(ids)
	for _, id := range ids {
		if u.bySec[id] == nil {
			u.bySec[id] = make(map[string]bool)
		}
		u.bySec[id][path] = true
	}
}

// users returns the definitions that read any of ids in store, sorted.
func (u *uses) users(store string, ids []string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, id := range ids {
		for p := range u.bySec[reconcile.SecretID{Store: store, ID: id}] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
