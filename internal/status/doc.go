// Package status owns what omsecrets tells about itself over HTTP:
// liveness (/healthz), readiness (/readyz, true once the first full pass
// over the definitions has finished), the last result per definition
// (/status, JSON) and the metrics (/metrics, mounted from
// internal/metrics).
//
// A status entry names files, fields, reference ids and outcome classes;
// it never holds a value, and its error strings are the one-line errors
// of the other packages, which never hold one either. It does not decide
// anything: the daemon records into it.
package status
