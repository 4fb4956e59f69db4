package awstest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodSig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	a, err := parseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + goodSig)
	require.NoError(t, err)
	assert.Equal(t, authHeader{
		accessKey:     "AKID",
		date:          "20240102",
		region:        "eu-west-1",
		service:       "secretsmanager",
		signedHeaders: []string{"content-type", "host", "x-amz-date"},
		signature:     goodSig,
	}, a)

	for _, tc := range []struct{ name, header string }{
		{name: "empty", header: ""},
		{name: "other scheme", header: "Bearer abc"},
		{name: "no signature", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host"},
		{name: "short scope", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/ssm/aws4_request, SignedHeaders=host, Signature=" + goodSig},
		{name: "empty key", header: "AWS4-HMAC-SHA256 Credential=/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=" + goodSig},
		{name: "bad terminator", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws5_request, SignedHeaders=host, Signature=" + goodSig},
		{name: "short signature", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=abc"},
		{name: "non-hex signature", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("z", 64)},
		{name: "empty header name", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host;;x, Signature=" + goodSig},
		{name: "unknown field", header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=" + goodSig + ", Extra=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseAuthorization(tc.header)
			assert.ErrorIs(t, err, errMalformedAuth)
		})
	}
}

// FuzzParseAuthorization checks that parseAuthorization never panics and
// that what it accepts formats back to a header it parses the same way.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + goodSig)
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=h,Signature=" + goodSig)
	f.Add("AWS4-HMAC-SHA256 ")
	f.Add("AWS4-HMAC-SHA256 Credential==/=/=/=/aws4_request, SignedHeaders==, Signature=" + goodSig)
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header)
		if err != nil {
			return
		}
		for _, s := range []string{a.accessKey, a.date, a.region, a.service} {
			assert.NotEmpty(t, s)
			assert.NotContains(t, s, "/")
		}
		assert.Len(t, a.signature, 64)
		assert.NotEmpty(t, a.signedHeaders)
		again, err := parseAuthorization(sigV4Algorithm + " Credential=" + a.accessKey + "/" + a.date + "/" + a.region + "/" + a.service +
			"/aws4_request, SignedHeaders=" + strings.Join(a.signedHeaders, ";") + ", Signature=" + a.signature)
		if assert.NoError(t, err) {
			assert.Equal(t, a, again)
		}
	})
}
