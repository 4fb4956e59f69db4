// Package watch turns file-system activity in the definition directories
// into one Event per change of a definition file, for the daemon to
// reconcile.
//
// It owns:
//
//   - directory watches through fsnotify: only the directories themselves,
//     never single files (editors and Kubernetes replace inodes) and never
//     subdirectories;
//   - which names count (eligible): *.json, *.yaml and *.yml, not hidden,
//     and after following symlinks a regular file;
//   - coalescing per path: a burst of events yields one Event after a quiet
//     period, or at the latest a maximum wait after the burst began, unless
//     the file is a whole JSON object (below), which goes at once;
//   - deciding from the file itself at emit time whether anything
//     happened: an Event when its content differs from what the last
//     Event for it saw, or when a file an Event reported is gone; nothing
//     otherwise;
//   - rescans, which find what events do not show: activity on hidden names
//     (a Kubernetes ConfigMap or Secret volume swapping its ..data symlink,
//     which changes file contents without any event on the visible names),
//     an fsnotify queue overflow, and a periodic safety net;
//   - directories that are missing at start or disappear later;
//   - Scan, the same listing once without watching, for one-shot runs.
//
// It does not read definitions for its consumer, parse them, decide
// outputs or retry failed work: an Event only says "look at this path
// again", and whether the file is still there is for the consumer to see
// when it looks.
//
// # Whole JSON files skip the quiet period
//
// The quiet period is there so that a file is not handed over while its
// writer is midway: OpenMetadata rewrites <dag_id>.json in place, in
// chunks. But a JSON object says itself when it is complete. So on every
// event on a .json name (any case) the watcher reads the file, and if its
// content is exactly one JSON document whose top-level value is an object
// (json.Valid, first non-whitespace byte '{', nothing but whitespace
// after), the path is queued for an Event at once and its pending burst
// is dropped. A strict prefix of an object is never a complete object,
// whatever the writer's chunking or pauses, so a truncate-then-rewrite or
// a file written 7 bytes at a time is never handed over half-written; an
// atomic writer's rename into place goes at once too. A later event starts
// a new burst, which tries again; a path queued whole that stops being
// whole before the consumer takes it (rewritten again) goes back to wait.
//
// Everything else waits for quiet exactly as before: YAML (whose syntax
// marks no end: any prefix cut at a line break is a document), JSON that
// does not parse or whose top-level value is not an object ("12" is a
// valid prefix of "123"), a leading byte order mark (which the daemon's
// JSON parser refuses too), files larger than the hash limit (1 MiB), and
// whatever cannot be read the safe way: the check stats first and opens
// only a regular file, through internal/safefile (non-blocking, checked
// again on the descriptor, bounded), so a FIFO or device behind a .json
// name never blocks Run; the daemon reports such files when it reads them.
// Rescans (..data swaps, overflows, the periodic safety net) and the
// initial scan are unchanged; MaxWait still bounds every burst.
//
// The check costs one extra bounded read per event on a .json name. It
// cannot tell a whole object that a writer overwrites in place without
// truncating (new bytes over old ones of the same length) from a finished
// file: such a writer can be caught with a mixture that happens to parse,
// and its last write's Event follows at once. Writers that truncate
// (O_TRUNC, as Python's "w" and os.WriteFile) or rename into place are
// not affected.
//
// # What the watcher remembers
//
// The watcher keeps, per path, the fingerprint (size and keyed content
// hash, see fingerprint) of the file as of its last Event. That is its
// change detection and nothing else: it is what lets a ..data swap that
// leaves a file's bytes alone, an identical rewrite or a Chmod produce no
// Event, and what tells a rescan which paths to report when they vanished
// without an event. It is not the list of definitions the daemon serves:
// internal/daemon keeps its own (the paths it reconciled and has not found
// gone, with their outputs), because it must also work without a watcher
// (run --once) and learns that a file is gone from reading it, not from
// here. Neither can be derived from the other: this state belongs to Run's
// goroutine and lives only while it runs, and the daemon's has no
// fingerprints.
//
// # Secrets
//
// Definition files can hold plaintext credentials (OpenMetadata writes them
// with its show_secrets_encoder). The watcher reads each eligible file only
// to hash its content with a key drawn at random per process, so no stable
// fingerprint of a definition exists anywhere, and a .json file also to
// check that it is whole; it never logs, returns or retains the bytes.
// Errors and log lines name paths only.
package watch
