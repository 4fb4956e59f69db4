// Package gcptest is an in-process stand-in for GCP Secret Manager and
// the two places Application Default Credentials get access tokens from,
// that the real cloud.google.com/go clients talk to over the wire.
//
// A Server runs three endpoints on 127.0.0.1:
//
//   - Secret Manager: a gRPC server over TLS implementing the generated
//     secretmanagerpb.SecretManagerServiceServer. AccessSecretVersion
//     answers as the service does: the payload with its data_crc32c
//     (CRC32C, Castagnoli) and the version's name under the project
//     number; NOT_FOUND "Secret [...] not found or has no versions." or
//     "Secret Version [...] not found."; PERMISSION_DENIED "Permission
//     'secretmanager.versions.access' denied for resource '...' (or it
//     may not exist)."; FAILED_PRECONDITION "Secret Version [...] is in
//     DISABLED state." (or DESTROYED); INVALID_ARGUMENT for a name that is
//     not projects/*/secrets/*/versions/*; RESOURCE_EXHAUSTED "Quota
//     exceeded for quota metric 'Access requests' ..." with ErrorInfo
//     RATE_LIMIT_EXCEEDED and, if asked for, RetryInfo. "latest" is the
//     highest version whatever its state, as on GCP. Every other method
//     answers UNIMPLEMENTED. Every call must carry "authorization: Bearer
//     <token>" with a token the Server issued, unexpired, with the
//     cloud-platform scope; otherwise UNAUTHENTICATED with GCP's message.
//   - An OAuth 2.0 token endpoint over HTTPS (the token_uri of the key
//     file it writes): a form POST with grant_type
//     urn:ietf:params:oauth:grant-type:jwt-bearer and a JWT assertion,
//     whose RS256 signature is verified with the public half of the key,
//     whose kid, iss (the service account), aud (the token URL), scope and
//     lifetime (iat/exp, at most an hour) are checked as Google's endpoint
//     does; answered with an access token, or 400 {"error":
//     "invalid_grant", "error_description": ...}.
//   - A metadata server over HTTP (GCE_METADATA_HOST): the default service
//     account's token and the project id, behind Metadata-Flavor: Google.
//
// New writes the CA of the TLS endpoints (CAFile) and a service account
// key file (KeyFile) to the test's temporary directory; Env and
// MetadataEnv return the environment that points omsecrets' gcp store at
// the Server, with the key file or the metadata server as credentials.
//
// Tests put, disable, destroy and alias versions, deny secrets and
// projects, inject faults (latency, RESOURCE_EXHAUSTED with a RetryInfo
// delay, other status codes, dropped connections, corrupt or missing
// checksums, revoked or rejected tokens, a disabled key, token endpoint
// failures) and observe every request (operation, resource name, token,
// quota project, code, time).
//
// The package owns nothing used in production and must only be imported
// from tests and benchmarks. It does not model what it was not asked for:
// no writes through the API, no regional secrets, no IAM policies beyond
// Deny, no self-signed JWT access tokens (the Google libraries' shortcut
// for service accounts: tokens come from the token endpoint), no
// user-credential or external-account flows.
package gcptest
