// Package testbed is the folder of what the tests run against, kept apart
// from the product packages. Nothing under it is imported by the omsecrets
// binary; each package is imported only from _test.go files (kubeapiserver
// is a module of its own, built by `make kube-apiserver`).
//
// Owns:
//   - awstest, azuretest, gcptest, vaulttest: servers that speak each
//     store's wire protocol, error names and limits, for the stores' tests;
//   - omtest: an OpenMetadata API server;
//   - kubetest and kubeapiserver: a real kube-apiserver on Debian's etcd;
//   - schematest: validation against OpenMetadata's JSON Schemas in
//     ../shared/openmetadata;
//   - testca, nobody: throwaway CAs, and running a test body as an
//     unprivileged user.
//
// Does not own: the product packages (cmd, resolver, sink, internal/...),
// nor the resolver's own contract helpers (resolver/resolvertest).
package testbed
