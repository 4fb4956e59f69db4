// Package daemon owns `omsecrets run`: it keeps one resolved workflow
// config on tmpfs per definition file in the watched directories, current
// as files change and secrets rotate.
//
// Work flows from the watcher's events (and a jittered periodic refresh)
// into a queue that keeps at most one run in flight per definition; a
// change during a run makes it run once more after. Workers take batches
// of definitions so that one pass plans its store calls across all of them
// (the resolver deduplicates and batches). A pass parses each definition,
// resolves the bot JWT, asks OpenMetadata for the service, assembles the
// workflow config, resolves every reference and writes the output
// atomically. A failed run keeps the last good output and marks it stale;
// a deleted definition's output is removed.
//
// It does not watch files itself (internal/watch does), talk HTTP to
// OpenMetadata itself (internal/omclient does) or parse documents
// (internal/workflow and internal/render do).
package daemon
