// Package awsssm implements a resolver.BatchGetter and resolver.ChangeLister
// over AWS Systems Manager Parameter Store, the store of OpenMetadata's
// "aws-ssm" and "managed-aws-ssm" secrets managers.
//
// # Ids
//
// An id is a parameter name as OpenMetadata passes it to GetParameter
// ("/openmetadata/database/mysql_prod/password"), optionally with a
// selector: "name:3" reads version 3 and "name:label" the version with that
// label. "/aws/reference/secretsmanager/<secret>" reads a Secrets Manager
// secret through Parameter Store. Parameter Store ignores spaces around a
// name; an empty id, one longer than 2048 bytes or one with a space inside
// is resolver.ErrBadRef without a call.
//
// # Calls
//
// GetBatch sends up to MaxBatch names in one GetParameters call with
// WithDecryption, so SecureString parameters come back decrypted; names in
// the response's InvalidParameters are resolver.ErrNotFound. AWS echoes a
// parameter's bare name and puts "name:3"'s selector apart (Name "name",
// Selector ":3"), so results are matched on name and selector together.
// Get sends one GetParameter call with WithDecryption.
//
// GetParameters fails as a whole when one of its names is denied, fails
// validation or cannot be decrypted (AccessDeniedException,
// ValidationException, InvalidKeyId). The Provider then answers that call
// with one GetParameter per name, so that only the names at fault fail.
// If GetParameters was denied while every name could be read on its own,
// the action itself is denied (OpenMetadata's own code calls only
// GetParameter, and policies often allow only ssm:GetParameter): the
// Provider logs it once and from then on uses GetParameter only, and
// MaxBatch returns 1.
//
// Each SDK call makes exactly one HTTP attempt (the client's retryer is
// aws.NopRetryer): the resolver does all retrying.
//
// # Values
//
// A parameter's Value is returned as AWS returns it: a StringList comes
// comma-joined, and the literal "null" is returned as is (the resolver maps
// it).
//
// # Errors
//
// ParameterNotFound, ParameterVersionNotFound and names in
// InvalidParameters are resolver.ErrNotFound; AccessDeniedException,
// authentication failures and InvalidKeyId (the KMS key cannot be used) are
// resolver.ErrPermission; ValidationException is resolver.ErrBadRef;
// ThrottlingException and the SDK's other throttle codes, and HTTP 429, are
// resolver.Throttled, with the server's Retry-After if it sent one;
// InternalServerError, other 5xx, expired credentials, timeouts and network
// failures are resolver.ErrUnavailable. Any other client error is
// resolver.ErrPermission. Messages name the id and the AWS error code and
// message, never a value or a response body.
//
// Failures to get credentials are classed as in resolver/awssm.
//
// # Change detection
//
// The Provider is a resolver.ChangeLister and keeps no state for it:
// each value carries its Version as its version token, and the Resolver
// asks about the tokens of the values it holds. Unchanged lists the
// parameters whose names begin with the ids' longest common prefixes (up
// to 50 values of one Name BeginsWith filter) with DescribeParameters,
// ListPage (50) per call (resolver.ListUnchanged), and vouches for the
// ids whose parameter's Version is still the held one: 2000 names under
// one path take 40 DescribeParameters calls where a full read takes 200
// GetParameters calls. A "name:3" id is vouched for while the parameter
// keeps version 3; "name:label" ids (a label can move), Secrets Manager
// references and ARNs are never vouched for. DescribeParameters pages are
// best-effort and may come back short or empty; Unchanged never spends
// more calls than a full read (FullReadCalls, ceil(n / MaxBatch())): past
// it, it gives up with an error and the Resolver reads the names.
//
// Change detection needs ssm:DescribeParameters, an action without
// resource-level permissions, so the policy statement's Resource is "*"
// (it lists names and metadata, never values). Without it
// DescribeParameters is denied, Unchanged returns resolver.ErrPermission,
// and the Resolver refreshes Parameter Store in full, as before.
// DescribeParameters has no published rate quota of its own.
//
// # Configuration
//
// Spec is the store's row in the store table; Spec.Open builds a Provider
// from the region setting and the environment through
// resolver/internal/awsconfig, which owns credentials and endpoints. New
// builds one from an aws.Config.
//
// The package owns only the mapping between ids and Parameter Store calls.
// It does not rate-limit (Spec.Limit is the published quota, which cmd
// gives the Resolver as the store's default limit), retry or cache.
package awsssm
