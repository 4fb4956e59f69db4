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
	"slices"
	"sync"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
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
	// Concurrency bounds the store calls in flight; DefaultConcurrency if 0.
	Concurrency int
	// Logger receives one debug line per store call; slog.Default if nil.
	Logger *slog.Logger
}

// Resolver resolves references against a set of stores. It fetches each
// secret id once per call however many references name it, and uses a
// store's batch method where it has one. A Resolver is safe for concurrent
// use.
type Resolver struct {
	stores      map[string]Getter
	concurrency int
	logger      *slog.Logger
}

// New returns a Resolver for opts.
func New(opts Options) *Resolver {
	stores := make(map[string]Getter, len(opts.Stores))
	for name, g := range opts.Stores {
		if g != nil { // a nil store is an unknown store, not a panic
			stores[name] = g
		}
	}
	r := &Resolver{
		stores:      stores,
		concurrency: opts.Concurrency,
		logger:      opts.Logger,
	}
	if r.concurrency <= 0 {
		r.concurrency = DefaultConcurrency
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r
}

// Has reports whether a store is configured under name.
func (r *Resolver) Has(name string) bool {
	_, ok := r.stores[name]
	return ok
}

// HidesIDs reports whether store's ids are values that must not be printed
// (see ValueIDs).
func (r *Resolver) HidesIDs(store string) bool {
	v, ok := r.stores[store].(ValueIDs)
	return ok && v.IDsAreValues()
}

// Label returns ref as it may be printed for store: its source form, or
// with the id redacted where the store's ids are values.
func (r *Resolver) Label(store string, ref Ref) string {
	if r.HidesIDs(store) {
		return ref.Redacted()
	}
	return ref.String()
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
func (r *Resolver) Resolve(ctx context.Context, refs []StoreRef) (map[StoreRef]Secret, error) {
	// Plan: one fetch per (store, id), grouped per store.
	ids := make(map[string][]string)
	seen := make(map[storeID]bool)
	for _, sr := range refs {
		k := storeID{sr.Store, sr.Ref.ID}
		if !seen[k] {
			seen[k] = true
			ids[sr.Store] = append(ids[sr.Store], sr.Ref.ID)
		}
	}

	results := make(map[storeID]fetched, len(seen))
	var mu sync.Mutex
	record := func(store, id string, f fetched) {
		mu.Lock()
		results[storeID{store, id}] = f
		mu.Unlock()
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.concurrency)
	for _, store := range slices.Sorted(maps.Keys(ids)) {
		list := ids[store]
		getter, ok := r.stores[store]
		if !ok {
			for _, id := range list {
				record(store, id, fetched{err: fmt.Errorf("%w %q", ErrUnknownStore, store)})
			}
			continue
		}
		if bg, ok := getter.(BatchGetter); ok && bg.MaxBatch() > 1 {
			for chunk := range slices.Chunk(list, bg.MaxBatch()) {
				g.Go(func() error {
					r.fetchBatch(gctx, store, bg, chunk, record)
					return nil
				})
			}
			continue
		}
		for _, id := range list {
			g.Go(func() error {
				v, err := getter.Get(gctx, id)
				r.logger.DebugContext(gctx, "store get", "store", store, "ref", r.Label(store, Ref{ID: id}), "result", Class(err))
				record(store, id, fetched{val: v, err: err})
				return nil
			})
		}
	}
	_ = g.Wait() // workers record their errors; none is returned

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
			v, err = derive(v, sr.Ref.Key)
		}
		if err != nil {
			errs = append(errs, &RefError{Store: sr.Store, Ref: sr.Ref, Err: unwrapRefError(err), HideID: r.HidesIDs(sr.Store)})
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

// fetchBatch runs one GetBatch call and records an outcome for every id.
func (r *Resolver) fetchBatch(ctx context.Context, store string, bg BatchGetter, ids []string, record func(string, string, fetched)) {
	vals, err := bg.GetBatch(ctx, ids)
	r.logger.DebugContext(ctx, "store batch get", "store", store, "ids", len(ids), "found", len(vals), "result", Class(err))
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
	for _, id := range ids {
		switch v, ok := vals[id]; {
		case ok:
			record(store, id, fetched{val: v})
		case perID[id] != nil:
			record(store, id, fetched{err: perID[id]})
		case whole != nil:
			record(store, id, fetched{err: whole})
		default:
			record(store, id, fetched{err: fmt.Errorf("%w: store returned no value", ErrNotFound)})
		}
	}
}

// derive applies the null rule, the #key selection and the mask check to a
// stored value. Its errors never include the value or a parser message that
// could quote it.
func derive(v Secret, key string) (Secret, error) {
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

// unwrapRefError strips a store's own *RefError so the Resolver's RefError,
// which names the full reference and the store, is the only one in a chain.
func unwrapRefError(err error) error {
	var re *RefError
	if errors.As(err, &re) && re.Store == "" {
		return re.Err
	}
	return err
}

// Unjoin returns the leaves of an error tree built with errors.Join, in
// order; a nil error gives none and any other error gives itself.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
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
