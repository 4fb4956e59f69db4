package render_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/render"
)

// TestParseRefusesWhatDecodersAlter: input that a decoder would change
// silently (invalid UTF-8, a lone surrogate escape, a YAML key JSON cannot
// hold) is a syntax error with a position, never an altered document.
func TestParseRefusesWhatDecodersAlter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src string
		format    render.Format
		want      string
	}{
		{"JSON invalid UTF-8", "{\"a\": \"x\xff\"}", render.JSON, "line 1 column 9: not valid UTF-8"},
		{"YAML invalid UTF-8", "a: b\nc: \xc3\x28\n", render.YAML, "line 2 column 4: not valid UTF-8"},
		{"JSON lone low surrogate", `{"a": "\udc80"}`, render.JSON, "line 1 column 8: a \\u escape of half a UTF-16 surrogate pair"},
		{"JSON lone high surrogate in a key", `{"\ud800": "x"}`, render.JSON, "line 1 column 3"},
		{"YAML sequence key", "? [a]\n: x\n", render.YAML, "line 1 column 3: a mapping key that is a sequence or mapping"},
		{"YAML mapping key nested", "source:\n  ? {a: b}\n  : x\n", render.YAML, "line 2 column 5: a mapping key"},
		{"YAML two complex keys", "? [a]\n: x\n? [b]\n: y\n", render.YAML, "mapping key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := render.Parse([]byte(tt.src), tt.format)
			require.ErrorIs(t, err, render.ErrSyntax)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	for _, ok := range []string{`{"a": "\ud83d\ude00 \u00e9"}`, "a: \"é 😀\"\n"} {
		_, err := render.Parse([]byte(ok), "")
		assert.NoError(t, err, ok)
	}
}
