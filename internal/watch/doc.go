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
//     period, or at the latest a maximum wait after the burst began;
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
// fingerprint of a definition exists anywhere; it never logs, returns or
// retains the bytes. Errors and log lines name paths only.
package watch
