// Package awssm implements a resolver.BatchGetter and resolver.ChangeLister
// over AWS Secrets Manager, the store of OpenMetadata's "aws" and
// "managed-aws" secrets managers.
//
// # Ids
//
// An id is what OpenMetadata passes as SecretId to GetSecretValue: a
// secret's name (such as "/openmetadata/database/mysql_prod/password"), its
// full ARN, or its partial ARN (the ARN without the "-" and six random
// characters Secrets Manager appends). The current version (AWSCURRENT) is
// read. An empty id, or one longer than 2048 bytes, is resolver.ErrBadRef
// without a call.
//
// # Calls
//
// GetBatch sends up to MaxBatch ids in one BatchGetSecretValue call
// with SecretIdList, maps each returned secret back to the id that asked for
// it (by name, full ARN or partial ARN) and reports each entry of the
// response's Errors as a *resolver.RefError. Get sends one GetSecretValue.
//
// Many IAM policies, including the one OpenMetadata documents for its AWS
// secrets manager, allow secretsmanager:GetSecretValue but not
// secretsmanager:BatchGetSecretValue. When a BatchGetSecretValue call is
// denied as a whole, the Provider logs it once, answers that call with one
// GetSecretValue per id, and from then on uses GetSecretValue only:
// MaxBatch returns 1.
//
// Each SDK call makes exactly one HTTP attempt (the client's retryer is
// aws.NopRetryer): the resolver does all retrying, so that its count of
// calls is the service's.
//
// # Values
//
// The SecretString is returned exactly as stored (the literal "null"
// included; the resolver maps it). A secret that has only a SecretBinary is
// resolver.ErrBadRef: binary secrets are not supported.
//
// # Errors
//
// ResourceNotFoundException and InvalidRequestException (for example a
// secret marked for deletion) are resolver.ErrNotFound; AccessDenied,
// authentication failures and DecryptionFailure (the KMS key cannot be
// used) are resolver.ErrPermission; InvalidParameterException and
// ValidationException are resolver.ErrBadRef; throttling (ThrottlingException
// and the SDK's other throttle codes, HTTP 429) is resolver.Throttled, with
// the server's Retry-After if it sent one; InternalServiceError, other 5xx,
// expired credentials, timeouts and network failures are
// resolver.ErrUnavailable. Any other client error is resolver.ErrPermission:
// the service refused the request and retrying will not change that.
// Messages name the id and the AWS error code and message, never a value or
// a response body.
//
// A failure to get credentials fails the call it was for, classed alike
// by resolver/internal/awserr: a web identity token STS rejects, or a
// token file that cannot be used, is resolver.ErrPermission; STS being
// unreachable or failing is resolver.ErrUnavailable.
//
// # Change detection
//
// The Provider is a resolver.ChangeLister and keeps no state for it:
// each value carries its version token, the VersionId and the secret's
// name, and the Resolver asks about the tokens of the values it holds.
// Unchanged lists the secrets under the held secrets' longest common name
// prefixes (up to 10 prefixes in one name filter) with ListSecrets,
// ListPage (100) per call (resolver.ListUnchanged), and vouches for the
// ids whose secret's AWSCURRENT version is still the held one: 2000 ids under one prefix take 20 ListSecrets calls where
// a full read takes 100 BatchGetSecretValue calls. It never spends more
// calls than that full read (FullReadCalls, ceil(n / MaxBatch())): past
// it, it gives up with an error and the Resolver reads the ids.
//
// Change detection needs secretsmanager:ListSecrets, an action without
// resource-level permissions, so the policy statement's Resource is "*"
// (it lists names and metadata, never values). Without it ListSecrets is
// denied, Unchanged returns resolver.ErrPermission, and the Resolver
// refreshes Secrets Manager in full, as before.
//
// ListSecrets is eventually consistent ("might not reflect changes from
// the last five minutes", API reference): a secret rotated within five
// minutes of a refresh may be vouched for once more with its old value
// and is fetched by the first refresh after that. Secrets scheduled for
// deletion are not listed, hence fetched (and then fail as not found).
//
// # Configuration
//
// Spec is the store's row in the store table; Spec.Open builds a Provider
// from the region setting and the environment through
// resolver/internal/awsconfig, which owns credentials and endpoints. New
// builds one from an aws.Config.
//
// The package owns only the mapping between ids and Secrets Manager calls.
// It does not rate-limit (Spec.Limit is the published quota, which cmd
// gives the Resolver as the store's default limit), retry or cache.
package awssm
