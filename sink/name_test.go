package sink

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		ext  string
		want string
	}{
		// The first four are OpenMetadata's own clean_dag_id test cases.
		{name: "plain", raw: "hello", ext: ".json", want: "hello.json"},
		{name: "parentheses", raw: "hello(world)", ext: ".json", want: "hello_world_.json"},
		{name: "hyphen kept", raw: "hello-world", ext: ".json", want: "hello-world.json"},
		{name: "leading run collapses", raw: "%%&^++hello__", ext: ".json", want: "_hello__.json"},
		{name: "unicode and dot", raw: "café.prod", ext: ".json", want: "caf_prod.json"},
		{name: "dots", raw: "sample_data.mysql.metadata", ext: ".json", want: "sample_data_mysql_metadata.json"},
		{name: "parent traversal", raw: "../../etc", ext: ".json", want: "_etc.json"},
		{name: "slash", raw: "a/b", ext: ".json", want: "a_b.json"},
		{name: "backslash", raw: `a\b`, ext: ".json", want: "a_b.json"},
		{name: "absolute path", raw: "/etc/passwd", ext: ".json", want: "_etc_passwd.json"},
		{name: "whitespace", raw: "a b\tc\n", ext: ".json", want: "a_b_c_.json"},
		{name: "only dot", raw: ".", ext: ".json", want: "_.json"},
		{name: "hidden", raw: ".hidden", ext: ".json", want: "_hidden.json"},
		{name: "non-latin", raw: "日本語", ext: ".json", want: "_.json"},
		{name: "invalid utf-8", raw: "a\xff\xfeb", ext: ".json", want: "a_b.json"},
		{name: "nul", raw: "x\x00y", ext: ".json", want: "x_y.json"},
		{name: "empty", raw: "", ext: ".json", want: "_.json"},
		{name: "empty ext", raw: "x.yaml", ext: "", want: "x_yaml"},
		{name: "empty both", raw: "", ext: "", want: "_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Name(tt.raw, tt.ext))
		})
	}
}

var nameRE = regexp.MustCompile(`^[0-9A-Za-z_-]+\.json$`)

func FuzzName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "../../etc", "hello(world)", "café.prod", "a\x00b", "\xff", "-_-", "x/y\\z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := Name(raw, ".json")
		assert.Regexp(t, nameRE, got)
		assert.NotContains(t, got, "/")
		assert.False(t, strings.HasPrefix(got, "."), "name %q starts with a dot", got)
		// The rule is idempotent: a sanitized base maps to itself.
		assert.Equal(t, got, Name(strings.TrimSuffix(got, ".json"), ".json"))
		// Whatever Name produces, Write accepts (unless it is too long).
		if len(got) <= maxNameLen {
			assert.NoError(t, checkName(got))
		}
	})
}
