// Package vault implements a resolver.Getter over the KV secrets engine
// of HashiCorp Vault or OpenBao, the store of omsecrets' own "vault"
// provider. OpenMetadata has no Vault secrets manager (issues #19242 and
// #23493; PR #31984 proposed an OpenBao/Vault KV version 2 one, not
// merged), so references reach this store by its provider name or by a
// route (--routes) that sends ids under a prefix to it.
//
// # Ids
//
// An id is a path in the KV mount (the setting vault-mount, default
// "secret"), with one leading "/" dropped, as PR #31984 maps
// OpenMetadata's ids: "secret:/openmetadata/database/mysql_prod/authtype/password"
// reads openmetadata/database/mysql_prod/authtype/password, that is
// GET <mount>/data/openmetadata/database/mysql_prod/authtype/password on KV
// version 2 and GET <mount>/openmetadata/... on version 1. The latest
// version is read.
//
// These ids are resolver.ErrBadRef before any call: empty, longer than
// MaxIDLen (2048 bytes), not UTF-8, with a control or unprintable
// character, with "?", "#", "%" or "\", or with an empty ("a//b", a
// trailing "/"), "." or ".." segment.
//
// # Values and fields
//
// A KV path holds named fields. The Store implements
// resolver.KeyedValues: Get returns all the fields of the path as one JSON
// object, and the resolver selects the field a reference names with
// "#field", or DefaultField ("value", the field PR #31984 writes) without
// one. "secret:/db/prod#username" and "secret:/db/prod#password" thus cost
// one read. In the object, string fields are themselves; the string "null"
// and JSON null are null (OpenMetadata's unset secret); numbers, booleans,
// arrays and objects are strings holding their compact JSON text (port
// 5432 is "5432").
//
// A deleted or destroyed latest version (KV version 2, which answers 404
// with the version's metadata) is resolver.ErrNotFound, and the message
// says the version was deleted or destroyed; an older version is never
// read in its place.
//
// # KV version
//
// The setting vault-kv-version is 1, 2 or auto (the default). With auto
// the first Get asks Vault: sys/internal/ui/mounts/<mount>, which any
// token with a capability on the mount may read, then sys/mounts/<mount>.
// If both are refused the Store logs it once and assumes version 2. A
// transient failure of detection fails that Get and detection is tried
// again.
//
// # Connection
//
// vault-addr (VAULT_ADDR, BAO_ADDR) turns the store on; without it the
// store is not configured. vault-namespace (VAULT_NAMESPACE,
// BAO_NAMESPACE) is sent as X-Vault-Namespace with every request, logins
// included. Vault's TLS certificate is verified against the system roots,
// the bundle SSL_CERT_FILE names and vault-cacert (VAULT_CACERT) and
// vault-capath (VAULT_CAPATH), which add to those roots. VAULT_SKIP_VERIFY
// (or BAO_SKIP_VERIFY) set to true is refused unless
// vault-allow-insecure-tls is true, and then logged as a warning. A plain
// http address that is not a loopback address is warned about. Redirects
// (a standby pointing at the active node) are not followed, so the token
// is sent to vault-addr only; no HTTP proxy is used.
//
// The Vault SDK reads the process environment in api.DefaultConfig and
// api.NewClient; the Store overrides everything it takes from there
// (address, token, namespace, headers, retries, wrapping TTL, TLS), so
// only StoreConfig.Env and the settings count. The SDK still fails to
// build a client if a VAULT_* variable of the process cannot be parsed.
//
// Each Get makes one HTTP attempt: the SDK's retries are off (the
// resolver retries).
//
// # Authentication
//
// vault-auth selects the method; by default token when VAULT_TOKEN (or
// BAO_TOKEN) or vault-token-file is set, else kubernetes when
// vault-kubernetes-role is set, else approle when
// vault-approle-role-id-file is set.
//
//   - token: VAULT_TOKEN from the environment (never a flag), or
//     vault-token-file, a file (a Vault Agent sink) read again whenever it
//     changes, which wins over VAULT_TOKEN. The token's TTL is learnt with
//     auth/token/lookup-self.
//   - kubernetes: vault-kubernetes-role and the pod's service account
//     token (vault-kubernetes-token-file, default
//     /var/run/secrets/kubernetes.io/serviceaccount/token, read at each
//     login) are sent to auth/<vault-auth-mount>/login, mount default
//     "kubernetes".
//   - approle: the role id and secret id are read from
//     vault-approle-role-id-file and vault-approle-secret-id-file at each
//     login and sent to auth/<vault-auth-mount>/login, mount default
//     "approle". Without a secret id file the role id is sent alone (a
//     role with bind_secret_id false).
//
// A renewable token is renewed with auth/token/renew-self at two thirds of
// its TTL; one that is not renewable, or whose renewals no longer extend
// it (its max TTL), is replaced by a new login at that point (kubernetes,
// approle). This happens on the call path when a Get finds the token due,
// and in one goroutine that ends with Store.Close (the session closes its
// stores; the context given to New ends it too), so that the token stays
// alive between resolves. When Vault
// answers 403 and the token's known expiry has passed, or lookup-self
// (asked at most once a minute) says the token is no longer valid, the
// Store logs in again once and retries the request once; a token from
// VAULT_TOKEN cannot be replaced, and the message says it expired or was
// revoked. A 403 with a valid token is a policy's and costs no login.
// After a failed login, calls within a second get its error without
// asking Vault again.
//
// # Errors
//
// The classes, with messages that name the id, the mount and the API
// path, never a value, a token, a JWT or a secret id (Vault's error
// texts are quoted with any of them replaced by [redacted]):
//
//   - resolver.ErrNotFound: 404, a deleted or destroyed latest version, a
//     path Vault routes nowhere (a wrong mount or KV version, with Vault's
//     "no handler for route").
//   - resolver.ErrPermission: 401 and 403 (a policy without read on the
//     path, an expired or revoked token), a refused login (400, 403 or
//     404 from auth/<mount>/login; the message names the method, the
//     mount and the role or role id file), credential files that cannot
//     be read, and other 4xx.
//   - resolver.ErrThrottled (with ErrUnavailable): 429, a rate limit
//     quota, with Vault's Retry-After.
//   - resolver.ErrUnavailable: 5xx (503 "Vault is sealed", a standby),
//     412, redirects, timeouts, network failures, malformed answers.
//   - resolver.ErrBadRef: a malformed id, 400 and 405 to a read, an answer
//     larger than 4 MiB.
//
// # Policies
//
// The token needs:
//
//	path "<mount>/data/<prefix>/*" { capabilities = ["read"] }   # KV version 2
//	path "<mount>/<prefix>/*"      { capabilities = ["read"] }   # KV version 1
//
// plus, with vault-kv-version auto, read on sys/internal/ui/mounts/<mount>
// (any capability on the mount's paths grants it in Vault) or
// sys/mounts/<mount>; and auth/token/lookup-self and renew-self for token
// auth, which Vault's default policy grants. Kubernetes auth needs a role
// bound to the pod's service account and namespace
// (bound_service_account_names, bound_service_account_namespaces) with
// the policy above; AppRole a role with that policy, its role id and a
// secret id delivered to the pod as files.
//
// # Configuration
//
// Spec is the store's row in the store table; Spec.Open builds a Store
// from the settings and the environment (OptionsFrom). New builds one from
// Options.
//
// The package owns only the mapping between ids and KV reads, and the
// token. It does not rate-limit (Spec.Limit is a default for the
// resolver), retry, cache or write.
package vault
