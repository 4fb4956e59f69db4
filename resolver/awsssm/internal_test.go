package awsssm

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
)

// TestCodes covers the codes only Parameter Store returns, through
// awserr.Classify; awserr tests the shared ones.
func TestCodes(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"ParameterNotFound":                 "not_found",
		"ParameterVersionNotFound":          "not_found",
		"ResourceNotFoundException":         "not_found",
		"InvalidKeyId":                      "permission",
		"ParameterPatternMismatchException": "bad_ref",
		// Secrets Manager's server fault, not Parameter Store's.
		"InternalServiceError":  "permission",
		"AccessDeniedException": "permission", // shared
	} {
		err := awserr.Classify("GetParameter", code, "msg text", 400, 0, codes)
		assert.Equal(t, want, resolver.Class(err), "%v", err)
		assert.Contains(t, err.Error(), "GetParameter: "+code+": msg text")
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	prm := func(name, sel, arn string) types.Parameter {
		p := types.Parameter{Name: aws.String(name), ARN: aws.String(arn)}
		if sel != "" {
			p.Selector = aws.String(sel)
		}
		return p
	}
	const arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b"
	const secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbC123"
	for _, tc := range []struct {
		name string
		id   string
		p    types.Parameter
		want bool
	}{
		{name: "bare name", id: "/a/b", p: prm("/a/b", "", arn), want: true},
		{name: "spaces around", id: " /a/b ", p: prm("/a/b", "", arn), want: true},
		{name: "version", id: "/a/b:2", p: prm("/a/b", ":2", arn), want: true},
		{name: "label", id: "/a/b:prod", p: prm("/a/b", ":prod", arn), want: true},
		{name: "other version", id: "/a/b:2", p: prm("/a/b", ":3", arn), want: false},
		{name: "selector not asked", id: "/a/b", p: prm("/a/b", ":2", arn), want: false},
		{name: "selector asked, none returned", id: "/a/b:2", p: prm("/a/b", "", arn), want: false},
		{name: "by ARN", id: arn, p: prm("/a/b", "", arn), want: true},
		{name: "other name", id: "/a/c", p: prm("/a/b", "", arn), want: false},
		{name: "reference by path", id: "/aws/reference/secretsmanager/db", p: prm("/aws/reference/secretsmanager/db", "", secretARN), want: true},
		{name: "reference echoed as secret name", id: "/aws/reference/secretsmanager/db", p: prm("db", "", secretARN), want: true},
		{name: "reference to other secret", id: "/aws/reference/secretsmanager/other", p: prm("db", "", secretARN), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, matches(tc.id, tc.p))
		})
	}
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"/a", "a", " /a ", "/a/b:3", "/aws/reference/secretsmanager/x", strings.Repeat("x", maxIDLen)} {
		assert.NoError(t, checkID(id), id)
	}
	for _, id := range []string{"", "   ", "/a b", "/a\tb", strings.Repeat("x", maxIDLen+1)} {
		assert.ErrorIs(t, checkID(id), resolver.ErrBadRef, id)
	}
}

func TestReadAlone(t *testing.T) {
	t.Parallel()
	notFound := &resolver.RefError{Ref: resolver.Ref{ID: "a"}, Err: resolver.ErrNotFound}
	denied := &resolver.RefError{Ref: resolver.Ref{ID: "b"}, Err: resolver.ErrPermission}
	assert.True(t, readAlone(nil))
	assert.True(t, readAlone([]error{notFound}))
	assert.False(t, readAlone([]error{notFound, denied}))
	assert.False(t, readAlone([]error{errors.New("throttled")}), "getEach stopped early")
}
