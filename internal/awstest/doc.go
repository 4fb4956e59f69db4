// Package awstest is an in-process stand-in for AWS Secrets Manager, SSM
// Parameter Store and the STS call of web identity credentials, that the
// real aws-sdk-go-v2 clients talk to over HTTP.
//
// A Server speaks the AWS JSON 1.1 protocol for the four read operations
// omsecrets uses: secretsmanager.BatchGetSecretValue,
// secretsmanager.GetSecretValue, AmazonSSM.GetParameters and
// AmazonSSM.GetParameter, routed by the X-Amz-Target header. It answers the
// way AWS does, as far as the public documentation and SDK models tell:
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
// Tests inject faults (latency, throttling with an optional Retry-After,
// 5xx answers, dropped connections, denied actions and ids, KMS decryption
// failures; only latency and dropped connections apply to STS) and observe
// the calls the Server received (per operation, the ids of each call, the
// access key that signed it, and their times; for STS the role, session,
// token and issued credentials of each call), so they can check a client's
// call count and rate.
//
// The package owns nothing used in production and must only be imported
// from tests and benchmarks. It does not model anything it was not asked
// for: no writes through the API, no Filters in BatchGetSecretValue, no
// cross-account ARNs, no tags, no pagination unless SetPageSize asks for
// it, no JWT validation (a token is accepted by being the expected string)
// and no STS operation but AssumeRoleWithWebIdentity.
package awstest
