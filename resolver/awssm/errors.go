package awssm

import (
	"fmt"
	"time"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
)

// codes is the awserr.Codes of Secrets Manager: the error codes it returns
// that AWS services do not share. awserr classifies the rest. Codes: the
// Secrets Manager API reference (GetSecretValue, BatchGetSecretValue,
// APIErrorType, Common Errors).
func codes(code, detail string, retryAfter time.Duration) error {
	switch code {
	case "ResourceNotFoundException":
		return fmt.Errorf("%w: %s", resolver.ErrNotFound, detail)
	case "InvalidRequestException":
		// For example a secret marked for deletion: it cannot be read
		// until it is restored.
		return fmt.Errorf("%w: secret cannot be read in its current state: %s", resolver.ErrNotFound, detail)
	case "DecryptionFailure":
		return fmt.Errorf("%w: cannot decrypt the secret with its KMS key (check kms:Decrypt): %s", resolver.ErrPermission, detail)
	case "InternalServiceError":
		// Secrets Manager's name for a server fault (others say
		// InternalServerError).
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, detail), retryAfter)
	}
	return nil
}

// batchUnavailable reports whether err says the whole BatchGetSecretValue
// action is unavailable to this client: AccessDeniedException (an IAM
// policy that allows only GetSecretValue, as OpenMetadata documents), or
// UnknownOperationException (an endpoint, such as an older emulator or a
// proxy, without the batch action).
func batchUnavailable(err error) bool {
	switch awserr.Code(err) {
	case "AccessDeniedException", "UnknownOperationException":
		return true
	}
	return false
}
