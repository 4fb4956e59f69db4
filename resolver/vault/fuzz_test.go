package vault_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"omsecrets/resolver"
	"omsecrets/resolver/vault"
)

// FuzzKVPath checks the id → path mapping: either a bad reference, or
// the id without one leading "/", with no empty, "." or ".." segment and
// nothing a URL or Vault's router could read otherwise.
func FuzzKVPath(f *testing.F) {
	for _, s := range []string{
		"/openmetadata/database/mysql_prod/authtype/password", "a", "/", "//", "/a/../b", "/a/./b",
		"a//b", "/a/", "..", "/a\x00", "/a?b", "/a#b", "/a%2e", `\a`, "/ünï/cødé", "/a b", "\xff", "/\u202e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := vault.KVPath(id)
		if err != nil {
			if !errors.Is(err, resolver.ErrBadRef) {
				t.Fatalf("KVPath(%q): %v is not a bad reference", id, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("KVPath(%q): the message is not one line", id)
			}
			return
		}
		if p != strings.TrimPrefix(id, "/") || p == "" || len(id) > vault.MaxIDLen || !utf8.ValidString(p) {
			t.Fatalf("KVPath(%q) = %q", id, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("KVPath(%q) = %q has segment %q", id, p, seg)
			}
		}
		if strings.ContainsAny(p, `?#%\`) || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("KVPath(%q) = %q has a refused character", id, p)
		}
	})
}

// FuzzFieldsJSON checks the KV data → JSON object mapping: for any JSON
// object of fields, a JSON object of strings and nulls with the same keys.
func FuzzFieldsJSON(f *testing.F) {
	for _, s := range []string{
		`{"value":"x"}`, `{"value":"null"}`, `{"a":1,"b":true,"c":null,"d":{"e":[1,"2"]}}`, `{}`, `null`, ``,
		`{"value":"\u003c\u0000"}`, `{"a":1e400}`, `[1]`, `"s"`, `{"a":"x","a":"y"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		out, err := vault.FieldsJSON(json.RawMessage(data))
		var in map[string]json.RawMessage
		inErr := json.Unmarshal([]byte(data), &in)
		if err != nil {
			if inErr == nil && strings.TrimSpace(data) != "" && strings.TrimSpace(data) != "null" {
				t.Fatalf("FieldsJSON(%q) failed on an object: %v", data, err)
			}
			return
		}
		var got map[string]*string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("FieldsJSON(%q) = %q is not an object of strings: %v", data, out, err)
		}
		if inErr == nil && len(got) != len(in) {
			t.Fatalf("FieldsJSON(%q) = %q: %d keys, want %d", data, out, len(got), len(in))
		}
		for k, v := range got {
			var s string
			if v != nil && json.Unmarshal(in[k], &s) == nil && s != *v {
				t.Fatalf("FieldsJSON(%q): field %q = %q, want %q", data, k, *v, s)
			}
		}
	})
}
