package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"omsecrets/resolver"
)

// Route sends the ids under Prefix to Store, and those Store does not
// have (not_found) to Fallback when set: several stores in one
// deployment, or a migration from one store to another.
type Route struct {
	Prefix, Store, Fallback string
}

// ParseRoutes parses "prefix=store[|fallback],..." and checks the stores
// against known. Prefixes must be distinct and non-empty; a store whose
// ids are values (hidesIDs) cannot be routed to.
func ParseRoutes(s string, known []string, hidesIDs func(string) bool) ([]Route, error) {
	var out []Route
	seen := make(map[string]bool)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		prefix, target, ok := strings.Cut(item, "=")
		if !ok || prefix == "" || target == "" {
			return nil, fmt.Errorf("route %q: want prefix=store or prefix=store|fallback", resolver.Clip(item))
		}
		if strings.ContainsFunc(prefix, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("route %q: control character in the prefix", resolver.Clip(item))
		}
		store, fallback, hasFallback := strings.Cut(target, "|")
		for _, st := range []string{store, fallback} {
			if st == "" && !hasFallback {
				continue
			}
			if !slices.Contains(known, st) {
				return nil, fmt.Errorf("route %q: unknown store %q (stores: %s)", resolver.Clip(item), st, strings.Join(known, ", "))
			}
			if hidesIDs != nil && hidesIDs(st) {
				return nil, fmt.Errorf("route %q: the %s store's ids are the values themselves; it cannot be routed to", resolver.Clip(item), st)
			}
		}
		if fallback == store {
			return nil, fmt.Errorf("route %q: the fallback is the store itself", resolver.Clip(item))
		}
		if seen[prefix] {
			return nil, fmt.Errorf("route %q: prefix %q is routed twice", resolver.Clip(item), resolver.Clip(prefix))
		}
		seen[prefix] = true
		out = append(out, Route{Prefix: prefix, Store: store, Fallback: fallback})
	}
	// Longest prefix first: the first match is the longest.
	slices.SortStableFunc(out, func(a, b Route) int { return cmp.Compare(len(b.Prefix), len(a.Prefix)) })
	return out, nil
}

// route returns the store id goes to, and its fallback, given the store
// the definition's provider names.
func (r *Reconciler) route(store, id string) (string, string) {
	for _, rt := range r.opts.Routes {
		if strings.HasPrefix(id, rt.Prefix) {
			return rt.Store, rt.Fallback
		}
	}
	return store, ""
}

// routed returns sr sent where the routes say.
func (r *Reconciler) routed(sr resolver.StoreRef) resolver.StoreRef {
	sr.Store, _ = r.route(sr.Store, sr.Ref.ID)
	return sr
}

// use records that res reads sr, in the store (and fallback) it is
// routed to.
func (r *Reconciler) use(res *Result, sr resolver.StoreRef) {
	store, fallback := r.route(sr.Store, sr.Ref.ID)
	for _, st := range []string{store, fallback} {
		if st != "" && !r.opts.Resolver.HidesIDs(st) {
			res.use(resolver.StoreRef{Store: st, Ref: sr.Ref})
		}
	}
}

// lookupRouted is lookup with the routes applied: refs name the
// definitions' own stores; each goes to its routed store, all in one
// resolver call (so every store gets its fewest calls, concurrently), and
// those not found in a store with a fallback are looked up there in a
// second call. The results are keyed by the refs as given.
func (r *Reconciler) lookupRouted(ctx context.Context, fresh bool, refs []resolver.StoreRef) (map[resolver.StoreRef]resolver.Secret, map[resolver.StoreRef]error) {
	if len(r.opts.Routes) == 0 {
		return r.lookup(ctx, fresh, refs)
	}
	to := make([]resolver.StoreRef, len(refs))
	for i, sr := range refs {
		to[i] = r.routed(sr)
	}
	vals, errs := r.lookup(ctx, fresh, to)
	var again, againTo []resolver.StoreRef
	for i, sr := range refs {
		if _, fb := r.route(sr.Store, sr.Ref.ID); fb != "" && errors.Is(errs[to[i]], resolver.ErrNotFound) {
			again = append(again, sr)
			againTo = append(againTo, resolver.StoreRef{Store: fb, Ref: sr.Ref})
		}
	}
	var fbVals map[resolver.StoreRef]resolver.Secret
	var fbErrs map[resolver.StoreRef]error
	if len(againTo) > 0 {
		fbVals, fbErrs = r.lookup(ctx, fresh, againTo)
	}
	outV := make(map[resolver.StoreRef]resolver.Secret, len(refs))
	outE := make(map[resolver.StoreRef]error)
	for i, sr := range refs {
		if v, ok := vals[to[i]]; ok {
			outV[sr] = v
		} else if err := errs[to[i]]; err != nil {
			outE[sr] = err
		}
	}
	for i, sr := range again {
		delete(outE, sr)
		if v, ok := fbVals[againTo[i]]; ok {
			outV[sr] = v
		} else if err := fbErrs[againTo[i]]; err != nil {
			outE[sr] = err
		}
	}
	return outV, outE
}
