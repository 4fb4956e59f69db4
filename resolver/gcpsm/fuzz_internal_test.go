package gcpsm

import (
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"omsecrets/resolver"
)

// validName is what every parsed id must come out as: a global
// SecretVersion name with parts GCP accepts.
var validName = regexp.MustCompile(`^projects/([0-9]{1,19}|([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9])/secrets/[A-Za-z0-9_-]{1,255}/versions/(latest|[1-9][0-9]{0,18}|[A-Za-z][A-Za-z0-9_-]{0,254})$`)

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"openmetadata_database_mysql_prod_authtype_password",
		"a", "a-b_c", "",
		"/openmetadata/database/x/password",
		"projects/omsecrets-test/secrets/s",
		"projects/omsecrets-test/secrets/s/versions/latest",
		"projects/480125193210/secrets/s/versions/3",
		"projects/example.com:my-project/secrets/s/versions/stable",
		"projects/omsecrets-test/locations/eu/secrets/s",
		"projects/omsecrets-test/secrets/s/versions/NEW",
		"projects/omsecrets-test/secrets/s/versions/0",
		"projects//secrets//versions/",
		"a\x00b", "a\nb", "ä", "\xff", strings.Repeat("x", 256),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, err := parseID(id, "default-project")
		if err != nil {
			if !errors.Is(err, resolver.ErrBadRef) {
				t.Fatalf("parseID(%q): error of another class: %v", id, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("parseID(%q): message on several lines: %q", id, err)
			}
			return
		}
		name := n.String()
		if !strings.HasPrefix(id, "projects/") {
			if n.project != "default-project" || n.secret != id || n.version != latest {
				t.Fatalf("parseID(%q) = %+v, want the id in the default project at latest", id, n)
			}
			return
		}
		if !validName.MatchString(name) {
			t.Fatalf("parseID(%q) = %q, not a name GCP accepts", id, name)
		}
		again, err := parseID(name, "other-project")
		if err != nil || again != n {
			t.Fatalf("parseID(%q) = %+v, but its name %q parses as %+v, %v", id, n, name, again, err)
		}
		if name != id && name != id+"/versions/latest" {
			t.Fatalf("parseID(%q) = %q: a resource name is used as written", id, name)
		}
	})
}

func FuzzCheckHostPort(f *testing.F) {
	for _, s := range []string{
		"secretmanager.googleapis.com:443", "127.0.0.1:8080", "[::1]:443", "[::1]", "localhost",
		"", ":443", "host:", "host:0", "host:65536", "https://x", "[zz]:1", "[::1", "a b:1", "h\x00:1", "hōst",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := checkHostPort(s); err != nil {
			switch err.Error() {
			case "want host or host:port, without scheme or path", "empty host", "port is not a number from 1 to 65535":
			default:
				t.Fatalf("checkHostPort(%q): message %q quotes or adds something", s, err)
			}
			return
		}
		ep, err := parseEndpoint(s)
		if err != nil {
			t.Fatalf("parseEndpoint(%q) fails after checkHostPort accepted it: %v", s, err)
		}
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" {
			t.Fatalf("parseEndpoint(%q) = %q, not host:port: %v", s, ep, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("parseEndpoint(%q) = %q: bad port", s, ep)
		}
		if strings.ContainsFunc(ep, func(r rune) bool { return r <= ' ' || r > '~' || strings.ContainsRune("/?#@", r) }) {
			t.Fatalf("parseEndpoint(%q) = %q: characters a host does not hold", s, ep)
		}
	})
}

func FuzzOAuthCode(f *testing.F) {
	for _, s := range []string{`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, `{"error":"x y"}`, `<html>`, `{"error":1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code := oauthCode(body)
		if code != "" && strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" || len(code) > 64 {
			t.Fatalf("oauthCode(%q) = %q: more than an OAuth error code", body, code)
		}
	})
}

// TestCheckProject pins the project id rule.
func TestCheckProject(t *testing.T) {
	t.Parallel()
	for p, ok := range map[string]bool{
		"omsecrets-test": true, "abcdef": true, "a23456789012345678901234567890": true,
		"example.com:my-project": true, "480125193210": true,
		"abcde": false, "a234567890123456789012345678901": false, "Abcdef": false, "1abcdef": false,
		"abcdef-": false, "abc_def": false, ":abcdef": false, "0123": false, "": false,
		"example.com:ab": false, "exa mple:abcdef": false,
	} {
		if got := checkProject(p) == nil; got != ok {
			t.Errorf("checkProject(%q) ok = %v, want %v", p, got, ok)
		}
	}
}
