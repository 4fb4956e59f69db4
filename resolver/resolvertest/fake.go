package resolvertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"omsecrets/resolver"
)

var (
	_ resolver.Getter      = (*Fake)(nil)
	_ resolver.BatchGetter = (*BatchFake)(nil)
)

// Fake is an in-memory resolver.Getter. It is not a resolver.BatchGetter;
// use BatchFake for that.
//
// Set its fields before the first call and do not change them afterwards.
// The zero Fake is an empty store. Its methods are safe for concurrent use.
type Fake struct {
	// Values maps an id to its stored value, returned as is (the literal
	// "null" included). An id in neither Values nor Errs is not found.
	Values map[string]string
	// Errs maps an id to the error its lookups fail with; it takes
	// precedence over Values. Use a class sentinel such as
	// resolver.ErrPermission or an error wrapping one.
	Errs map[string]error
	// Delay, if positive, makes every call wait that long (or until its
	// context is done) while it counts as in flight.
	Delay time.Duration
	// Hook, if set, runs at the start of every call, after the call is
	// counted and before Delay, with the call's context. It scripts
	// outcomes per call: perID errors fail those ids only, taking
	// precedence over Errs and Values, and a non-nil err fails the whole
	// call (a GetBatch returns it as is and no value; a Get returns it in
	// a *resolver.RefError). It may block to hold the call in flight; it
	// should then return when ctx is done. It must be safe for concurrent
	// use.
	Hook func(ctx context.Context, c Call) (perID map[string]error, err error)

	mu          sync.Mutex
	gets        int
	batches     int
	requested   []string
	batchSizes  []int
	calls       []Call
	inFlight    int
	maxInFlight int
}

// Call describes one call a Fake received, for Hook and Calls.
type Call struct {
	// N numbers the calls to the fake from 1, in the order they arrived.
	N int
	// Op is "get" or "batch".
	Op string
	// IDs are the ids asked for: one for a Get. Do not modify them.
	IDs []string
	// At is when the call arrived.
	At time.Time
}

// begin counts a call and returns it.
func (f *Fake) begin(op string, ids []string) Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op == "get" {
		f.gets++
	} else {
		f.batches++
		f.batchSizes = append(f.batchSizes, len(ids))
	}
	f.requested = append(f.requested, ids...)
	c := Call{N: len(f.calls) + 1, Op: op, IDs: slices.Clone(ids), At: time.Now()}
	f.calls = append(f.calls, c)
	return c
}

// hook runs Hook, if set, for c.
func (f *Fake) hook(ctx context.Context, c Call) (perID map[string]error, whole error) {
	if f.Hook == nil {
		return nil, nil
	}
	return f.Hook(ctx, c)
}

// NewFake returns a Fake that stores values.
func NewFake(values map[string]string) *Fake { return &Fake{Values: values} }

// Get implements resolver.Getter. Failures are *resolver.RefError values
// with Ref.ID set and Store empty, as a store's would be.
func (f *Fake) Get(ctx context.Context, id string) (resolver.Secret, error) {
	perID, whole := f.hook(ctx, f.begin("get", []string{id}))
	if whole != nil {
		return resolver.Secret{}, refErr(id, whole)
	}
	if err := f.enter(ctx); err != nil {
		return resolver.Secret{}, refErr(id, err)
	}
	defer f.leave()
	return f.lookup(id, perID)
}

// lookup returns the stored outcome for id, or perID's error for it.
func (f *Fake) lookup(id string, perID map[string]error) (resolver.Secret, error) {
	if err, ok := perID[id]; ok && err != nil {
		return resolver.Secret{}, refErr(id, err)
	}
	if err, ok := f.Errs[id]; ok {
		return resolver.Secret{}, refErr(id, err)
	}
	if v, ok := f.Values[id]; ok {
		return resolver.NewSecret(v), nil
	}
	return resolver.Secret{}, refErr(id, fmt.Errorf("fake: no secret %q: %w", id, resolver.ErrNotFound))
}

