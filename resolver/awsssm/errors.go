package awsssm

import (
	"fmt"
	"time"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
)

// codes is the awserr.Codes of Parameter Store: the error codes it returns
// that AWS services do not share. awserr classifies the rest. Codes: the
// Systems Manager API reference (GetParameter, GetParameters, Common
// Errors).
func codes(code, detail string, _ time.Duration) error {
	switch code {
	case "ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException":
		return fmt.Errorf("%w: %s", resolver.ErrNotFound, detail)
	case "InvalidKeyId":
		return fmt.Errorf("%w: cannot decrypt the parameter with its KMS key (check the key and kms:Decrypt): %s", resolver.ErrPermission, detail)
	case "ParameterPatternMismatchException":
		return fmt.Errorf("%w: %s", resolver.ErrBadRef, detail)
	}
	return nil
}

// isAccessDenied reports whether err is AWS's AccessDeniedException for the
// whole call.
func isAccessDenied(err error) bool {
	return awserr.Code(err) == "AccessDeniedException"
}

// isolatable reports whether err is a failure of a whole GetParameters call
// that one of its names can cause: a denied name, a name that fails
// validation, or a SecureString whose KMS key cannot be used.
func isolatable(err error) bool {
	switch awserr.Code(err) {
	case "AccessDeniedException", "ValidationException", "InvalidKeyId":
		return true
	}
	return false
}
