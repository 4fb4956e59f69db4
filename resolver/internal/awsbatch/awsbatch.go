package awsbatch

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"

	"omsecrets/resolver"
)

// Reader reads ids in batches of at most Max through Batch, or one by one
// through Get once FallBack was called. The zero Reader is not usable:
// set every field. It is safe for concurrent use.
type Reader struct {
	// Max is the most ids one Batch call takes.
	Max int
	// Check refuses an id the service would refuse for the whole call;
	// such an id fails alone.
	Check func(id string) error
	// Get reads one id with the single read call; its errors do not name
	// the id.
	Get func(ctx context.Context, id string) (resolver.Secret, error)
	// Batch reads at most Max distinct, valid ids into out and returns
	// their failures (RefError for single ids; any other error failed the
	// ids missing from out). It may call FallBack and GetEach.
	Batch func(ctx context.Context, ids []string, out map[string]resolver.Secret) []error
	// Logger receives the fall-back warning, FallBackWarning, with
	// "action" set to Action (the batch call's IAM action).
	Logger          *slog.Logger
	FallBackWarning string
	Action          string

	denied atomic.Bool
}

// MaxBatch implements resolver.BatchGetter: Max, or 1 once the batch
// action was denied.
func (r *Reader) MaxBatch() int {
	if r.denied.Load() {
		return 1
	}
	return r.Max
}

// GetBatch implements resolver.BatchGetter: duplicate ids are read once,
// ids Check refuses fail alone, the others are read in Batch calls of at
// most Max (more than one only if the caller passed more than Max ids),
// or one Get each once the batch action was denied. Failures of single
// ids are *resolver.RefError values; an error of any other type failed
// the ids missing from the map.
func (r *Reader) GetBatch(ctx context.Context, ids []string) (map[string]resolver.Secret, error) {
	out := make(map[string]resolver.Secret, len(ids))
	var errs []error
	var valid []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := r.Check(id); err != nil {
			// AWS would refuse the whole call for one bad id.
			errs = append(errs, RefError(id, err))
			continue
		}
		valid = append(valid, id)
	}
	if r.denied.Load() {
		errs = append(errs, r.GetEach(ctx, valid, out)...)
		return out, errors.Join(errs...)
	}
	for chunk := range slices.Chunk(valid, r.Max) {
		errs = append(errs, r.Batch(ctx, chunk, out)...)
	}
	return out, errors.Join(errs...)
}

// FallBack switches to one Get per id for good, logging the switch once.
func (r *Reader) FallBack() {
	if r.denied.CompareAndSwap(false, true) {
		r.Logger.Warn(r.FallBackWarning, "action", r.Action)
	}
}

// GetEach reads ids one Get call at a time into out and returns their
// failures. It stops at the first failure that is not the id's own
// (throttling, server errors, network), which then applies to the ids
// left, so that a failing service does not get one call per id.
func (r *Reader) GetEach(ctx context.Context, ids []string, out map[string]resolver.Secret) []error {
	var errs []error
	for _, id := range ids {
		v, err := r.Get(ctx, id)
		switch {
		case err == nil:
			out[id] = v
		case resolver.Transient(err):
			return append(errs, err)
		default:
			errs = append(errs, RefError(id, err))
		}
	}
	return errs
}

// RefError is the failure of one id of a batch, as resolver.BatchGetter
// reports it.
func RefError(id string, err error) error {
	return &resolver.RefError{Ref: resolver.Ref{ID: id}, Err: err}
}
