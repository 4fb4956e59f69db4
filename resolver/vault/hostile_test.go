package vault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// TestHostileIDs is the hostile-input table of ids: each is refused as a
// bad reference before any call, with a one-line message naming the id;
// ids that are odd but valid paths reach Vault (and are not found).
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, _ = f.store.Get(t.Context(), "/warm-up") // token lookup, version detection
	cases := []struct {
		name, id, want string
	}{
		{"empty", "", "empty secret id"},
		{"only a slash", "/", "names no path"},
		{"double slash", "//", "empty path segment"},
		{"leading double slash", "//a", "empty path segment"},
		{"trailing slash", "/a/", "empty path segment"},
		{"inner double slash", "/a//b", "empty path segment"},
		{"dot dot", "/a/../b", `".." path segment`},
		{"only dot dot", "..", `".." path segment`},
		{"dot", "/a/./b", `"." path segment`},
		{"escape the mount", "/../../sys/mounts", `".." path segment`},
		{"huge", "/" + strings.Repeat("a", 5000), "longer than 2048 bytes"},
		{"NUL", "/a\x00b", "control or unprintable character U+0000"},
		{"newline", "/a\nb", "U+000A"},
		{"carriage return", "/a\rb", "U+000D"},
		{"tab", "/a\tb", "U+0009"},
		{"DEL", "/a\x7fb", "U+007F"},
		{"escape sequence", "/a\x1b[31mb", "U+001B"},
		{"bidi override", "/a\u202eb", "U+202E"},
		{"zero width space", "/a\u200bb", "U+200B"},
		{"line separator", "/a\u2028b", "U+2028"},
		{"no-break space", "/a\u00a0b", "U+00A0"},
		{"invalid UTF-8", "/a\xffb", "not valid UTF-8"},
		{"query", "/a?version=1", `has '?'`},
		{"fragment", "/a#b", `has '#'`},
		{"percent", "/a%2e%2e/b", `has '%'`},
		{"backslash", `/a\..\b`, `has '\\'`},
	}
	calls := f.srv.TotalCalls()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.store.Get(t.Context(), c.id)
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			assert.Equal(t, "bad_ref", resolver.Class(err))
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("secret %q", c.id))
			assert.Contains(t, msg, c.want)
			assert.NotContains(t, msg, "\n")
			assert.NotContains(t, msg, "\r")
			assert.NotContains(t, msg, "\x1b")
		})
	}
	assert.Equal(t, calls, f.srv.TotalCalls(), "bad ids are refused without a call")

	for name, id := range map[string]string{
		"unicode":       "/données/mot-de-passe/ключ",
		"spaces":        "/a b/ c ",
		"dots in names": "/a.b/..c/d..",
		"max length":    "/" + strings.Repeat("a", 2047),
		"quotes":        `/a"b'c`,
	} {
		t.Run("valid "+name, func(t *testing.T) {
			_, err := f.store.Get(t.Context(), id)
			require.ErrorIs(t, err, resolver.ErrNotFound, "a valid path, not in Vault")
			assert.Contains(t, err.Error(), fmt.Sprintf("secret %q", id))
		})
	}
	f.srv.Put("données/a b/x", map[string]any{"value": "ok"})
	assert.JSONEq(t, `{"value":"ok"}`, get(t, f.store, "/données/a b/x"))
}
