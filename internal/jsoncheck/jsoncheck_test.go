package jsoncheck_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"omsecrets/internal/jsoncheck"
)

func TestLoneSurrogate(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]int{
		`{"a":"plain"}`:              -1,
		`{"a":"\u00e9\ud83d\ude00"}`: -1, // é and a valid pair (😀)
		`{"a":"\\udc80"}`:            -1, // an escaped backslash, then text
		`{"a":"\udc80"}`:             6,
		`{"a":"x\ud83d"}`:            7,
		`{"a":"\ud83d\u0041"}`:       6,
		`{"\udc80":"key"}`:           2,
		`["ok","\uDBFF\uDFFF"]`:      -1,
		`["\uDBFF\uD800"]`:           2,
		`"\ud800`:                    1,
	} {
		assert.Equal(t, want, jsoncheck.LoneSurrogate([]byte(src)), src)
	}
}

// FuzzLoneSurrogate: for any valid JSON string, LoneSurrogate finds an
// escape exactly when encoding/json's decoding alters the text (turns a
// surrogate escape into U+FFFD that the input did not spell).
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{`"a"`, `"\udc80"`, `"\ud83d\ude00"`, `"\\u"`, `"\ud800\udc00x\udfff"`, `"\ufffd"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var s string
		// Without an escaped backslash, every "\\ufffd" in src is an
		// escape, so the oracle can count them.
		if !utf8.ValidString(src) || strings.Contains(src, `\\`) || json.Unmarshal([]byte(src), &s) != nil {
			return
		}
		got := jsoncheck.LoneSurrogate([]byte(src))
		spelled := strings.Count(src, "\ufffd") + strings.Count(strings.ToLower(src), `\ufffd`)
		altered := strings.Count(s, "\ufffd") > spelled
		if altered != (got >= 0) {
			t.Fatalf("LoneSurrogate(%q) = %d, decoded %q", src, got, s)
		}
	})
}
