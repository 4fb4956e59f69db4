// Package chaos holds omsecrets' chaos tests: the real omsecrets binary,
// built once per test binary, runs `omsecrets run` as a subprocess over a
// real filesystem against the in-repo test servers (internal/testbed/omtest,
// internal/testbed/awstest) and the file store, while the tests break what is
// around it, and checks that a definition file cannot make omsecrets
// leak, hang or lie:
//
//   - TestChaosKill: SIGKILL at random moments while definitions change
//     and secrets rotate; after every restart each output is a complete
//     resolution of its definition, no temporary file older than a minute
//     survives a pass, and /readyz returns. TestChaosKillTempFileRemoved:
//     the temporary file a kill leaves is removed once a minute old, also
//     when the next run started before that.
//   - TestChaosENOSPC: a full tmpfs (a size-limited tmpfs in a private
//     mount namespace) during writes: the old output stays, the failure is
//     write_failed naming the file, and writing resumes when space returns.
//     TestChaosENOSPCRetry: without waiting for the next refresh.
//     TestChaosENOSPCStatusFile: a status file that cannot be rewritten
//     does not stay behind saying current.
//   - TestChaosFaults: OpenMetadata and AWS down, slow, 5xx and 429
//     storms, TLS errors, DNS failures and reset connections: outputs keep
//     their last good version, marked stale, and recover without a
//     restart.
//   - TestChaosSoak: many definitions changing continuously; every one
//     ends right, and RSS, goroutines and open files stay bounded.
//   - TestChaosChurn: the Kubernetes store (a real kube-apiserver,
//     internal/testbed/kubetest) with an hour's refresh while pipelines are
//     created, renamed and deleted and their Secrets created, rotated and
//     deleted (600 changes short, 20,000 full): every rotation reaches its
//     output through a watch within 10 s, and at the end, with as many
//     pipelines as at the start, the API server's open watches and the
//     sidecar's state (omsecrets_state_entries), goroutines and RSS are
//     back at the baseline.
//   - TestChaosMemory: the resident memory of a daemon holding 500
//     definitions (and 5,000 in full mode).
//
// Every planted secret value carries a per-run marker, and everything the
// process prints or serves (standard output and error, the status files,
// /status, /metrics) is scanned for it.
//
// By default the tests run in a short mode (small counts, about a minute
// in all) as part of `go test ./...`; with OMSECRETS_CHAOS=full (`make
// chaos`) they run at full size, which takes over ten minutes. Each test
// prints its figures as one t.Logf line starting with "CHAOS".
//
// OMSECRETS_CHAOS_BIN names a binary to test instead of building one. The
// tests wait on subprocesses, not on CPU, so TestMain raises
// -test.parallel unless it is given. Some tests need a private mount
// namespace (unshare(1), as root or with user namespaces). The package
// has no code outside its tests.
package chaos
