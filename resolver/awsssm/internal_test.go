package awsssm

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      string
		status    int
		wantClass string
	}{
		{code: "ParameterNotFound", status: 400, wantClass: "not_found"},
		{code: "ParameterVersionNotFound", status: 400, wantClass: "not_found"},
		{code: "InvalidKeyId", status: 400, wantClass: "permission"},
		{code: "AccessDeniedException", status: 400, wantClass: "permission"},
		{code: "UnrecognizedClientException", status: 400, wantClass: "permission"},
		{code: "ValidationException", status: 400, wantClass: "bad_ref"},
		{code: "ThrottlingException", status: 400, wantClass: "throttled"},
		{code: "Unknown", status: 429, wantClass: "throttled"},
		{code: "InternalServerError", status: 500, wantClass: "unavailable"},
		{code: "Unknown", status: 503, wantClass: "unavailable"},
		{code: "ExpiredTokenException", status: 400, wantClass: "unavailable"},
		{code: "Unknown", status: 400, wantClass: "permission"},
	} {
		t.Run(tc.code+"/"+strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			err := classify("GetParameter", tc.code, "msg text", tc.status, 0)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), "GetParameter: ")
			assert.Contains(t, err.Error(), tc.code+": msg text")
		})
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

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	d, ok := parseRetryAfter("5", now)
	assert.True(t, ok)
	assert.Equal(t, 5*time.Second, d)
	d, ok = parseRetryAfter("Tue, 04 Mar 2025 10:01:00 GMT", now)
	assert.True(t, ok)
	assert.Equal(t, time.Minute, d)
	_, ok = parseRetryAfter("later", now)
	assert.False(t, ok)
}

// FuzzParseRetryAfter checks that any header value gives a hint between 0
// and MaxRetryAfter, or none.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Tue, 04 Mar 2025 10:00:30 GMT", "-5", "18446744073709551616"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if !ok {
			assert.Zero(t, d)
			return
		}
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.LessOrEqual(t, d, MaxRetryAfter)
	})
}
