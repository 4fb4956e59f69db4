// Package awstest is an in-process stand-in for AWS Secrets Manager, SSM
// Parameter Store and the STS call of web identity credentials, that the
// real aws-sdk-go-v2 clients talk to over HTTP.
//
// A Server speaks the AWS JSON 1.1 protocol for the six read operations
// omsecrets uses: secretsmanager.BatchGetSecretValue,
// secretsmanager.GetSecretValue, secretsmanager.ListSecrets,
// AmazonSSM.GetParameters, AmazonSSM.GetParameter and
// AmazonSSM.DescribeParameters, routed by the X-Amz-Target header. It
// answers the way AWS does, as far as the public documentation and SDK
// models tell:
//
//   - errors are an HTTP status and a JSON body {"__type": name, "Message"
//     or "message": text}, with the names and statuses of the AWS API
//     reference (ResourceNotFoundException, ParameterNotFound,
//     AccessDeniedException, ThrottlingException, DecryptionFailure,
//     InvalidRequestException, ValidationException, InternalServiceError,
//     ...);
//   - BatchGetSecretValue takes at most 20 ids, reports per-secret failures
//     in Errors and found secrets in SecretValues; secrets are addressed by
//     name, full ARN or partial ARN (the ARN without its "-xxxxxx" suffix);
//   - GetParameters takes at most 10 names, returns the rest in
//     InvalidParameters, and understands "name:version" and "name:label"
//     selectors and the /aws/reference/secretsmanager/<secret> path, which
//     requires WithDecryption as on AWS;
//   - ListSecrets returns metadata, never values (Name, ARN, CreatedDate,
//     LastChangedDate, DeletedDate, SecretVersionsToStages with AWSCURRENT
//     and AWSPREVIOUS), MaxResults 1 to 100 (default 100), NextToken
//     paging, the name filter (case-sensitive prefix, "!" negation, values
//     ORed, at most 10 of at most 512 characters), and leaves out secrets
//     scheduled for deletion unless IncludePlannedDeletion; PutSecret on an
//     existing secret makes a new VersionId AWSCURRENT and moves
//     LastChangedDate;
//   - DescribeParameters returns ParameterMetadata (Name, ARN, Type,
//     Version, LastModifiedDate, ...), MaxResults 1 to 50 (default 10, an
//     assumption), NextToken paging, ParameterFilters Name
//     (Equals, BeginsWith, Contains), Path (OneLevel, Recursive) and Type,
//     with InvalidFilterKey, InvalidFilterOption and InvalidFilterValue;
//     SetDescribeScanLimit models its best-effort short and empty pages;
//   - WithQuota and SetQuota throttle each quota group (QuotaGroup, with
//     the numbers AWS publishes in PublishedQuotas) with an account-wide
//     token bucket, answering ThrottlingException like Throttle;
//   - every request must carry a SigV4 Authorization header signed with the
//     Server's credentials for its region and the operation's service: the
//     signature is verified by signing the request again with the SDK's own
//     signer;
//   - STS AssumeRoleWithWebIdentity is answered on the AWS Query protocol,
//     as STS does: an unsigned form POST (Action, Version 2011-06-15,
//     RoleArn, RoleSessionName, WebIdentityToken, DurationSeconds) answered
//     with an XML AssumeRoleWithWebIdentityResponse, or an XML
//     ErrorResponse: InvalidIdentityToken (400) for a token other than
//     WithWebIdentity's, AccessDenied (403) for another role,
//     ExpiredTokenException (400) for a token ExpireWebIdentityToken
//     expired, ValidationError (400) for parameters out of STS's bounds and
//     InvalidAction (400) for any other Query action. The temporary
//     credentials it issues are accepted by the signature check, with their
//     session token, until they expire (ExpiredTokenException after).
//
// Tests inject faults (latency, throttling with an optional Retry-After or
// by quota, 5xx answers, dropped connections, denied actions and ids, KMS
// decryption failures; only latency and dropped connections apply to STS)
// and observe the calls the Server received (per operation, the ids of
// each call, the access key that signed it, their times and whether they
// were throttled; the throttled count and the peak rate per quota group;
// for STS the role, session, token and issued credentials of each call),
// so they can check a client's call count and rate.
//
// Config gives the SDK clients an HTTP transport that sends a copy of each
// request body, which the SDK cannot close under it: with the bare
// transport a call now and then fails on a 200 answer ("use of closed
// network connection", see ownBodies), and tests that count calls would
// have to retry it.
//
// The package owns nothing used in production and must only be imported
// from tests and benchmarks. It does not model anything it was not asked
// for: no writes through the API, no Filters in BatchGetSecretValue, no
// ListSecrets filters but name (the others are refused as
// InvalidParameterException, saying so), no KeyId, Tier, DataType or tag
// filters in DescribeParameters, no cross-account ARNs, no tags, no
// ListSecrets eventual consistency, no paging of BatchGetSecretValue
// unless SetPageSize asks for it, no JWT validation (a token is accepted
// by being the expected string) and no STS operation but
// AssumeRoleWithWebIdentity.
package awstest