// enter counts a call in flight and waits for Delay. If ctx is done it
// returns an error wrapping resolver.ErrUnavailable and ctx.Err(), and the
// call does not count as in flight.
func (f *Fake) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	if f.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		f.leave()
		return unavailable(ctx.Err())
	}
}

func (f *Fake) leave() {
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
}

// Gets returns the number of Get calls so far.
func (f *Fake) Gets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// Batches returns the number of GetBatch calls so far (always 0 for a Fake
// used on its own).
func (f *Fake) Batches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

// Requested returns every id asked for so far, by Get or GetBatch, in call
// order (ids of concurrent calls interleave in no fixed order).
func (f *Fake) Requested() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requested)
}

// BatchSizes returns the number of ids of each GetBatch call so far.
func (f *Fake) BatchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batchSizes)
}

// MaxInFlight returns the largest number of calls (Get and GetBatch
// together) that were in flight at once. Set Delay to make calls overlap.
func (f *Fake) MaxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInFlight
}

// Calls returns every call so far, in the order they arrived.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Reset zeroes the call counters and forgets the calls. It keeps Values,
// Errs, Delay and Hook.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets, f.batches, f.requested, f.batchSizes, f.calls, f.maxInFlight = 0, 0, nil, nil, nil, 0
}

// BatchFake is a Fake that also implements resolver.BatchGetter.
//
// GetBatch reports per-id failures (from Errs, and ids not found unless
// SilentMissing) as errors.Join of *resolver.RefError values. It fails the
// whole call, naming the breach, if it is handed more than Max ids, a
// duplicate id or no id at all, so a caller that breaks the BatchGetter
// contract sees errors instead of values.
type BatchFake struct {
	Fake
	// Max is what MaxBatch returns.
	Max int
	// BatchErr, if set, makes every GetBatch call fail as a whole with it
	// and return no value.
	BatchErr error
	// SilentMissing makes GetBatch leave ids that are not found out of the
	// map without reporting an error for them, as some batch APIs do.
	SilentMissing bool
}

// NewBatchFake returns a BatchFake that stores values and accepts at most
// maxBatch ids per GetBatch call.
func NewBatchFake(values map[string]string, maxBatch int) *BatchFake {
	return &BatchFake{Fake: Fake{Values: values}, Max: maxBatch}
}

// MaxBatch implements resolver.BatchGetter.
func (b *BatchFake) MaxBatch() int { return b.Max }

// GetBatch implements resolver.BatchGetter.
func (b *BatchFake) GetBatch(ctx context.Context, ids []string) (map[string]resolver.Secret, error) {
	call := b.begin("batch", ids)
	if err := b.checkBatch(ids); err != nil {
		return nil, err
	}
	perID, whole := b.hook(ctx, call)
	if whole != nil {
		return nil, whole
	}
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.leave()
	if b.BatchErr != nil {
		return nil, b.BatchErr
	}

	out := make(map[string]resolver.Secret, len(ids))
	var errs []error
	for _, id := range ids {
		v, err := b.lookup(id, perID)
		switch {
		case err == nil:
			out[id] = v
		case b.SilentMissing && errors.Is(err, resolver.ErrNotFound) && b.Errs[id] == nil && perID[id] == nil:
		default:
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// checkBatch enforces the BatchGetter contract on ids.
func (b *BatchFake) checkBatch(ids []string) error {
	if len(ids) == 0 {
		return errors.New("fake: GetBatch called with no id")
	}
	if len(ids) > b.Max {
		return fmt.Errorf("fake: GetBatch called with %d ids, MaxBatch is %d", len(ids), b.Max)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("fake: GetBatch called with duplicate id %q", id)
		}
		seen[id] = true
	}
	return nil
}

func refErr(id string, err error) error {
	return &resolver.RefError{Ref: resolver.Ref{ID: id}, Err: err}
}

func unavailable(cause error) error {
	return fmt.Errorf("fake: %w: %w", cause, resolver.ErrUnavailable)
}
