package gcptest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const (
	fuzzEmail = "reader@omsecrets-test.iam.gserviceaccount.com"
	fuzzAud   = "https://127.0.0.1:1/token"
	fuzzKid   = "kid-1"
)

// sign builds an RS256 JWT over header and claims with key.
func sign(t testing.TB, key *rsa.PrivateKey, header, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyAssertion(t *testing.T) {
	t.Parallel()
	key := serviceAccountKey(t)
	now := time.Unix(1_800_000_000, 0)
	h := jwtHeader{Alg: "RS256", Typ: "JWT", Kid: fuzzKid}
	good := jwtClaims{Iss: fuzzEmail, Scope: CloudPlatformScope, Aud: fuzzAud, Iat: now.Unix() - 10, Exp: now.Unix() + 3590}
	if _, err := verifyAssertion(sign(t, key, h, good), &key.PublicKey, fuzzKid, fuzzEmail, fuzzAud, now); err != nil {
		t.Fatalf("a good assertion: %v", err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*jwtClaims)) jwtClaims { c := good; f(&c); return c }
	for name, tc := range map[string]struct {
		jwt  string
		want string
	}{
		"other key":       {sign(t, other, h, good), "Invalid JWT Signature."},
		"other kid":       {sign(t, key, jwtHeader{Alg: "RS256", Kid: "kid-2"}, good), "Invalid JWT Signature."},
		"alg none":        {sign(t, key, jwtHeader{Alg: "none"}, good), "unsupported algorithm"},
		"other issuer":    {sign(t, key, h, mod(func(c *jwtClaims) { c.Iss = "x@y" })), "iss"},
		"other audience":  {sign(t, key, h, mod(func(c *jwtClaims) { c.Aud = "https://evil/token" })), "aud"},
		"expired":         {sign(t, key, h, mod(func(c *jwtClaims) { c.Iat, c.Exp = now.Unix()-7200, now.Unix()-3600 })), "short-lived"},
		"too long":        {sign(t, key, h, mod(func(c *jwtClaims) { c.Exp = c.Iat + 7200 })), "short-lived"},
		"from the future": {sign(t, key, h, mod(func(c *jwtClaims) { c.Iat, c.Exp = now.Unix()+3600, now.Unix()+5400 })), "short-lived"},
		"no scope":        {sign(t, key, h, mod(func(c *jwtClaims) { c.Scope = "" })), "Invalid OAuth scope"},
		"two parts":       {"a.b", "not a compact JWS"},
	} {
		_, err := verifyAssertion(tc.jwt, &key.PublicKey, fuzzKid, fuzzEmail, fuzzAud, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// FuzzVerifyAssertion: no input panics, and nothing but an assertion
// signed with the key passes.
func FuzzVerifyAssertion(f *testing.F) {
	key := serviceAccountKey(f)
	now := time.Unix(1_800_000_000, 0)
	good := sign(f, key, jwtHeader{Alg: "RS256", Typ: "JWT", Kid: fuzzKid},
		jwtClaims{Iss: fuzzEmail, Scope: CloudPlatformScope, Aud: fuzzAud, Iat: now.Unix(), Exp: now.Unix() + 3600})
	for _, s := range []string{good, "", ".", "..", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", strings.Repeat("A", 100) + ".." + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := verifyAssertion(s, &key.PublicKey, fuzzKid, fuzzEmail, fuzzAud, now)
		if err == nil {
			// The signature covers the header and claims as sent, so
			// only those of the signed seed can pass (its signature
			// segment may differ in base64 padding bits).
			if c.Iss != fuzzEmail || c.Aud != fuzzAud {
				t.Fatalf("accepted %q with claims %+v", s, c)
			}
			parts := strings.Split(s, ".")
			gp := strings.Split(good, ".")
			if parts[0] != gp[0] || parts[1] != gp[1] {
				t.Fatalf("accepted a header or claims that were not signed: %q", s)
			}
		}
	})
}

// FuzzParseName: the Server's name parser never panics, and what it
// accepts has the parts GCP accepts.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"projects/p/secrets/s/versions/latest", "projects/p/secrets/s/versions/1", "projects//secrets/s/versions/1", "projects/p/secrets/s", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, id, v, err := parseName(name)
		if err != nil {
			return
		}
		if p == "" || strings.Contains(p, "/") || !secretIDPattern.MatchString(id) || !versionPattern.MatchString(v) {
			t.Fatalf("parseName(%q) = %q, %q, %q", name, p, id, v)
		}
		if name != "projects/"+p+"/secrets/"+id+"/versions/"+v {
			t.Fatalf("parseName(%q) does not round-trip", name)
		}
	})
}
