package awstest

import (
	"strings"
	"testing"
)

func TestListToken(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "/app/prod/db", "name with spaces", "ünï/cödé"} {
		for _, kind := range []string{tokenListSecrets, tokenDescribeParameters} {
			got, ok := parseListToken(kind, listToken(kind, name))
			if !ok || got != name {
				t.Errorf("parseListToken(%s, listToken(%q)) = %q, %v", kind, name, got, ok)
			}
		}
		if _, ok := parseListToken(tokenDescribeParameters, listToken(tokenListSecrets, name)); ok {
			t.Errorf("a ListSecrets token for %q parsed as a DescribeParameters one", name)
		}
	}
	for _, tok := range []string{"", "bogus", tokenPrefix, tokenPrefix + "ls:", tokenPrefix + "ls:!!", tokenPrefix + "xx:YQ", "awstest-page-3"} {
		if got, ok := parseListToken(tokenListSecrets, tok); ok {
			t.Errorf("parseListToken(%q) = %q, want refused", tok, got)
		}
	}
}

// FuzzListToken checks that any NextToken a client sends is refused or
// parsed without panicking, that a parsed one names a non-empty name, and
// that every name survives the round trip.
func FuzzListToken(f *testing.F) {
	f.Add(listToken(tokenListSecrets, "/a/b"))
	f.Add(listToken(tokenDescribeParameters, "x"))
	f.Add("awstest:ls:")
	f.Add("awstest:dp:=")
	f.Add("bogus")
	f.Fuzz(func(t *testing.T, tok string) {
		for _, kind := range []string{tokenListSecrets, tokenDescribeParameters} {
			name, ok := parseListToken(kind, tok)
			if !ok {
				continue
			}
			if name == "" {
				t.Fatalf("parseListToken(%q) accepted an empty name", tok)
			}
			if !strings.HasPrefix(tok, tokenPrefix+kind+":") {
				t.Fatalf("parseListToken(%s, %q) accepted another kind", kind, tok)
			}
		}
		if tok == "" {
			return
		}
		back, ok := parseListToken(tokenListSecrets, listToken(tokenListSecrets, tok))
		if !ok || back != tok {
			t.Fatalf("round trip of %q gave %q, %v", tok, back, ok)
		}
	})
}
