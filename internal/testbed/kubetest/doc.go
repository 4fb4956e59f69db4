// Package kubetest runs a real Kubernetes API server for tests: the
// upstream kube-apiserver (k8s.io/kubernetes v1.37.2, built from
// internal/testbed/kubeapiserver by `make kube-apiserver`) on Debian's etcd
// (`apt-get install etcd-server`, /usr/bin/etcd), both on free ports of
// 127.0.0.1. Nothing is emulated: RBAC, watch, resource versions, status
// bodies, bound service-account tokens and the audit log are the real
// server's.
//
// The server is started once per test binary, on the first Shared call,
// because it takes seconds to start; the test binary's TestMain must run
// the tests through Main, which stops it (the API server before etcd)
// after the last test:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// Start runs a Cluster of a test's or benchmark's own instead, stopped
// with it, for packages without such a TestMain.
//
// Tests isolate themselves by namespace (Cluster.Namespace) and never
// depend on objects of other tests. What the server is started with:
//
//   - a TLS serving certificate for 127.0.0.1 and localhost issued by a CA
//     the package generates (Cluster.CAFile, Cluster.CAPEM);
//   - --token-auth-file with the static token of "admin" (group
//     system:masters) and of the restricted users "alice", "bob" and
//     "carol", who may do nothing until a test grants it (Cluster.Grant);
//   - --authorization-mode=RBAC;
//   - a generated RSA key as --service-account-key-file and
//     --service-account-signing-key-file, so that TokenRequest issues
//     bound service-account tokens (Cluster.ServiceAccount, TokenRequest);
//   - an audit log of every request on secrets at level Metadata (no
//     bodies, so no values), which Cluster.Requests reads to count GETs
//     and WATCHes per Secret name, namespace and user.
//
// Proxy puts a TLS reverse proxy in front of the server that forwards
// everything unchanged unless a test asks it to answer with a fault
// instead (429 with Retry-After as API Priority and Fairness sends it,
// 5xx with a Status body, dropped connections, delays), and can cut the
// watches passing through it.
//
// Restart stops and starts the API server on the same port and etcd, as
// an upgrade or a crash would; it affects every test of the binary, so
// only tests that do not call t.Parallel may use it.
//
// When the kube-apiserver binary or etcd is missing, Shared fails the test
// (it does not skip) and says how to install it. The binary is found
// through $OMSECRETS_KUBE_APISERVER (the Makefile sets it), else at
// .cache/kube-apiserver/v1.37.2/kube-apiserver under the module root;
// etcd through $OMSECRETS_ETCD, else /usr/bin/etcd, else $PATH.
//
// The package owns nothing used in production and must only be imported
// from tests and benchmarks.
package kubetest
