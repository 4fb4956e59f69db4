package awstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

func smClient(s *awstest.Server) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.Config())
}

func ssmClient(s *awstest.Server) *ssm.Client {
	return ssm.NewFromConfig(s.Config())
}

// apiError returns err's AWS error code and HTTP status.
func apiError(t *testing.T, err error) (code string, status int) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae, "want an AWS API error, got %v", err)
	var re *smithyhttp.ResponseError
	require.ErrorAs(t, err, &re)
	return ae.ErrorCode(), re.HTTPStatusCode()
}

// rawRequest posts body to the server for target, signed with creds for
// service and region unless creds is nil.
func rawRequest(t *testing.T, s *awstest.Server, target, body string, creds *aws.Credentials, service, region string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	if creds != nil {
		sum := sha256.Sum256([]byte(body))
		require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), *creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]string
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &out), "error body %s", b)
		assert.Equal(t, "application/x-amz-json-1.1", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

func serverCreds(s *awstest.Server) *aws.Credentials {
	return &aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, SessionToken: s.SessionToken}
}

func TestUnsignedRequestRefused(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("db", "unsigned-value")
	body := `{"SecretId":"db"}`

	status, out := rawRequest(t, s, awstest.TargetGetSecretValue, body, nil, "", "")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "MissingAuthenticationTokenException", out["__type"])
	assert.Equal(t, "Request is missing Authentication Token", out["message"])

	// The same request signed right is answered.
	status, _ = rawRequest(t, s, awstest.TargetGetSecretValue, body, serverCreds(s), "secretsmanager", s.Region)
	assert.Equal(t, http.StatusOK, status)
}

func TestRawAuthErrors(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("db", "raw-auth-value")
	body := `{"SecretId":"db"}`
	good := serverCreds(s)
	wrongSecret := &aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: "not-the-secret"}
	wrongKey := &aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: s.SecretKey}
	for _, tc := range []struct {
		name            string
		target          string
		creds           *aws.Credentials
		service, region string
		wantCode        string
	}{
		{name: "wrong secret key", target: awstest.TargetGetSecretValue, creds: wrongSecret, service: "secretsmanager", region: s.Region, wantCode: "InvalidSignatureException"},
		{name: "unknown access key", target: awstest.TargetGetSecretValue, creds: wrongKey, service: "secretsmanager", region: s.Region, wantCode: "UnrecognizedClientException"},
		{name: "wrong region", target: awstest.TargetGetSecretValue, creds: good, service: "secretsmanager", region: "us-east-2", wantCode: "InvalidSignatureException"},
		{name: "wrong service", target: awstest.TargetGetSecretValue, creds: good, service: "ssm", region: s.Region, wantCode: "InvalidSignatureException"},
		{name: "unknown operation", target: "secretsmanager.ListSecretVersionIds", creds: good, service: "secretsmanager", region: s.Region, wantCode: "UnknownOperationException"},
		{name: "no target", target: "", creds: good, service: "secretsmanager", region: s.Region, wantCode: "UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, out := rawRequest(t, s, tc.target, body, tc.creds, tc.service, tc.region)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, tc.wantCode, out["__type"])
		})
	}
}

