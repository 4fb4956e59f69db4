package omclient

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzDecodeService: any body either decodes to a service with an id, a
// name and a nil or object connection, or fails with an error that quotes
// none of the body.
func FuzzDecodeService(f *testing.F) {
	f.Add([]byte(`{"id":"891b373d-a253-4639-ad54-fc17491a7d5d","name":"mysql","serviceType":"Mysql","connection":{"config":{"password":"secret:/x"}}}`))
	f.Add([]byte(`{"id":"i","name":"a.b","connection":null,"deleted":true}`))
	f.Add([]byte(`{"id":"i","name":"n","connection":"zzzz"}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"id":"i","name":"n","connection": {"config":{}} }`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"i","name":"n","password":zzzzzz}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		svc, err := decodeService("databaseService", body)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || len(msg) > 100 {
				t.Fatalf("error is not a short line: %q", msg)
			}
			// Only fixed text and numbers: nothing copied from the body
			// beyond a JSON type name or a field name.
			if bytes.Contains(body, []byte("zzzz")) && strings.Contains(msg, "zzzz") {
				t.Fatalf("error quotes the body: %q", msg)
			}
			return
		}
		if svc.ID == "" || svc.Name == "" || svc.FQN == "" {
			t.Fatalf("decoded service lacks identity: %q %q %q", svc.ID, svc.Name, svc.FQN)
		}
		if svc.Connection != nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(svc.Connection, &m); err != nil {
				t.Fatalf("connection is not an object: %v", err)
			}
		}
		if !bytes.Equal(svc.Raw, body) {
			t.Fatal("Raw is not the body")
		}
	})
}

// FuzzErrorMessage: whatever the error body, the message is one line of
// valid UTF-8, at most maxMessage bytes; and a token-like string (base64url
// characters only) in a message is gone from it. The last property is only
// checked when the message has no character cleanMessage drops, since
// dropping one could join two fragments into the token.
func FuzzErrorMessage(f *testing.F) {
	f.Add([]byte(`{"code":404,"message":"databaseService instance for x not found"}`), "tokentoken")
	f.Add([]byte(`{"responseMessage":"Not Authorized! tokentoken"}`), "tokentoken")
	f.Add([]byte(`{"message":"a\nb eyJx.eyJy.z Bearer q"}`), "")
	f.Add([]byte(`{"message":"`+strings.Repeat("ü", 200)+`"}`), "abcdefgh")
	f.Add([]byte(`<html>`), "x")
	tokenLike := regexp.MustCompile(`^[A-Za-z0-9_-]{8,}$`)
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		m := errorMessage(body, token)
		if len(m) > maxMessage {
			t.Fatalf("message is %d bytes", len(m))
		}
		if strings.ContainsAny(m, "\r\n") || !utf8.ValidString(m) {
			t.Fatalf("message is not one valid line: %q", m)
		}
		var eb errorBody
		if json.Unmarshal(body, &eb) != nil || !tokenLike.MatchString(token) {
			return
		}
		for _, raw := range []string{eb.Message, eb.ResponseMessage} {
			if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool {
				return !unicode.IsSpace(r) && !unicode.IsGraphic(r) || r == utf8.RuneError
			}) {
				return
			}
		}
		if strings.Contains(m, token) {
			t.Fatalf("token %q left in %q", token, m)
		}
	})
}

// FuzzRetryAfter: never negative; a number of seconds is read exactly.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Add("120")
	f.Add("Thu, 02 Jan 2025 03:05:05 GMT")
	f.Add("-5")
	f.Add("18446744073709551616")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, now)
		if d < 0 {
			t.Fatalf("negative delay %s for %q", d, v)
		}
		if !ok && d != 0 {
			t.Fatalf("delay %s for malformed %q", d, v)
		}
		lo, hi := 10*time.Millisecond, time.Second
		if b := backoff(lo, hi, 3, nil); b < 0 || b > hi {
			t.Fatalf("backoff %s out of range", b)
		}
	})
}

// FuzzEscapeSegment: an escaped name is one path segment that unescapes to
// the name, and quoting is idempotent.
func FuzzEscapeSegment(f *testing.F) {
	f.Add("my.svc")
	f.Add(`"a.b"`)
	f.Add("a/b?c#d%e")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeSegment(s)
		if strings.ContainsAny(e, "/?#") || e == "." || e == ".." {
			t.Fatalf("escaped %q is not one segment: %q", s, e)
		}
		back, err := url.PathUnescape(e)
		if err != nil || back != s {
			t.Fatalf("escape(%q) = %q unescapes to %q, %v", s, e, back, err)
		}
		if q := quoteName(s); quoteName(q) != q {
			t.Fatalf("quoteName not idempotent on %q: %q then %q", s, q, quoteName(q))
		}
	})
}
