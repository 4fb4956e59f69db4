package azuretest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseSecretPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, name, version string
		ok                  bool
	}{
		{"/secrets/db", "db", "", true},
		{"/secrets/db/", "db", "", true},
		{"/secrets/db/0123456789abcdef0123456789abcdef", "db", "0123456789abcdef0123456789abcdef", true},
		{"/secrets/db/v/", "db", "v", true},
		{"/secrets/a%2Fb", "a/b", "", true},
		{"/secrets/", "", "", false},
		{"/secrets//v", "", "", false},
		{"/secrets/a/b/c", "", "", false},
		{"/secrets/%zz", "", "", false},
		{"/keys/db", "", "", false},
		{"/secretsdb", "", "", false},
	} {
		name, version, ok := parseSecretPath(tc.path)
		assert.Equal(t, tc.ok, ok, tc.path)
		assert.Equal(t, tc.name, name, tc.path)
		assert.Equal(t, tc.version, version, tc.path)
	}
}

// FuzzParseSecretPath checks that the path parser never panics, and that
// a path it accepts round-trips: escaping the name and version again
// gives a path that parses to the same.
func FuzzParseSecretPath(f *testing.F) {
	for _, seed := range []string{"/secrets/db", "/secrets/db/", "/secrets/db/v", "/secrets/a%2Fb/", "/secrets/%zz", "/secrets//", "/x", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		name, version, ok := parseSecretPath(path)
		if !ok {
			return
		}
		if name == "" {
			t.Fatalf("accepted %q with an empty name", path)
		}
		again := "/secrets/" + url.PathEscape(name)
		if version != "" {
			again += "/" + url.PathEscape(version)
		}
		n2, v2, ok2 := parseSecretPath(again)
		if !ok2 || n2 != name || v2 != version {
			t.Fatalf("%q -> (%q, %q) but %q -> (%q, %q, %v)", path, name, version, again, n2, v2, ok2)
		}
		if checkName(name) == "" && strings.ContainsAny(name, "/%") {
			t.Fatalf("checkName accepted %q", name)
		}
	})
}
