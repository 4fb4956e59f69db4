package resolver

import "context"

// Getter is a secret store. Get returns the value stored under id, exactly
// as stored (the literal "null" is returned as is; the Resolver maps it).
//
// Failures wrap one of ErrNotFound, ErrPermission, ErrUnavailable or
// ErrBadRef, and their messages name the id, never a value. Get must be safe
// for concurrent use and must not change the store.
type Getter interface {
	Get(ctx context.Context, id string) (Secret, error)
}

// BatchGetter is a Getter that can fetch several ids in one call, like AWS
// BatchGetSecretValue or SSM GetParameters.
type BatchGetter interface {
	Getter
	// MaxBatch is the largest number of ids one GetBatch call accepts.
	MaxBatch() int
	// GetBatch fetches ids (at most MaxBatch, no duplicates). It returns the
	// values it found. A failure of single ids is reported as errors.Join of
	// *RefError values (Ref.ID set, Store empty); any other error means the
	// whole call failed for every id missing from the map.
	GetBatch(ctx context.Context, ids []string) (map[string]Secret, error)
}

// ValueIDs is implemented by stores whose ids are the values themselves
// (the db store: "secret:foo" resolves to "foo"). The Resolver and its
// callers then never print such ids: see Resolver.HidesIDs, Ref.Label and
// RefError.HideID.
type ValueIDs interface {
	IDsAreValues() bool
}
