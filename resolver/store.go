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

// KeyedValues is implemented by stores whose secrets hold several named
// values: a Kubernetes Secret's data keys, a Vault KV path's fields. Get
// returns all of them as one JSON object of strings (JSON null for a value
// the store holds as the literal "null"), so that references to several
// keys of one secret share one fetch and one cache entry; "#key" selects
// a key of that object, and a reference without "#key" selects DefaultKey.
// A value the store cannot carry as a JSON string (bytes that are not
// UTF-8 text) is any other JSON value, such as false: a reference to it
// fails as bad_ref saying so.
type KeyedValues interface {
	// DefaultKey is the key a reference without "#key" reads ("value").
	DefaultKey() string
}

// ChangeNotifier is implemented by stores that learn when a secret they
// have read changes (the Kubernetes store watches each Secret it read).
// The Resolver calls Notify once, from New (when Options.OnChange is
// set), with a function the store
// calls with the ids that changed; the Resolver then drops those ids from
// its cache and passes them on to Options.OnChange, whose caller
// re-resolves whatever used them.
//
// A store calls fn for an id when its value may differ from the one last
// returned: updated, deleted, or unknown after a watch was interrupted.
// Spurious calls are allowed (they cost a fetch); missed changes are not,
// except that a store whose watch is refused says so in its log and
// leaves the change to the periodic refresh. fn does not block; it may be
// called from any goroutine. A store that has nothing to watch yet calls
// nothing.
type ChangeNotifier interface {
	Getter
	Notify(fn func(ids []string))
}

// Forgetter is implemented by stores that keep state per id they read
// (the Kubernetes store's watch of each Secret). The Resolver calls Forget
// (see Resolver.Forget) when its caller no longer uses ids, so that the
// store drops that state and ends what it runs for them: a sidecar whose
// pipelines come and go for months holds state for the ids in use only.
// A later Get of a forgotten id is like a first one. Forget must not
// block.
type Forgetter interface {
	Getter
	Forget(ids []string)
}

// ChangeLister is implemented by stores that can tell, for fewer calls
// than reading them, which of the values they returned are still
// current: Secrets Manager through ListSecrets, Parameter Store through
// DescribeParameters, Key Vault through Get Secrets, Kubernetes through
// its watch. Refresh asks it first (see Options.ChangeCheck) and fetches
// only the ids it cannot vouch for, serving the others from the values
// it read last.
//
// The store keeps no note of what it returned: each value carries its
// version token (Secret.WithVersion), the Resolver keeps it with the
// cached value, and asks about exactly the (id, version) pairs it would
// serve. A value a fetch in flight is reading has nothing to do with the
// answer, so a refresh can never serve an older value on the word the
// store gave for a newer one.
type ChangeLister interface {
	Getter
	// Unchanged returns the ids among held whose current value is still
	// the one of the version the store gave (Held.Version). A pair it
	// cannot vouch for (a token it cannot interpret, an id it cannot
	// list) is left out; leaving out too many costs a fetch, vouching
	// wrongly serves a stale value.
	//
	// Every request it makes to the store goes through p.Call, which
	// waits for the store's rate limit and records the call. It returns
	// an error wrapping ErrPermission when the store refuses the listing
	// (the Resolver then logs that once and refreshes that store in
	// full), and any other error when it could not list now (the
	// Resolver then refreshes those ids in full this time). It must not
	// spend more calls than a full read of the ids would: it gives up
	// with an error instead (see ListPages).
	Unchanged(ctx context.Context, held []Held, p Pacer) ([]string, error)
	// FullReadCalls is the number of calls a full read of n ids takes
	// (ceil(n / MaxBatch) for a batching store), the budget of Unchanged.
	FullReadCalls(n int) int
}

// Held is a value the Resolver holds: the id it was read for and the
// version token the store returned with it. The Resolver never asks
// about a Held without a version.
type Held struct {
	ID, Version string
}

// Pacer makes the requests of a ChangeLister under the Resolver's rate
// limit of that store, counting them in its metrics and its adaptive
// rate.
type Pacer interface {
	// Call waits for the store's rate limit, then calls do once and
	// records its outcome as one call of operation op ("list"). It
	// returns do's error, or an error wrapping ErrUnavailable if the
	// limit allowed no call before ctx ended.
	Call(ctx context.Context, op string, do func(context.Context) error) error
}
