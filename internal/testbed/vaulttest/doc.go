// Package vaulttest is a fake HashiCorp Vault / OpenBao server for tests:
// the part of Vault's HTTP API that resolver/vault and the real
// github.com/hashicorp/vault/api client use, spoken over HTTP or TLS on
// 127.0.0.1.
//
// It answers:
//
//   - KV version 2 reads of <mount>/data/<path> (with ?version=) and
//     <mount>/metadata/<path>, including the 404 with data that Vault
//     returns for a deleted or destroyed latest version;
//   - KV version 1 reads of <mount>/<path>;
//   - sys/internal/ui/mounts/<mount> and sys/mounts/<mount>, which say a
//     mount's KV version;
//   - auth/token/lookup-self and auth/token/renew-self;
//   - auth/<mount>/login for Kubernetes roles (the JWT must equal the
//     configured one) and AppRoles (role id and secret id must match),
//     issuing tokens with a TTL, a max TTL and renewability.
//
// Paths are per namespace (the X-Vault-Namespace header); tokens are valid
// in the namespace they were issued in. Errors have Vault's bodies:
// {"errors":["permission denied"]} with 403 for a missing, expired,
// revoked or denied token, 404 with {"errors":[]} for a missing secret,
// 429 with Retry-After for a rate limit quota, 503 {"errors":["Vault is
// sealed"]} and 503 for a standby. Faults (5xx, latency, dropped
// connections) can be injected, and every request is recorded, so tests
// can count calls per path.
//
// The package is for tests only: it keeps everything in memory, has no
// policies beyond DenyPath, and implements no writes over HTTP (tests put
// secrets with the Server's methods).
package vaulttest
