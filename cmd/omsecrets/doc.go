// Command omsecrets resolves OpenMetadata secret references in workflow
// definitions and writes the resolved workflow configs to tmpfs for the
// ingestion task to read.
//
// Exit codes: 0 success, 1 resolution failed, 2 usage or configuration
// error.
//
// The command owns the wiring: the commands and their usage (main.go),
// the flags and their OMSECRETS_ environment twins (flags.go, and plan's
// own in plan.go), the store table and the store settings' flags, and
// building the stores from them (stores.go), the session every command
// builds from one validated configuration (session.go: logger, stores,
// resolver, reconciler), which paths name definitions (definitions.go:
// one rule for resolve, check, plan and run --once, a directory read as
// run's watcher reads it), and for each command what it prints and its
// exit code (resolve.go, check.go, run.go, plan.go, probe.go).
//
// It does not own what the commands do with the definitions: the
// pipeline is internal/reconcile's, run's loop internal/daemon's, the
// watcher and which names count internal/watch's, writing outputs
// package sink's, the stores the resolver packages', and plan's model,
// the stores' published quotas and plan's report internal/plan's (plan.go
// here parses plan's flags, builds its count-only session and writes the
// report).
package main
