// Package daemon schedules `omsecrets run`: it keeps one resolved workflow
// config on tmpfs per definition file in the watched directories, current
// as files change and secrets rotate, and runs the one pass of
// `run --once` and `resolve --out-dir`.
//
// Work flows from the watcher's events (and a jittered periodic refresh,
// and quick retries of transient failures) into a queue that keeps at
// most one run in flight per definition; a change during a run makes it
// run once more after. Workers take batches of definitions and hand them
// to reconcile.Reconciler, which runs every stage of the pipeline. The
// daemon then writes each output through its outputs type, which owns the
// output names (the first definition to claim a name keeps it), removal
// with the definition, adoption of a previous run's outputs, and the
// <dag_id>.status freshness file beside each output that the ingestion
// task checks, and the <dag_id>.report.json report file of an ingestion
// pipeline (the bot's server connection, JWT resolved, that a task failing
// closed reports its run with; written whenever the reconciler produced one,
// removed with the definition). A failed run keeps the last good output
// and marks it stale.
//
// # Which definitions exist
//
// The daemon owns that answer. Its outputs type keeps every definition
// path it reconciled and has not found gone, with the output name it owns;
// the refresh re-queues those paths, a failing one keeps its output, and
// the first pass's sweep matches them to a previous run's outputs. A path
// joins when a batch reads it and leaves when a batch finds its file gone
// (reconcile.Result.Gone): the file itself, read at the moment of the run,
// decides, whoever queued the path. That is how run --once works, with no
// watcher at all, and why the watcher's events carry only a path.
// internal/watch keeps fingerprints of the files it reported, but that is
// its change detection, private to its goroutine, not a second list of
// definitions (see its package doc).
//
// # Which secrets are in use
//
// uses indexes which definition read which secret, from each result.
// Daemon.Changed re-queues the definitions of a secret a store reports
// changed, and a change reported while a batch runs re-queues that batch's
// definitions that turn out to read it (their first resolution may have
// read the old value before the index knew them). A secret that lost its
// last reader is forgotten when a batch ends (Options.Forget: the
// resolver's cached value, the Kubernetes store's watch), so that the
// state kept follows the definitions in use; omsecrets_state_entries
// shows its size.
//
// It does not watch files (internal/watch does), resolve anything
// (internal/reconcile does) or know flags and variables (cmd does).
package daemon
