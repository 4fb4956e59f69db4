// Package omtest is a test-only OpenMetadata API server: an httptest.Server
// that answers the service-entity requests omsecrets makes the way
// OpenMetadata does, with fault injection and request recording.
//
// # What it models
//
//   - GET /api/v1/services/{collection}/{id} and
//     /api/v1/services/{collection}/name/{fqn} for the twelve service
//     collections (databaseServices … llmServices), with the include query
//     parameter (non-deleted, the default; deleted; all). A malformed id
//     (not a UUID) is JAX-RS's "HTTP 404 Not Found"; an unknown entity is
//     "<entityType> instance for <id or fqn> not found"
//     (CatalogExceptionMessage.entityNotFound). The fqn is matched exactly,
//     so a dotted name must be asked for quoted ("my.svc"), as on the real
//     server (FullyQualifiedName.quoteName).
//   - Authentication by bearer token: bot tokens see the stored connection;
//     user tokens see "*********" (PasswordEntityMasker.PASSWORD_MASK) in
//     every string whose stored value is a secret:<id> reference, which is
//     what OpenMetadata with a secrets manager returns to non-bots
//     (DefaultAuthorizer.shouldMaskPasswords is !isBot). The 401 messages
//     are AuthenticationException's: "Not Authorized! Token not present",
//     "Not Authorized! Invalid token.", "Expired token!", and for a
//     JWT-shaped unknown token the long "Public key mismatch" one. A 403 is
//     "Principal: CatalogPrincipal{name='<name>'} operations [ViewBasic]
//     not allowed".
//   - Error bodies are dropwizard's ErrorMessage, {"code":N,"message":"..."},
//     as CatalogGenericExceptionMapper writes them, with the
//     WWW-Authenticate: om-auth header it adds.
//   - OpenMetadata 0.12–0.13, which showed connections only to admins
//     (HideConnections, SetHide): no connection, connection: null, or the
//     connection without its secret fields.
//
// It models nothing else: no writes through the API, no pipelines, no
// fields= handling (the real server returns the connection regardless).
//
// # Faults and observation
//
// SetLatency, FailNext (status, OpenMetadata-shaped body, Retry-After),
// DropNext (close the connection without answering) and Down (every request
// dropped) inject failures; Requests, Count and LastHeaders report what
// arrived. Tokens are secrets too: the server never logs them, records
// only their kind, and redacts Authorization in LastHeaders.
//
// A Server is safe for concurrent use. Only tests may import this package.
package omtest
