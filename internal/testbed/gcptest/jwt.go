package gcptest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CloudPlatformScope is the OAuth scope the token endpoint and the
// metadata server issue tokens for; Secret Manager accepts it.
const CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// maxAssertion bounds the JWT assertion the token endpoint parses; a
// service account's is about 700 bytes.
const maxAssertion = 16 << 10

// maxJWTLifetime is the longest exp - iat Google's token endpoint accepts
// ("Token must be a short-lived token (60 minutes)").
const maxJWTLifetime = time.Hour

// clockSkew is how far iat may lie in the future.
const clockSkew = 5 * time.Minute

// jwtHeader and jwtClaims are the parts of a service account's JWT
// assertion (RFC 7523) the token endpoint checks.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// oauthError is a token endpoint refusal: the OAuth error code and the
// description Google sends with it.
type oauthError struct {
	code, description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

// errBadSignature is Google's answer to an assertion not signed by an
// active key of the service account.
var errBadSignature = &oauthError{"invalid_grant", "Invalid JWT Signature."}

// verifyAssertion checks a JWT bearer assertion the way Google's token
// endpoint does for a service account: RS256 over header.claims with the
// account's key (kid, if sent, must name it), issued by email for the
// audience aud, within a lifetime of at most an hour around now. It
// returns the claims, or an *oauthError saying why not.
func verifyAssertion(assertion string, pub *rsa.PublicKey, kid, email, aud string, now time.Time) (*jwtClaims, error) {
	if len(assertion) > maxAssertion {
		return nil, &oauthError{"invalid_grant", "Invalid JWT: assertion too long."}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, &oauthError{"invalid_grant", "Invalid JWT: not a compact JWS."}
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return nil, &oauthError{"invalid_grant", "Invalid JWT: header does not decode."}
	}
	if h.Alg != "RS256" {
		return nil, &oauthError{"invalid_grant", "Invalid JWT: unsupported algorithm."}
	}
	if h.Kid != "" && h.Kid != kid {
		return nil, errBadSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errBadSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errBadSignature
	}
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, &oauthError{"invalid_grant", "Invalid JWT: claims do not decode."}
	}
	switch {
	case c.Iss != email:
		return nil, &oauthError{"invalid_grant", "Invalid JWT: iss is not the service account."}
	case c.Aud != aud:
		return nil, &oauthError{"invalid_grant", "Invalid JWT: aud is not the token endpoint."}
	case c.Exp <= c.Iat || time.Duration(c.Exp-c.Iat)*time.Second > maxJWTLifetime,
		time.Unix(c.Iat, 0).After(now.Add(clockSkew)), !time.Unix(c.Exp, 0).After(now):
		return nil, &oauthError{"invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}
	case c.Scope == "":
		return nil, &oauthError{"invalid_scope", "Invalid OAuth scope or ID token audience provided."}
	}
	return &c, nil
}

// decodeSegment decodes one base64url JWT segment holding a JSON object.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// hasScope reports whether the space-separated scope list holds want.
func hasScope(scopes, want string) bool {
	for s := range strings.FieldsSeq(scopes) {
		if s == want {
			return true
		}
	}
	return false
}
