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
//   - deciding what happened from the file itself at emit time: Changed
//     when its content differs from what was last emitted for it, Removed
//     when a known file is gone, nothing otherwise;
//   - rescans, which find what events do not show: activity on hidden names
//     (a Kubernetes ConfigMap or Secret volume swapping its ..data symlink,
//     which changes file contents without any event on the visible names),
//     an fsnotify queue overflow, and a periodic safety net;
//   - directories that are missing at start or disappear later;
//   - Scan, the same listing once without watching, for one-shot runs.
//
// It does not read definitions for its consumer, parse them, decide
// outputs or retry failed work: an Event only says "look at this path
// again".
//
// # Secrets
//
// Definition files can hold plaintext credentials (OpenMetadata writes them
// with its show_secrets_encoder). The watcher reads each eligible file only
// to hash its content with a key drawn at random per process, so no stable
// fingerprint of a definition exists anywhere; it never logs, returns or
// retains the bytes. Errors and log lines name paths only.
package watch
