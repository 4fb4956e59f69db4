// Package loadtest holds omsecrets' load harness: benchmarks that run the
// real pieces against the in-repo test servers and report store calls,
// latency, CPU and memory as benchmark metrics (`make bench`).
//
//   - BenchmarkAWS*: 100 definitions × 8 references shared as real
//     deployments share them, resolved cold, warm within the cache TTL,
//     and the way OpenMetadata's Python ingestion does it (one
//     GetSecretValue/GetParameter per reference occurrence, no cache,
//     sequential), against internal/awstest over HTTP.
//   - BenchmarkDaemon*: the omsecrets binary running `run` against
//     internal/omtest and internal/awstest: latency from a definition
//     write to its output file, and the idle CPU and RSS of a daemon
//     holding 500 definitions.
//
// It has no code outside its tests.
package loadtest