// TestTamperedRequest checks that the signature covers the body and the
// signed headers.
func TestTamperedRequest(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("a", "tamper-a")
	s.PutSecret("b", "tamper-b")

	send := func(mutate func(*http.Request)) (int, map[string]string) {
		body := `{"SecretId":"a"}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", awstest.TargetGetSecretValue)
		sum := sha256.Sum256([]byte(body))
		require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), *serverCreds(s), req, hex.EncodeToString(sum[:]), "secretsmanager", s.Region, time.Now()))
		mutate(req)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	status, _ := send(func(*http.Request) {})
	require.Equal(t, http.StatusOK, status, "untampered request")

	status, out := send(func(r *http.Request) {
		b := []byte(`{"SecretId":"b"}`)
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "InvalidSignatureException", out["__type"], "changed body")

	status, out = send(func(r *http.Request) { r.Header.Set("X-Amz-Target", awstest.TargetBatchGetSecretValue) })
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "InvalidSignatureException", out["__type"], "changed signed header")

	status, out = send(func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") })
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "IncompleteSignatureException", out["__type"], "malformed header")
}

func TestSDKAuth(t *testing.T) {
	t.Parallel()
	s := awstest.New(t, awstest.WithRegion("ap-south-1"), awstest.WithCredentials("AKIDSDKAUTH", "sdk-auth-secret"), awstest.WithSessionToken("session-token-1"))
	s.PutSecret("db", "sdk-auth-value")
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}

	out, err := smClient(s).GetSecretValue(t.Context(), in)
	require.NoError(t, err)
	assert.Equal(t, "sdk-auth-value", aws.ToString(out.SecretString))

	for _, tc := range []struct {
		name     string
		mutate   func(*aws.Config)
		wantCode string
	}{
		{name: "wrong secret key", mutate: func(c *aws.Config) { c.Credentials = staticCreds(s.AccessKey, "wrong", s.SessionToken) }, wantCode: "InvalidSignatureException"},
		{name: "wrong access key", mutate: func(c *aws.Config) { c.Credentials = staticCreds("AKIDOTHER", s.SecretKey, s.SessionToken) }, wantCode: "UnrecognizedClientException"},
		{name: "missing session token", mutate: func(c *aws.Config) { c.Credentials = staticCreds(s.AccessKey, s.SecretKey, "") }, wantCode: "UnrecognizedClientException"},
		{name: "wrong region", mutate: func(c *aws.Config) { c.Region = "eu-west-1" }, wantCode: "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := s.Config()
			tc.mutate(&cfg)
			_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(t.Context(), in)
			code, status := apiError(t, err)
			assert.Equal(t, tc.wantCode, code)
			assert.Equal(t, http.StatusBadRequest, status)
		})
	}
}

func staticCreds(key, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: token}, nil
	})
}

func TestGetSecretValue(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	arn := s.PutSecret("app/db", "get-value-1")
	binARN := s.PutSecretBinary("app/bin", []byte{0, 1, 2, 0xff})
	s.PutSecret("app/deleting", "get-value-deleting")
	s.ScheduleSecretDeletion("app/deleting")
	s.PutSecret("app/denied", "get-value-denied")
	s.DenyID("app/denied")
	s.PutSecret("app/kms", "get-value-kms")
	s.FailDecrypt("app/kms")
	c := smClient(s)

	require.Regexp(t, `^arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-[A-Za-z0-9]{6}$`, arn)
	for _, id := range []string{"app/db", arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		require.NoError(t, err, id)
		assert.Equal(t, "get-value-1", aws.ToString(out.SecretString), id)
		assert.Equal(t, "app/db", aws.ToString(out.Name))
		assert.Equal(t, arn, aws.ToString(out.ARN))
		assert.Equal(t, []string{"AWSCURRENT"}, out.VersionStages)
		assert.NotEmpty(t, aws.ToString(out.VersionId))
		assert.WithinDuration(t, time.Now(), aws.ToTime(out.CreatedDate), time.Hour)
	}

	out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(binARN)})
	require.NoError(t, err)
	assert.Nil(t, out.SecretString)
	assert.Equal(t, []byte{0, 1, 2, 0xff}, out.SecretBinary)

	// A new version replaces the value and keeps the ARN.
	assert.Equal(t, arn, s.PutSecret("app/db", "get-value-2"))
	out, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	require.NoError(t, err)
	assert.Equal(t, "get-value-2", aws.ToString(out.SecretString))

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/missing")})
	var notFound *smtypes.ResourceNotFoundException
	require.ErrorAs(t, err, &notFound)
	assert.Equal(t, "Secrets Manager can't find the specified secret.", notFound.ErrorMessage())

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/deleting")})
	var invalid *smtypes.InvalidRequestException
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, invalid.ErrorMessage(), "marked for deletion")

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/kms")})
	var decrypt *smtypes.DecryptionFailure
	require.ErrorAs(t, err, &decrypt)

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/denied")})
	code, status := apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	assert.Equal(t, http.StatusBadRequest, status)

	s.Deny(awstest.ActionGetSecretValue)
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	code, _ = apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	s.Allow(awstest.ActionGetSecretValue)
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	require.NoError(t, err)

	s.DeleteSecret("app/db")
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	require.ErrorAs(t, err, &notFound)
}

func TestBatchGetSecretValue(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	arnA := s.PutSecret("batch/a", "batch-value-a")
	s.PutSecret("batch/b", "batch-value-b")
	s.PutSecret("batch/denied", "batch-value-denied")
	s.DenyID("batch/denied")
	s.PutSecret("batch/kms", "batch-value-kms")
	s.FailDecrypt("batch/kms")
	c := smClient(s)

	ids := []string{arnA, "batch/b", "batch/missing", "batch/denied", "batch/kms"}
	out, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	require.NoError(t, err)
	got := map[string]string{}
	for _, v := range out.SecretValues {
		got[aws.ToString(v.Name)] = aws.ToString(v.SecretString)
	}
	assert.Equal(t, map[string]string{"batch/a": "batch-value-a", "batch/b": "batch-value-b"}, got)
	errs := map[string]string{}
	for _, e := range out.Errors {
		errs[aws.ToString(e.SecretId)] = aws.ToString(e.ErrorCode)
		assert.NotEmpty(t, aws.ToString(e.Message))
	}
	assert.Equal(t, map[string]string{
		"batch/missing": "ResourceNotFoundException",
		"batch/denied":  "AccessDeniedException",
		"batch/kms":     "DecryptionFailure",
	}, errs)
	assert.Nil(t, out.NextToken)
	assert.Equal(t, [][]string{ids}, s.Requested(awstest.TargetBatchGetSecretValue))

	// More than 20 ids are refused as a whole.
	many := make([]string, 21)
	for i := range many {
		many[i] = "batch/a"
	}
	_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: many})
	code, status := apiError(t, err)
	assert.Equal(t, "ValidationException", code)
	assert.Equal(t, http.StatusBadRequest, status)
	_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: many[:20]})
	require.NoError(t, err, "20 ids are fine")

	_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{})
	var invalid *smtypes.InvalidParameterException
	require.ErrorAs(t, err, &invalid)

	s.Deny(awstest.ActionBatchGetSecretValue)
	_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	code, _ = apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	// GetSecretValue is a separate action.
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("batch/a")})
	require.NoError(t, err)
}

func TestBatchGetSecretValuePages(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.SetPageSize(2)
	var ids []string
	for _, n := range []string{"p1", "p2", "p3", "p4", "p5"} {
		s.PutSecret(n, "page-value-"+n)
		ids = append(ids, n)
	}
	p := secretsmanager.NewBatchGetSecretValuePaginator(smClient(s), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	var names []string
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		require.NoError(t, err)
		for _, v := range out.SecretValues {
			names = append(names, aws.ToString(v.Name))
		}
	}
	assert.Equal(t, ids, names)
	assert.Equal(t, 3, s.Calls(awstest.TargetBatchGetSecretValue))

	_, err := smClient(s).BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids, NextToken: aws.String("bogus")})
	var bad *smtypes.InvalidNextTokenException
	require.ErrorAs(t, err, &bad)
}

func TestGetParameters(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("/app/plain", "param-plain", false)
	s.PutParameter("/app/secure", "param-secure-v1", true)
	s.PutParameter("/app/secure", "param-secure-v2", true)
	s.LabelParameter("/app/secure", 1, "prod")
	s.PutStringList("/app/list", "a", "b", "c")
	s.PutSecret("sm/db", "param-from-sm")
	c := ssmClient(s)

	names := []string{"/app/plain", "/app/secure", "/app/secure:1", "/app/secure:prod", "/app/list", "/app/missing", "/app/secure:9", "/aws/reference/secretsmanager/sm/db", "/aws/reference/secretsmanager/sm/missing"}
	out, err := c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	type got struct {
		value, selector string
		version         int64
		typ             ssmtypes.ParameterType
	}
	byKey := map[string]got{}
	for _, p := range out.Parameters {
		byKey[aws.ToString(p.Name)+aws.ToString(p.Selector)] = got{aws.ToString(p.Value), aws.ToString(p.Selector), p.Version, p.Type}
	}
	assert.Equal(t, map[string]got{
		"/app/plain":                          {value: "param-plain", version: 1, typ: ssmtypes.ParameterTypeString},
		"/app/secure":                         {value: "param-secure-v2", version: 2, typ: ssmtypes.ParameterTypeSecureString},
		"/app/secure:1":                       {value: "param-secure-v1", selector: ":1", version: 1, typ: ssmtypes.ParameterTypeSecureString},
		"/app/secure:prod":                    {value: "param-secure-v1", selector: ":prod", version: 1, typ: ssmtypes.ParameterTypeSecureString},
		"/app/list":                           {value: "a,b,c", version: 1, typ: ssmtypes.ParameterTypeStringList},
		"/aws/reference/secretsmanager/sm/db": {value: "param-from-sm", typ: ssmtypes.ParameterTypeSecureString},
	}, byKey)
	assert.ElementsMatch(t, []string{"/app/missing", "/app/secure:9", "/aws/reference/secretsmanager/sm/missing"}, out.InvalidParameters)

	// Without decryption a SecureString is ciphertext, and a Secrets
	// Manager reference is refused.
	out, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/app/secure", "/app/plain"}})
	require.NoError(t, err)
	for _, p := range out.Parameters {
		if aws.ToString(p.Name) == "/app/secure" {
			assert.NotContains(t, aws.ToString(p.Value), "param-secure")
			assert.True(t, strings.HasPrefix(aws.ToString(p.Value), "AQICAH"))
		} else {
			assert.Equal(t, "param-plain", aws.ToString(p.Value))
		}
	}
	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/aws/reference/secretsmanager/sm/db"}})
	code, _ := apiError(t, err)
	assert.Equal(t, "ValidationException", code)
	assert.ErrorContains(t, err, "WithDecryption flag must be True")

	// More than 10 names are refused as a whole.
	many := make([]string, 11)
	for i := range many {
		many[i] = "/app/plain"
	}
	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: many})
	code, status := apiError(t, err)
	assert.Equal(t, "ValidationException", code)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.ErrorContains(t, err, "Member must have length less than or equal to 10")

	// A denied name or a KMS failure fails the whole call.
	s.DenyID("/app/plain")
	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/app/list", "/app/plain"}, WithDecryption: aws.Bool(true)})
	code, _ = apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	assert.ErrorContains(t, err, "ssm:GetParameters")
	s.FailDecrypt("/app/secure")
	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/app/list", "/app/secure"}, WithDecryption: aws.Bool(true)})
	var kms *ssmtypes.InvalidKeyId
	require.ErrorAs(t, err, &kms)

	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/app/has space"}})
	code, _ = apiError(t, err)
	assert.Equal(t, "ValidationException", code)
}

func TestGetParameter(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("plain", "single-plain", false)
	s.PutParameter("/secure", "single-secure", true)
	s.PutSecret("sm", "single-from-sm")
	c := ssmClient(s)

	out, err := c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(" plain "), WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "plain", aws.ToString(out.Parameter.Name), "surrounding spaces are removed")
	assert.Equal(t, "single-plain", aws.ToString(out.Parameter.Value))
	assert.Equal(t, "arn:aws:ssm:eu-west-1:123456789012:parameter/plain", aws.ToString(out.Parameter.ARN))

	out, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/secure"), WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "single-secure", aws.ToString(out.Parameter.Value))
	assert.Equal(t, "arn:aws:ssm:eu-west-1:123456789012:parameter/secure", aws.ToString(out.Parameter.ARN))

	out, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/sm"), WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "single-from-sm", aws.ToString(out.Parameter.Value))
	assert.NotEmpty(t, aws.ToString(out.Parameter.SourceResult))

	_, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/missing")})
	var notFound *ssmtypes.ParameterNotFound
	require.ErrorAs(t, err, &notFound)
	_, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/secure:7")})
	var noVersion *ssmtypes.ParameterVersionNotFound
	require.ErrorAs(t, err, &noVersion)
	_, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/sm")})
	code, _ := apiError(t, err)
	assert.Equal(t, "ValidationException", code)

	s.Deny(awstest.ActionGetParameter)
	_, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("plain")})
	code, _ = apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	// GetParameters is a separate action.
	_, err = c.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"plain"}})
	require.NoError(t, err)
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("t", "throttle-value")
	s.PutParameter("t", "throttle-param", false)
	sm, ps := smClient(s), ssmClient(s)
	get := func() error {
		_, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("t")})
		return err
	}

	s.Throttle(2)
	for range 2 {
		err := get()
		code, status := apiError(t, err)
		assert.Equal(t, "ThrottlingException", code)
		assert.Equal(t, http.StatusBadRequest, status)
		var re *smithyhttp.ResponseError
		require.ErrorAs(t, err, &re)
		assert.Empty(t, re.Response.Header.Get("Retry-After"))
	}
	require.NoError(t, get())
	assert.Equal(t, 3, s.Calls(awstest.TargetGetSecretValue), "exactly one attempt per call")

	s.SetRetryAfter(1500 * time.Millisecond)
	s.SetThrottling(true)
	for range 3 {
		err := get()
		code, _ := apiError(t, err)
		assert.Equal(t, "ThrottlingException", code)
		var re *smithyhttp.ResponseError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "2", re.Response.Header.Get("Retry-After"))
	}
	_, err := ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("t")})
	code, _ := apiError(t, err)
	assert.Equal(t, "ThrottlingException", code)
	s.SetThrottling(false)
	require.NoError(t, get())
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("e", "server-error-value")
	s.PutParameter("e", "server-error-param", false)
	sm, ps := smClient(s), ssmClient(s)

	s.FailNext(1, http.StatusInternalServerError)
	_, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("e")})
	var internal *smtypes.InternalServiceError
	require.ErrorAs(t, err, &internal)
	_, status := apiError(t, err)
	assert.Equal(t, http.StatusInternalServerError, status)

	s.FailNext(1, http.StatusInternalServerError)
	_, err = ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"e"}})
	var ssmInternal *ssmtypes.InternalServerError
	require.ErrorAs(t, err, &ssmInternal)

	s.FailNext(1, http.StatusServiceUnavailable)
	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("e")})
	code, status := apiError(t, err)
	assert.Equal(t, "ServiceUnavailable", code)
	assert.Equal(t, http.StatusServiceUnavailable, status)

	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("e")})
	require.NoError(t, err, "the failures are used up")
	assert.Equal(t, 3, s.Calls(awstest.TargetGetSecretValue))
}

func TestDropAndLatency(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("d", "drop-value")
	sm := smClient(s)
	get := func(ctx context.Context) error {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("d")})
		return err
	}

	s.DropNext(1)
	err := get(t.Context())
	require.Error(t, err)
	var ae smithy.APIError
	assert.False(t, errors.As(err, &ae), "a dropped connection has no API error: %v", err)
	require.NoError(t, get(t.Context()))
	assert.Equal(t, 2, s.Calls(awstest.TargetGetSecretValue), "the dropped request is not retried")

	s.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = get(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	s.SetLatency(0)
	require.NoError(t, get(t.Context()))
}

func TestObservation(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("o1", "obs-1")
	s.PutParameter("p1", "obs-p1", false)
	sm, ps := smClient(s), ssmClient(s)

	before := time.Now()
	_, err := sm.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"o1", "o2"}})
	require.NoError(t, err)
	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("o1")})
	require.NoError(t, err)
	_, err = ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"p1", "p2"}})
	require.NoError(t, err)
	_, err = ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("p1")})
	require.NoError(t, err)

	assert.Equal(t, 4, s.TotalCalls())
	assert.Equal(t, [][]string{{"o1", "o2"}}, s.Requested(awstest.TargetBatchGetSecretValue))
	assert.Equal(t, [][]string{{"o1"}}, s.Requested(awstest.TargetGetSecretValue))
	assert.Equal(t, [][]string{{"p1", "p2"}}, s.Requested(awstest.TargetGetParameters))
	assert.Equal(t, [][]string{{"p1"}}, s.Requested(awstest.TargetGetParameter))
	times := s.CallTimes()
	require.Len(t, times, 4)
	for i, at := range times {
		assert.False(t, at.Before(before.Add(-time.Second)), "call %d", i)
		if i > 0 {
			assert.False(t, at.Before(times[i-1]), "call times are in order")
		}
	}
	log := s.CallLog()
	require.Len(t, log, 4)
	assert.Equal(t, awstest.TargetGetParameter, log[3].Target)

	s.Reset()
	assert.Zero(t, s.TotalCalls())
	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("o1")})
	require.NoError(t, err, "Reset keeps the data")
	assert.Equal(t, 1, s.Calls(awstest.TargetGetSecretValue))
}

// TestConcurrent drives the Server from many goroutines at once, mixing
// faults with answers; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		s.PutSecret(n, "concurrent-"+n)
		s.PutParameter(n, "concurrent-param-"+n, true)
	}
	sm, ps := smClient(s), ssmClient(s)
	s.Throttle(5)
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	throttled := 0
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				var err error
				switch (w + r) % 3 {
				case 0:
					_, err = sm.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"c1", "c2", "c3"}})
				case 1:
					_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("c2")})
				default:
					_, err = ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"c1", "c3"}, WithDecryption: aws.Bool(true)})
				}
				if err != nil {
					var ae smithy.APIError
					if assert.ErrorAs(t, err, &ae) && assert.Equal(t, "ThrottlingException", ae.ErrorCode()) {
						mu.Lock()
						throttled++
						mu.Unlock()
					}
				}
				if w == 0 && r == 5 {
					s.PutSecret("c1", "concurrent-c1-v2")
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 5, throttled)
	assert.Equal(t, workers*rounds, s.TotalCalls())
	assert.Equal(t, workers*rounds, s.Calls(awstest.TargetBatchGetSecretValue)+s.Calls(awstest.TargetGetSecretValue)+s.Calls(awstest.TargetGetParameters))
}
