package awstest

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TargetAssumeRoleWithWebIdentity is how Calls, Requested and CallLog name
// an STS AssumeRoleWithWebIdentity request. STS speaks the AWS Query
// protocol, which has no X-Amz-Target: a Query request is recorded as
// stsService + "." + its Action, the target it would have in AWS JSON.
const TargetAssumeRoleWithWebIdentity = stsService + ".AssumeRoleWithWebIdentity"

// stsService is the Smithy service shape of STS (the X-Amz-Target prefix
// of the other services is theirs: "secretsmanager", "AmazonSSM").
const stsService = "AWSSecurityTokenServiceV20110615"

// stsVersion is the API version STS Query requests carry.
const stsVersion = "2011-06-15"

// DefaultCredentialLifetime is how long the credentials AssumeRoleWithWebIdentity
// issues last unless the request or WithCredentialLifetime says otherwise
// (STS's default DurationSeconds).
const DefaultCredentialLifetime = time.Hour

// Limits of AssumeRoleWithWebIdentity's parameters (STS API reference).
const (
	minRoleARN, maxRoleARN = 20, 2048
	minToken, maxToken     = 4, 20000
	minSession, maxSession = 2, 64
	minDuration            = 900
	maxDuration            = 43200
)

// sessionNamePattern is RoleSessionName's pattern, [\w+=,.@-]*.
var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)

// WebIdentityCall is one AssumeRoleWithWebIdentity request the Server
// received.
type WebIdentityCall struct {
	// RoleARN, RoleSessionName and Token are the request's RoleArn,
	// RoleSessionName and WebIdentityToken.
	RoleARN, RoleSessionName, Token string
	// Issued are the credentials the Server answered with (zero if it
	// refused the request).
	Issued aws.Credentials
	// Code is the error code the Server answered with ("" if it issued
	// credentials).
	Code string
	// At is when the request arrived.
	At time.Time
}

// issuedCredentials are temporary credentials the Server issued.
type issuedCredentials struct {
	secretKey, sessionToken string
	expires                 time.Time
}

// WithWebIdentity makes AssumeRoleWithWebIdentity issue credentials for
// role to requests carrying token (by default it refuses every request:
// no role trusts anyone).
func WithWebIdentity(role, token string) Option {
	return func(s *Server) { s.webRole, s.webToken = role, token }
}

// WithCredentialLifetime sets how long issued credentials last (default
// the request's DurationSeconds, else DefaultCredentialLifetime). Unlike
// STS, which issues credentials for 15 minutes at least, the Server takes
// any positive d, so that tests can see credentials expire.
func WithCredentialLifetime(d time.Duration) Option {
	return func(s *Server) { s.lifetime = d }
}

// WithTrustedIssuer makes the Server accept, besides its own, the
// temporary credentials issuer issued, as AWS services accept STS's: for a
// test whose STS and service endpoints differ.
func WithTrustedIssuer(issuer *Server) Option {
	return func(s *Server) { s.issuers = append(s.issuers, issuer) }
}

// SetWebIdentityToken replaces the token AssumeRoleWithWebIdentity
// accepts, as when the identity provider signs with a new key: requests
// with the old token then fail with InvalidIdentityToken. Credentials
// already issued stay valid until they expire.
func (s *Server) SetWebIdentityToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webToken = token
}

// ExpireWebIdentityToken makes AssumeRoleWithWebIdentity answer requests
// carrying token with ExpiredTokenException, as STS does for a JWT past
// its exp claim.
func (s *Server) ExpireWebIdentityToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiredTokens[token] = true
}

// WebIdentityCalls returns every AssumeRoleWithWebIdentity request the
// Server received, in order.
func (s *Server) WebIdentityCalls() []WebIdentityCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WebIdentityCall, len(s.webCalls))
	copy(out, s.webCalls)
	return out
}

