package resolver

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine makes s, a text from outside (a server's error message, a
// setting's value), one printable line of at most limit bytes for an error
// or a log line, the one sanitizer of every store: invalid UTF-8 becomes
// "?", every character that is not printable (line breaks, control and
// format characters, bidirectional overrides included) a space, runs of
// white space one space; a longer line is cut on a rune boundary and ends
// with "…".
func OneLine(s string, limit int) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || !unicode.IsPrint(r) {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	s = strings.TrimRight(b.String(), " ")
	if len(s) <= limit {
		return s
	}
	cut := max(limit, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
