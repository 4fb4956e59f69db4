// Package awserr translates the errors of AWS SDK calls into the resolver's
// error classes, for the AWS stores (awssm, awsssm).
//
// It owns the codes every AWS JSON service shares: authentication and
// authorization failures, validation errors, expired credentials, clock
// skew, server faults and throttling (the SDK's throttle codes and HTTP
// 429, with the server's Retry-After capped at resolver.MaxRetryAfter), the
// transport failures around them, and how AWS error messages are quoted.
// It also owns the failures of getting credentials, which surface as
// errors of the store's call: STS's answers to a web identity or assumed
// role (InvalidIdentityToken, IDPRejectedClaim, AccessDenied,
// IDPCommunicationError, ExpiredTokenException), named after the STS call,
// and errors that already are resolver.ErrPermission (the unusable token
// file of resolver/internal/awsconfig).
//
// A store passes its own codes (such as ResourceNotFoundException or
// ParameterNotFound) as a Codes func, consulted before the shared ones.
//
// It does not know any store's codes, call AWS, retry, or decide what a
// store does with a class (such as falling back from a denied batch call).
// It lives under resolver/internal so that only the resolver tree can
// import it, and it imports nothing from omsecrets/internal.
package awserr
