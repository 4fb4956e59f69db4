// Package resolver turns OpenMetadata secret references into values.
//
// A reference is a string value that starts with "secret:" (see ParseRef).
// The package owns the reference syntax, the Secret type that never prints
// its value, the store interfaces (Getter and the optional BatchGetter,
// ValueIDs, KeyedValues, ChangeNotifier, ChangeLister and Forgetter), the Spec each store package describes itself with, the error
// classes every store maps its failures to, and the Resolver that
// deduplicates references and fans out to stores.
//
// # Economy of store calls
//
// Stores make exactly one request per call; the Resolver decides how many
// calls are made, and when:
//
//   - Deduplication and batching: one Resolve fetches each (store, id)
//     once, however many references (and #keys) name it, in
//     ceil(ids / MaxBatch) GetBatch calls per store, MaxBatch being read
//     on every call since a store may lower it.
//   - Cache: raw stored values are kept for Options.CacheTTL, less up to
//     10% at random per entry so entries fetched together do not expire
//     together. Only successes are cached; expired entries are dropped
//     when looked up and by a sweep at most once per TTL. Resolve reads the
//     cache; Refresh does not, and stores what it fetched. Values of stores
//     whose ids are values (ValueIDs) are not cached.
//   - Singleflight: concurrent Resolve and Refresh calls share fetches in
//     flight per (store, id). A call fetches, in batches, only the ids
//     nobody is fetching, and waits for the others. A fetch runs under its
//     owner's context; if it fails because that context ended, each waiter
//     whose context is alive fetches the id itself, so one caller's
//     cancellation never fails another.
//   - Rate limit: each store named in Options.Limits has a token bucket
//     (Limit; a store's default is its Spec.Limit, which the caller passes
//     there), shared by all calls; every store call, retries and listing
//     pages included, takes one token. The rate adapts: it halves on
//     throttling and climbs back slowly (additive increase,
//     multiplicative decrease), so that many Resolvers sharing a store's
//     quota settle on it. Options.Concurrency bounds the calls of one
//     Resolve.
//   - Change detection: every value carries its store's version token
//     (Secret.Version; a keyed hash of the value, ContentVersion, where
//     the store has none), kept with it in the cache. A Refresh asks each
//     ChangeLister store which of the cached (id, version) pairs it is
//     about to fetch are current, and serves those without fetching them (Options.ChangeCheck: values are held
//     past their TTL for that, and read again after MaxAge whatever the
//     store says). A store that refuses the listing is refreshed in full
//     from then on, logged once.
//   - Retries: transient failures (Transient), of a whole call or of single
//     ids of a batch, are retried with exponential backoff and full
//     jitter, waiting at least a Retry-After hint (see RetryPolicy).
//     Throttling is retried until the caller's context ends; other
//     transient failures up to RetryPolicy.MaxAttempts; permanent failures
//     never.
//
// An Observer sees every store call, cache lookup and retry, with the store
// name and error class but never an id or a value, for metrics.
//
// It does not know about files, documents or OpenMetadata's API: callers
// collect references (see internal/render) and hand them over, and decide
// what to do with values that failed (the daemon keeps its last good
// files). Store implementations live in subpackages and import this one;
// this package never imports a store.
package resolver
