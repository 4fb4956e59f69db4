package daemon

import (
	"slices"
	"sync"

	"omsecrets/internal/reconcile"
)

// uses indexes which definitions read which secrets, for Changed. It is
// safe for concurrent use: stores report changes from their own
// goroutines.
type uses struct {
	mu    sync.Mutex
	byDef map[string][]reconcile.SecretID
	bySec map[reconcile.SecretID]map[string]bool
}

func newUses() *uses {
	return &uses{byDef: make(map[string][]reconcile.SecretID), bySec: make(map[reconcile.SecretID]map[string]bool)}
}

// set replaces what path reads; nil forgets path.
func (u *uses) set(path string, ids []reconcile.SecretID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range u.byDef[path] {
		delete(u.bySec[id], path)
		if len(u.bySec[id]) == 0 {
			delete(u.bySec, id)
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
