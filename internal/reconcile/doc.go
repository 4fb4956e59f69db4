// Package reconcile owns the pipeline that turns definition files into
// resolved workflow configs, for every command: resolve, check, run and
// run --once all call Reconciler.Reconcile.
//
// One batch of definitions, of either kind (IngestionPipelines as
// OpenMetadata deploys them, self-contained workflow configs), goes
// through every stage together: read and parse, store choice, bot JWT,
// the service from OpenMetadata (through Services, which omclient.Pool
// satisfies), the 0.12-0.13 connection-secret layout, assembly, one plan
// of store calls for every reference, substitution and rendering. Each
// store stage makes one resolver call for the whole batch, so each secret
// is fetched once however many definitions name it. It fails closed: a
// definition with any problem yields no output, only a typed error with
// its outcome class (ClassOf) and whether it is worth retrying soon
// (Transient).
//
// It writes nothing and keeps no state between batches: which definition
// owns which output, retries and refreshes are internal/daemon's, and the
// files are package sink's. It knows no flag or variable: callers pass
// the hints to print with its sentinel errors (Options.Hints) and the
// reasons a store is missing (Options.Missing).
package reconcile
