package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigV4Algorithm is the scheme of a SigV4 Authorization header.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// amzDateFormat is the layout of X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// authHeader is a parsed SigV4 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request,
//	SignedHeaders=<h1>;<h2>..., Signature=<hex>
type authHeader struct {
	accessKey     string
	date          string
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// errMalformedAuth is parseAuthorization's error.
var errMalformedAuth = errors.New("malformed SigV4 Authorization header")

// Messages of AWS's authentication errors.
const (
	msgIncomplete = "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=<headers>, Signature=<hex>"
	msgNoDate     = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	msgMismatch   = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// parseAuthorization parses a SigV4 Authorization header value.
func parseAuthorization(v string) (authHeader, error) {
	var a authHeader
	rest, ok := strings.CutPrefix(v, sigV4Algorithm+" ")
	if !ok {
		return a, errMalformedAuth
	}
	var credential, signed string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errMalformedAuth
		}
		switch k {
		case "Credential":
			credential, haveCred = val, true
		case "SignedHeaders":
			signed, haveSigned = val, true
		case "Signature":
			a.signature, haveSig = val, true
		default:
			return a, errMalformedAuth
		}
	}
	if !haveCred || !haveSigned || !haveSig || signed == "" {
		return a, errMalformedAuth
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || slices.Contains(scope, "") {
		return a, errMalformedAuth
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	if len(a.signature) != 64 {
		return a, errMalformedAuth
	}
	if _, err := hex.DecodeString(a.signature); err != nil {
		return a, errMalformedAuth
	}
	a.signedHeaders = strings.Split(signed, ";")
	if slices.Contains(a.signedHeaders, "") {
		return a, errMalformedAuth
	}
	return a, nil
}

// authenticate checks r's SigV4 signature for service against the
// Server's credentials (or temporary ones it or a trusted issuer issued)
// and region by signing a copy of the request again
// with the SDK's own signer, from the headers the client signed, and
// comparing the signatures. It returns the error AWS answers with, or nil.
func (s *Server) authenticate(r *http.Request, body []byte, service string) *apiError {
	v := r.Header.Get("Authorization")
	if v == "" {
		return errMissingToken()
	}
	a, err := parseAuthorization(v)
	if err != nil {
		return errIncompleteSignature(msgIncomplete)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return errIncompleteSignature(msgNoDate)
	}
	secretKey, sessionToken := s.SecretKey, s.SessionToken
	if a.accessKey != s.AccessKey {
		c, ok := s.temporaryCredentials(a.accessKey)
		if !ok {
			return errUnrecognizedClient()
		}
		if !time.Now().Before(c.expires) {
			return errExpiredToken()
		}
		secretKey, sessionToken = c.secretKey, c.sessionToken
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(sessionToken)) != 1 {
		return errUnrecognizedClient()
	}
	if a.date != signingTime.Format("20060102") {
		return errInvalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
	}
	if a.region != s.Region {
		return errInvalidSignature("Credential should be scoped to a valid region.")
	}
	if a.service != service {
		return errInvalidSignature("Credential should be scoped to correct service: '" + service + "'.")
	}

	// Rebuild the request from what was signed: only the signed headers
	// (the Go client adds others, such as Accept-Encoding, after signing),
	// the host and the content length, which the signer takes from the
	// request's fields.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return errInvalidSignature(err.Error())
	}
	req.Host = r.Host
	req.ContentLength = r.ContentLength
	for _, h := range a.signedHeaders {
		switch h {
		case "host", "content-length":
			continue
		}
		vals, ok := r.Header[http.CanonicalHeaderKey(h)]
		if !ok {
			return errInvalidSignature(msgMismatch)
		}
		req.Header[http.CanonicalHeaderKey(h)] = vals
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secretKey, SessionToken: sessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, s.Region, signingTime); err != nil {
		return errInvalidSignature(err.Error())
	}
	want, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil || subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 ||
		strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") {
		return errInvalidSignature(msgMismatch)
	}
	return nil
}
