// Package loadtest holds omsecrets' load harness: benchmarks that run the
// real pieces against the in-repo test servers and report store calls,
// latency, CPU and memory as benchmark metrics (`make bench`).
//
//   - BenchmarkAWS*: 100 definitions × 8 references shared as real
//     deployments share them, resolved cold, warm within the cache TTL,
//     and the way OpenMetadata's Python ingestion does it (one
//     GetSecretValue/GetParameter per reference occurrence, no cache,
//     sequential), against internal/testbed/awstest over HTTP.
//   - BenchmarkAzure*, BenchmarkGCP*, BenchmarkVault*: the same fleet
//     against internal/testbed/azuretest (Key Vault over TLS, azidentity's real
//     credential), internal/testbed/gcptest (Secret Manager over gRPC and TLS,
//     a real service-account token exchange) and internal/testbed/vaulttest
//     (KV version 2, two fields per path), beside the one-call-per-
//     occurrence way (for GCP a new client per read, as OpenMetadata's
//     GCP manager does).
//   - BenchmarkK8s*: the fleet against a real kube-apiserver
//     (internal/testbed/kubetest), GETs per pass beside one
//     read_namespaced_secret per occurrence, and watch-to-notify latency.
//   - BenchmarkDaemon*: the omsecrets binary running `run` against
//     internal/testbed/omtest and internal/testbed/awstest: latency from a definition
//     write to its output file, and the idle CPU and RSS of a daemon
//     holding 500 definitions.
//
// It has no code outside its tests.
package loadtest
