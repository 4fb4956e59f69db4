package awssm

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
)

// TestCodes covers the codes only Secrets Manager returns, through
// awserr.Classify; awserr tests the shared ones.
func TestCodes(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"ResourceNotFoundException": "not_found",
		"InvalidRequestException":   "not_found",
		"DecryptionFailure":         "permission",
		"InternalServiceError":      "unavailable",
		"AccessDeniedException":     "permission", // shared
	} {
		err := awserr.Classify("Op", code, "the message", 400, 0, codes)
		assert.Equal(t, want, resolver.Class(err), "%v", err)
		assert.Contains(t, err.Error(), "Op: "+code+": the message")
	}
	// A server fault keeps the server's hint.
	after, _ := resolver.RetryAfter(awserr.Classify("Op", "InternalServiceError", "", 500, 5*time.Second, codes))
	assert.Equal(t, 5*time.Second, after)
}

func TestMatches(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC123"
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{name: "name", id: "prod/db", want: true},
		{name: "full ARN", id: arn, want: true},
		{name: "partial ARN", id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db", want: true},
		{name: "ARN cut short", id: arn[:len(arn)-1], want: false},
		{name: "other name", id: "prod/db-AbC123x", want: false},
		{name: "prefix of name", id: "prod", want: false},
		{name: "partial ARN of a longer name", id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod", want: false},
		{name: "partial form without arn prefix", id: "aws:secretsmanager:eu-west-1:123456789012:secret:prod/db", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, matches(tc.id, "prod/db", arn))
		})
	}
}

func TestBatchUnavailable(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"AccessDeniedException":     true,
		"UnknownOperationException": true,
		"ThrottlingException":       false,
		"ResourceNotFoundException": false,
	} {
		err := fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
		assert.Equal(t, want, batchUnavailable(err), code)
	}
	assert.False(t, batchUnavailable(errors.New("connection reset")))
}
