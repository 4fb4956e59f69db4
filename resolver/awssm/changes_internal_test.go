package awssm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNamePrefixes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		names []string
		limit int
		want  []string
	}{
		{name: "one", names: []string{"/a/b"}, limit: 10, want: []string{"/a/b"}},
		{name: "common", names: []string{"/om/db/x", "/om/db/y", "/om/api"}, limit: 1, want: []string{"/om/"}},
		{name: "two subtrees", names: []string{"/team-b/db", "/team-a/db", "/team-b/api"}, limit: 2, want: []string{"/team-a/db", "/team-b/"}},
		{name: "nothing shared", names: []string{"a", "b"}, limit: 1, want: nil},
		{name: "cut where least is shared", names: []string{"x1", "x2", "y1"}, limit: 2, want: []string{"x", "y1"}},
		{name: "limit", names: []string{"a", "b", "c"}, limit: 2, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, namePrefixes(tc.names, tc.limit))
		})
	}
}

func TestFilterSafe(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "/a/b", filterSafe("/a/b"))
	assert.Equal(t, "/a", filterSafe("/a*b"))
	assert.Empty(t, filterSafe("!a"))
	assert.Len(t, filterSafe(strings.Repeat("a", 600)), maxFilterValueLen)
}

// FuzzNamePrefixes checks that the prefixes always cover every name and
// stay within the filter's limits.
func FuzzNamePrefixes(f *testing.F) {
	f.Add("/a/b\n/a/c\n/b", 2)
	f.Add("x", 1)
	f.Fuzz(func(t *testing.T, joined string, limit int) {
		if limit < 1 || limit > 20 || joined == "" {
			return
		}
		names := strings.Split(joined, "\n")
		got := namePrefixes(names, limit)
		if got == nil {
			return
		}
		if len(got) > limit {
			t.Fatalf("%d prefixes, limit %d", len(got), limit)
		}
		for _, n := range names {
			covered := false
			for _, p := range got {
				if p == "" || len(p) > maxFilterValueLen || filterSafe(p) != p {
					t.Fatalf("bad prefix %q", p)
				}
				covered = covered || strings.HasPrefix(n, p)
			}
			if !covered {
				t.Fatalf("%q not covered by %q", n, got)
			}
		}
	})
}

// FuzzParseToken checks that a version token gives back the name and
// VersionId it was made of, and that parseToken never vouches for a
// token it did not make.
func FuzzParseToken(f *testing.F) {
	f.Add("/om/db/x", "a1b2c3d4-0000-1111-2222-333344445555")
	f.Add("", "v")
	f.Add("a b", "v")
	f.Fuzz(func(t *testing.T, name, version string) {
		tok := versionToken(name, version)
		n, v, ok := parseToken(tok)
		switch {
		case name == "" || version == "":
			if tok != "" || ok {
				t.Fatalf("token %q of an empty part parsed as %v", tok, ok)
			}
		case !strings.Contains(name, " "):
			if !ok || n != name || v != version {
				t.Fatalf("token %q gave %q %q %v", tok, n, v, ok)
			}
		case ok && versionToken(n, v) != tok:
			t.Fatalf("token %q does not round-trip", tok)
		}
	})
}
