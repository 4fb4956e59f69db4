package awstest_test

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

const (
	webRole  = "arn:aws:iam::123456789012:role/omsecrets-irsa"
	webToken = "eyJhbGciOiJSUzI1NiJ9.awstest-web-identity-token.c2ln"
)

// stsClient is an STS client on s that makes one attempt per call and has
// no credentials: AssumeRoleWithWebIdentity is unsigned.
func stsClient(s *awstest.Server) *sts.Client {
	return sts.New(sts.Options{Region: s.Region, BaseEndpoint: aws.String(s.URL()), Retryer: aws.NopRetryer{}})
}

func assumeInput(role, session, token string) *sts.AssumeRoleWithWebIdentityInput {
	return &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(role), RoleSessionName: aws.String(session), WebIdentityToken: aws.String(token)}
}

// rawQuery posts form to s as an unsigned AWS Query request and returns
// the status, the Content-Type and the body.
func rawQuery(t *testing.T, s *awstest.Server, form url.Values) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func webForm(role, session, token string) url.Values {
	return url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"RoleArn": {role}, "RoleSessionName": {session}, "WebIdentityToken": {token},
	}
}

// TestSTSWireShapes checks the XML of STS's answers on the raw wire: the
// element names the SDK's Query deserializer looks for, and the
// ErrorResponse envelope with Type, Code and Message.
func TestSTSWireShapes(t *testing.T) {
	t.Parallel()
	s := awstest.New(t, awstest.WithWebIdentity(webRole, webToken))

	status, ctype, body := rawQuery(t, s, webForm(webRole, "raw-session", webToken))
	require.Equal(t, http.StatusOK, status, "%s", body)
	assert.Equal(t, "text/xml", ctype)
	var ok struct {
		XMLName xml.Name
		Result  struct {
			AssumedRoleUser struct{ Arn string }
			Credentials     struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string
				SessionToken    string
				Expiration      string
			}
		} `xml:"AssumeRoleWithWebIdentityResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	require.NoError(t, xml.Unmarshal(body, &ok), "%s", body)
	assert.Equal(t, "AssumeRoleWithWebIdentityResponse", ok.XMLName.Local)
	assert.Equal(t, "https://sts.amazonaws.com/doc/2011-06-15/", ok.XMLName.Space)
	assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/omsecrets-irsa/raw-session", ok.Result.AssumedRoleUser.Arn)
	assert.True(t, strings.HasPrefix(ok.Result.Credentials.AccessKeyID, "ASIA"), ok.Result.Credentials.AccessKeyID)
	assert.Len(t, ok.Result.Credentials.AccessKeyID, 20)
	assert.Len(t, ok.Result.Credentials.SecretAccessKey, 40)
	assert.NotEmpty(t, ok.Result.Credentials.SessionToken)
	assert.NotEmpty(t, ok.RequestID)
	exp, err := time.Parse(time.RFC3339, ok.Result.Credentials.Expiration)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(awstest.DefaultCredentialLifetime), exp, 2*time.Second)

	for _, tc := range []struct {
		name     string
		form     url.Values
		status   int
		wantCode string
	}{
		{name: "other token", form: webForm(webRole, "s1", "another-token"), status: http.StatusBadRequest, wantCode: "InvalidIdentityToken"},
		{name: "other role", form: webForm("arn:aws:iam::123456789012:role/other", "s1", webToken), status: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "short session name", form: webForm(webRole, "s", webToken), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "bad session name", form: webForm(webRole, "has space", webToken), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "short token", form: webForm(webRole, "s1", "abc"), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "huge token", form: webForm(webRole, "s1", strings.Repeat("t", 20001)), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "short role", form: webForm("arn:aws:iam::1:r", "s1", webToken), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "duration too short", form: func() url.Values {
			f := webForm(webRole, "s1", webToken)
			f.Set("DurationSeconds", "60")
			return f
		}(), status: http.StatusBadRequest, wantCode: "ValidationError"},
		{name: "other action", form: url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}, status: http.StatusBadRequest, wantCode: "InvalidAction"},
		{name: "other version", form: func() url.Values {
			f := webForm(webRole, "s1", webToken)
			f.Set("Version", "2010-01-01")
			return f
		}(), status: http.StatusBadRequest, wantCode: "InvalidAction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, ctype, body := rawQuery(t, s, tc.form)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, "text/xml", ctype)
			var e struct {
				XMLName   xml.Name
				Error     struct{ Type, Code, Message string }
				RequestID string `xml:"RequestId"`
			}
			require.NoError(t, xml.Unmarshal(body, &e), "%s", body)
			assert.Equal(t, "ErrorResponse", e.XMLName.Local)
			assert.Equal(t, "Sender", e.Error.Type)
			assert.Equal(t, tc.wantCode, e.Error.Code)
			assert.NotEmpty(t, e.Error.Message)
			assert.NotEmpty(t, e.RequestID)
			assert.NotContains(t, string(body), webToken, "an error quotes the token")
		})
	}
}

// TestSTSClient runs the SDK's STS client against the Server: the answer
// decodes, and each refusal is the SDK's typed error with its status.
func TestSTSClient(t *testing.T) {
	t.Parallel()
	s := awstest.New(t, awstest.WithWebIdentity(webRole, webToken), awstest.WithCredentialLifetime(90*time.Second))
	c := stsClient(s)

	out, err := c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "sdk-session", webToken))
	require.NoError(t, err)
	require.NotNil(t, out.Credentials)
	assert.True(t, strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA"))
	assert.NotEmpty(t, aws.ToString(out.Credentials.SecretAccessKey))
	assert.NotEmpty(t, aws.ToString(out.Credentials.SessionToken))
	assert.WithinDuration(t, time.Now().Add(90*time.Second), aws.ToTime(out.Credentials.Expiration), 2*time.Second)
	assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/omsecrets-irsa/sdk-session", aws.ToString(out.AssumedRoleUser.Arn))

	calls := s.WebIdentityCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, webRole, calls[0].RoleARN)
	assert.Equal(t, "sdk-session", calls[0].RoleSessionName)
	assert.Equal(t, webToken, calls[0].Token)
	assert.Equal(t, aws.ToString(out.Credentials.AccessKeyId), calls[0].Issued.AccessKeyID)
	assert.Empty(t, calls[0].Code)
	assert.Equal(t, 1, s.Calls(awstest.TargetAssumeRoleWithWebIdentity))
	assert.Equal(t, [][]string{{webRole}}, s.Requested(awstest.TargetAssumeRoleWithWebIdentity))

	s.ExpireWebIdentityToken("expired-token-value")
	for _, tc := range []struct {
		name   string
		in     *sts.AssumeRoleWithWebIdentityInput
		target any
		code   string
	}{
		{name: "invalid token", in: assumeInput(webRole, "s1", "not-the-token"), target: new(*ststypes.InvalidIdentityTokenException), code: "InvalidIdentityToken"},
		{name: "expired token", in: assumeInput(webRole, "s1", "expired-token-value"), target: new(*ststypes.ExpiredTokenException), code: "ExpiredTokenException"},
		{name: "role not trusted", in: assumeInput("arn:aws:iam::123456789012:role/other", "s1", webToken), code: "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.AssumeRoleWithWebIdentity(t.Context(), tc.in)
			code, _ := apiError(t, err)
			assert.Equal(t, tc.code, code)
			if tc.target != nil {
				assert.ErrorAs(t, err, tc.target)
			}
			var ae smithy.APIError
			require.ErrorAs(t, err, &ae)
			assert.NotEmpty(t, ae.ErrorMessage(), "the message is decoded")
		})
	}
}

// TestIssuedCredentials checks that the Server's signature check accepts
// the credentials its STS issued, with their session token only, until
// they expire; and a Server that trusts another accepts that one's.
func TestIssuedCredentials(t *testing.T) {
	t.Parallel()
	issuer := awstest.New(t, awstest.WithWebIdentity(webRole, webToken), awstest.WithCredentialLifetime(time.Second))
	issuer.PutSecret("db", "issued-value")
	other := awstest.New(t, awstest.WithTrustedIssuer(issuer))
	other.PutSecret("db", "trusting-value")
	stranger := awstest.New(t)
	stranger.PutSecret("db", "stranger-value")

	out, err := stsClient(issuer).AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "issued", webToken))
	require.NoError(t, err)
	creds := aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
	}
	get := func(s *awstest.Server, c aws.Credentials) (string, error) {
		cfg := s.Config()
		cfg.Credentials = staticCreds(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
		v, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
		if err != nil {
			return "", err
		}
		return aws.ToString(v.SecretString), nil
	}

	v, err := get(issuer, creds)
	require.NoError(t, err)
	assert.Equal(t, "issued-value", v)
	log := issuer.CallLog()
	assert.Equal(t, creds.AccessKeyID, log[len(log)-1].AccessKey, "the call log names the signing key")
	v, err = get(other, creds)
	require.NoError(t, err)
	assert.Equal(t, "trusting-value", v)
	_, err = get(stranger, creds)
	code, _ := apiError(t, err)
	assert.Equal(t, "UnrecognizedClientException", code, "not trusted")

	noToken := creds
	noToken.SessionToken = ""
	_, err = get(issuer, noToken)
	code, _ = apiError(t, err)
	assert.Equal(t, "UnrecognizedClientException", code, "the session token is required")
	wrongSecret := creds
	wrongSecret.SecretAccessKey = strings.Repeat("x", 40)
	_, err = get(issuer, wrongSecret)
	code, _ = apiError(t, err)
	assert.Equal(t, "InvalidSignatureException", code)

	time.Sleep(time.Until(aws.ToTime(out.Credentials.Expiration)) + 50*time.Millisecond)
	_, err = get(issuer, creds)
	code, status := apiError(t, err)
	assert.Equal(t, "ExpiredTokenException", code)
	assert.Equal(t, http.StatusBadRequest, status)
}

// TestWebIdentityRotation checks SetWebIdentityToken and Reset.
func TestWebIdentityRotation(t *testing.T) {
	t.Parallel()
	s := awstest.New(t, awstest.WithWebIdentity(webRole, "token-one"))
	c := stsClient(s)
	_, err := c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", "token-one"))
	require.NoError(t, err)
	s.SetWebIdentityToken("token-two")
	_, err = c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", "token-one"))
	code, _ := apiError(t, err)
	assert.Equal(t, "InvalidIdentityToken", code)
	_, err = c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", "token-two"))
	require.NoError(t, err)

	calls := s.WebIdentityCalls()
	require.Len(t, calls, 3)
	assert.Equal(t, []string{"", "InvalidIdentityToken", ""}, []string{calls[0].Code, calls[1].Code, calls[2].Code})
	assert.Empty(t, calls[1].Issued.AccessKeyID, "nothing issued to a refused call")
	s.Reset()
	assert.Empty(t, s.WebIdentityCalls())
	assert.Zero(t, s.Calls(awstest.TargetAssumeRoleWithWebIdentity))
}

// TestWebIdentityDefaultRefuses checks that a Server without
// WithWebIdentity issues nothing.
func TestWebIdentityDefaultRefuses(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	_, err := stsClient(s).AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", webToken))
	var ite *ststypes.InvalidIdentityTokenException
	assert.True(t, errors.As(err, &ite), "%v", err)
}

// TestSTSFaultsAndLatency checks which fault injection applies to STS:
// dropped connections do, throttling does not.
func TestSTSFaultsAndLatency(t *testing.T) {
	t.Parallel()
	s := awstest.New(t, awstest.WithWebIdentity(webRole, webToken))
	c := stsClient(s)
	s.Throttle(1)
	_, err := c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", webToken))
	require.NoError(t, err, "throttling is for the JSON services")
	s.DropNext(1)
	_, err = c.AssumeRoleWithWebIdentity(t.Context(), assumeInput(webRole, "s1", webToken))
	require.Error(t, err)
	var ae smithy.APIError
	assert.False(t, errors.As(err, &ae), "a dropped connection has no API error")
}
