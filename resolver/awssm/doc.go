// Package awssm implements a resolver.BatchGetter over AWS Secrets Manager,
// the store of OpenMetadata's "aws" and "managed-aws" secrets managers.
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
