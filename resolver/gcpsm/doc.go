// Package gcpsm implements a resolver.Getter over GCP Secret Manager, the
// store of OpenMetadata's "gcp" secrets manager.
//
// # Ids
//
// A plain id is a secret id of the configured project, read at version
// "latest" (projects/<project>/secrets/<id>/versions/latest), which is
// how OpenMetadata reads it. OpenMetadata's server writes each secret
// field under an id built from the cluster name and the field's path,
// joined with "_", lower-cased, every character but [A-Za-z0-9_] deleted
// from the parts (Java GCPSecretsManager), for example
// openmetadata_database_mysql_prod_authtype_password; references are
// "secret:<id>".
//
// A full resource name is used as written: projects/<project>/secrets/<id>
// (latest) or projects/<project>/secrets/<id>/versions/<version>, where
// project is a project id or number (another project than the configured
// one) and version a version number, "latest" or a version alias.
//
// Ids GCP cannot hold are resolver.ErrBadRef without a call: empty, longer
// than 255 characters, or with a character outside [A-Za-z0-9_-] (a
// "/"-separated id is the AWS form and is refused with that hint); in a
// resource name, a project that is not a project id or number, a version
// that is not a number, "latest" or an alias, "NEW", and regional names
// (projects/*/locations/*), which the global endpoint does not serve.
//
// # Settings and credentials
//
// gcp-project-id is the project of plain ids. Besides its flag and its
// OMSECRETS_GCP_PROJECT_ID twin it is read from, in order,
// AIRFLOW__OPENMETADATA_SECRETS_MANAGER__PROJECT_ID (the airflow.cfg key
// OpenMetadata's Python GCP manager reads), ..._GCP_PROJECT_ID (the key
// OpenMetadata's documentation names) and GOOGLE_CLOUD_PROJECT
// (OpenMetadata's env loader, the Google libraries). Without one, the
// credentials file's project_id, else its quota_project_id, is used, as
// Application Default Credentials do; with no project at all the store is
// off (resolver.NotConfiguredError naming gcp-project-id). The metadata
// server is not asked for the project: Open runs at every start of every
// deployment, and outside GCP that question waits for a timeout.
//
// gcp-endpoint (default secretmanager.googleapis.com:443) is the gRPC
// endpoint, for Private Service Connect or a test server.
//
// Credentials are Application Default Credentials, read from the store's
// environment map, never the process's: the JSON file
// GOOGLE_APPLICATION_CREDENTIALS names (a service account key, or an
// authorized_user, external_account or impersonated_service_account
// file), else the metadata server (GKE Workload Identity, a GCE service
// account) at GCE_METADATA_HOST or 169.254.169.254. A service account key
// gets its access token from the key's token_uri (the OAuth 2.0 JWT
// bearer flow); GOOGLE_CLOUD_QUOTA_PROJECT, else the file's
// quota_project_id, is sent as the quota project. TLS trusts the system
// roots plus SSL_CERT_FILE; the token endpoint is reached through
// HTTPS_PROXY/NO_PROXY of the map.
//
// # Calls
//
// Get makes one AccessSecretVersion call, with no retry of the client
// library's (it would retry UNAVAILABLE and RESOURCE_EXHAUSTED for up to
// 60s): the resolver retries, under its rate limit. There is no batch
// call (Spec.BatchSize 1). The access token is cached and replaced 3m45s
// before it expires; when the service answers UNAUTHENTICATED (a revoked
// token the cache still held: the library itself would keep sending it
// until its expiry), Get drops that token, fetches a new one and calls
// once more.
//
// The payload's CRC32C (data_crc32c) is checked, as OpenMetadata does; the
// value is the payload's bytes exactly as stored (the literal "null"
// included; the resolver maps it).
//
// # Errors
//
//   - NOT_FOUND (no such secret or version) and a destroyed version
//     (FAILED_PRECONDITION "DESTROYED state": its data is gone) are
//     resolver.ErrNotFound, naming the secret and the project;
//   - PERMISSION_DENIED, a disabled version (FAILED_PRECONDITION "DISABLED
//     state": disabling a version revokes access to it until it is enabled
//     again), UNAUTHENTICATED after a new token, and credentials the token
//     endpoint or metadata server refuses are resolver.ErrPermission;
//   - RESOURCE_EXHAUSTED is resolver.Throttled, with the delay of its
//     google.rpc.RetryInfo detail as the Retry-After hint;
//   - UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ABORTED, dropped
//     connections, a payload whose CRC32C does not match, and a token
//     endpoint or metadata server that cannot be reached or fails are
//     resolver.ErrUnavailable;
//   - INVALID_ARGUMENT and the malformed ids above are resolver.ErrBadRef.
//
// Messages name the id, the secret and the project, the gRPC code and
// status message, never a value, a token or the key.
//
// # IAM
//
// The credentials need secretmanager.versions.access on the secrets, as
// granted by roles/secretmanager.secretAccessor (on the project, or on
// each secret). On GKE, bind the pod's Kubernetes service account to a
// Google service account that has it (Workload Identity).
//
// # Rate
//
// Spec.Limit is 1,500 calls per second with a burst of 1,500: Secret
// Manager's published quota (documentation, "Secret Manager quotas and
// limits", "Quotas on the rate of requests") is 90,000 access requests
// per minute per project, shared by every client of the project.
//
// The package owns only the mapping between ids and Secret Manager calls
// and the credentials of those calls. It does not rate-limit (cmd gives
// the resolver Spec.Limit), retry or cache values.
package gcpsm