// isQuery reports whether r is an AWS Query request: a form POST without
// X-Amz-Target.
func isQuery(r *http.Request) bool {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "" &&
		strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// stsError is an STS error answer.
type stsError struct {
	status int
	code   string
	msg    string
	fault  string // "Sender" or "Receiver"
}

func errInvalidIdentityToken() *stsError {
	return &stsError{status: http.StatusBadRequest, code: "InvalidIdentityToken", fault: "Sender",
		msg: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"}
}

func errSTSAccessDenied() *stsError {
	return &stsError{status: http.StatusForbidden, code: "AccessDenied", fault: "Sender",
		msg: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
}

func errExpiredWebIdentityToken(now time.Time) *stsError {
	return &stsError{status: http.StatusBadRequest, code: "ExpiredTokenException", fault: "Sender",
		msg: fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time%d", now.Unix(), now.Add(-time.Hour).Unix())}
}

func errSTSValidation(field, constraint string) *stsError {
	return &stsError{status: http.StatusBadRequest, code: "ValidationError", fault: "Sender",
		msg: "1 validation error detected: Value at '" + field + "' failed to satisfy constraint: " + constraint}
}

func errInvalidAction(action, version string) *stsError {
	return &stsError{status: http.StatusBadRequest, code: "InvalidAction", fault: "Sender",
		msg: "Could not find operation " + action + " for version " + version}
}

// stsErrorResponse is the XML of an STS error (Query protocol). STS's
// answers are in the namespace of its API version.
type stsErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// assumeRoleWithWebIdentityResponse is the XML of a successful
// AssumeRoleWithWebIdentity (the Query protocol's <Action>Response with
// its <Action>Result and ResponseMetadata).
type assumeRoleWithWebIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
		Audience                    string `xml:"Audience"`
		AssumedRoleUser             struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
		Provider string `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// queryTarget returns the Call target and ids of a Query request form.
func queryTarget(form url.Values) (target string, ids []string) {
	target = stsService + "." + form.Get("Action")
	if role := form.Get("RoleArn"); role != "" {
		ids = []string{role}
	}
	return target, ids
}

// serveQuery answers an STS Query request. AssumeRoleWithWebIdentity is
// unsigned on AWS (its auth is the token), so no signature is checked, and
// the Server's fault injection (throttling, failures, Deny) does not apply
// to it; latency and dropped connections do.
func (s *Server) serveQuery(w http.ResponseWriter, form url.Values) {
	action, version := form.Get("Action"), form.Get("Version")
	if action != "AssumeRoleWithWebIdentity" || version != stsVersion {
		writeSTSError(w, errInvalidAction(action, version))
		return
	}
	call := WebIdentityCall{
		RoleARN:         form.Get("RoleArn"),
		RoleSessionName: form.Get("RoleSessionName"),
		Token:           form.Get("WebIdentityToken"),
		At:              time.Now(),
	}
	resp, e := s.assumeRoleWithWebIdentity(form, &call)
	if e != nil {
		call.Code = e.code
	}
	s.mu.Lock()
	s.webCalls = append(s.webCalls, call)
	s.mu.Unlock()
	if e != nil {
		writeSTSError(w, e)
		return
	}
	b, err := xml.Marshal(resp)
	if err != nil {
		writeSTSError(w, &stsError{status: http.StatusInternalServerError, code: "InternalFailure", fault: "Receiver", msg: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", resp.RequestID)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// assumeRoleWithWebIdentity checks one request and issues its
// credentials, recording them in call.
func (s *Server) assumeRoleWithWebIdentity(form url.Values, call *WebIdentityCall) (*assumeRoleWithWebIdentityResponse, *stsError) {
	// Validation first, as STS does; its messages never quote the token.
	switch {
	case len(call.RoleARN) < minRoleARN || len(call.RoleARN) > maxRoleARN:
		return nil, errSTSValidation("roleArn", fmt.Sprintf("Member must have length between %d and %d", minRoleARN, maxRoleARN))
	case len(call.RoleSessionName) < minSession || len(call.RoleSessionName) > maxSession:
		return nil, errSTSValidation("roleSessionName", fmt.Sprintf("Member must have length between %d and %d", minSession, maxSession))
	case !sessionNamePattern.MatchString(call.RoleSessionName):
		return nil, errSTSValidation("roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	case len(call.Token) < minToken || len(call.Token) > maxToken:
		return nil, errSTSValidation("webIdentityToken", fmt.Sprintf("Member must have length between %d and %d", minToken, maxToken))
	}
	lifetime := DefaultCredentialLifetime
	if v := form.Get("DurationSeconds"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < minDuration || secs > maxDuration {
			return nil, errSTSValidation("durationSeconds", fmt.Sprintf("Member must have value between %d and %d", minDuration, maxDuration))
		}
		lifetime = time.Duration(secs) * time.Second
	}

	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.expiredTokens[call.Token]:
		return nil, errExpiredWebIdentityToken(now)
	case s.webToken == "" || call.Token != s.webToken:
		return nil, errInvalidIdentityToken()
	case call.RoleARN != s.webRole:
		// The role's trust policy does not name this identity.
		return nil, errSTSAccessDenied()
	}
	if s.lifetime > 0 {
		lifetime = s.lifetime
	}
	// Whole seconds, as STS writes them, rounded up so that credentials
	// last at least lifetime.
	expires := now.Add(lifetime).Truncate(time.Second)
	if expires.Before(now.Add(lifetime)) {
		expires = expires.Add(time.Second)
	}
	creds := aws.Credentials{
		AccessKeyID:     "ASIA" + randomString(upperAlnum, 16),
		SecretAccessKey: randomString(alnum+"+/", 40),
		SessionToken:    "IQoJb3JpZ2luX2VjE" + randomString(alnum+"+/", 300),
		CanExpire:       true,
		Expires:         expires.UTC(),
		Source:          "awstest",
	}
	s.issued[creds.AccessKeyID] = issuedCredentials{secretKey: creds.SecretAccessKey, sessionToken: creds.SessionToken, expires: creds.Expires}
	call.Issued = creds

	resp := &assumeRoleWithWebIdentityResponse{RequestID: newUUID()}
	r := &resp.Result
	r.SubjectFromWebIdentityToken = "system:serviceaccount:awstest:omsecrets"
	r.Audience = "sts.amazonaws.com"
	r.Provider = "arn:aws:iam::" + s.Account + ":oidc-provider/oidc.awstest.example"
	roleName := call.RoleARN[strings.LastIndex(call.RoleARN, "/")+1:]
	r.AssumedRoleUser.Arn = "arn:aws:sts::" + s.Account + ":assumed-role/" + roleName + "/" + call.RoleSessionName
	r.AssumedRoleUser.AssumedRoleID = "AROA" + randomString(upperAlnum, 17) + ":" + call.RoleSessionName
	r.Credentials.AccessKeyID = creds.AccessKeyID
	r.Credentials.SecretAccessKey = creds.SecretAccessKey
	r.Credentials.SessionToken = creds.SessionToken
	r.Credentials.Expiration = creds.Expires.Format(time.RFC3339)
	return resp, nil
}

// writeSTSError writes e as STS does: an XML ErrorResponse.
func writeSTSError(w http.ResponseWriter, e *stsError) {
	var body stsErrorResponse
	body.Error.Type, body.Error.Code, body.Error.Message = e.fault, e.code, e.msg
	body.RequestID = newUUID()
	b, _ := xml.Marshal(body)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", body.RequestID)
	w.WriteHeader(e.status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// temporaryCredentials returns the secret key, session token and expiry
// of the temporary credentials accessKey names, issued by the Server or a
// trusted issuer.
func (s *Server) temporaryCredentials(accessKey string) (issuedCredentials, bool) {
	s.mu.Lock()
	c, ok := s.issued[accessKey]
	issuers := s.issuers
	s.mu.Unlock()
	if ok {
		return c, true
	}
	for _, is := range issuers {
		is.mu.Lock()
		c, ok = is.issued[accessKey]
		is.mu.Unlock()
		if ok {
			return c, true
		}
	}
	return issuedCredentials{}, false
}

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters of chars from crypto/rand: issued
// secrets must not be guessable from each other.
func randomString(chars string, n int) string {
	b := make([]byte, n)
	limit := big.NewInt(int64(len(chars)))
	for i := range b {
		v, err := rand.Int(rand.Reader, limit)
		if err != nil {
			panic("awstest: crypto/rand: " + err.Error())
		}
		b[i] = chars[v.Int64()]
	}
	return string(b)
}
