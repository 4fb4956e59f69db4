// Package omclient is omsecrets' client for the OpenMetadata REST API. It
// fetches the service entity an IngestionPipeline refers to (with its
// connection), authenticated as the pipeline's ingestion bot, over
// hashicorp/go-retryablehttp.
//
// # Requests
//
// [Client.Service] asks GET {BaseURL}/v1/services/{collection}/{id} and, when
// the reference has no id or the id is unknown (404: a service that was
// deleted and re-created under the same name has a new id), falls back to
// GET {BaseURL}/v1/services/{collection}/name/{fqn}. The collection is the
// entity type plus "s" (databaseService → databaseServices), as in the
// server's resource classes (DatabaseServiceResource is
// @Path("/v1/services/databaseServices"), and so on for every type listed
// in [ServiceTypes]). Every request asks include=all, so a soft-deleted
// service is returned with Deleted set instead of a 404; the caller decides.
//
// The connection comes back without a fields= parameter: it is part of the
// stored entity, not a relation (DatabaseServiceResource.FIELDS is
// "pipelines,owners,tags,domains,followers"), and ServiceEntityResource's
// decryptOrNullify decides what it holds: for a bot
// (DefaultAuthorizer.shouldMaskPasswords is !isBot) the secret fields as
// stored (secret:<id> references with a secrets manager, plain values with
// the "db" provider); for anybody else PasswordEntityMasker.PASSWORD_MASK,
// "*********". OpenMetadata 0.12–0.13 only decrypted for admins and
// nullified the connection otherwise: the service then has no connection,
// connection: null, or only its non-secret fields. This package returns
// the connection as it came (nil when absent or null) and leaves judging it
// to its caller.
//
// # Errors
//
// Failures are [*APIError] values naming the method, path and status (never
// the token or a body), matched with errors.Is against [ErrUnauthorized],
// [ErrForbidden], [ErrNotFound] and [ErrUnavailable]. A response that is not
// a service entity is [ErrBadResponse]; a reference this package cannot
// turn into a request is [ErrBadRef].
//
// # Retries
//
// 429, 5xx and connection failures are retried with exponential backoff and
// jitter, honouring Retry-After on 429 and 503 up to RetryWaitMax; no other
// status is retried. Certificate verification failures are not retried.
//
// # Secrets
//
// The token travels only in the Authorization header. Bodies are read into
// memory (at most MaxBodySize bytes) and never logged or quoted in errors:
// with the "db" secrets manager provider a bot receives plain passwords.
// [Service] prints and logs only its identity, never Raw or Connection.
//
// The package owns only this HTTP exchange. It does not read the pipeline
// files (package workflow), collect or resolve references (render,
// resolver), or decide what a masked or missing connection means.
package omclient
