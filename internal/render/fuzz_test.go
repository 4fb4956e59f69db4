package render

import (
	"encoding/json"
	"fmt"
	"testing"

	"omsecrets/resolver"
)

// FuzzRender drives the whole render path: parse, walk, substitute, and
// marshal both ways. Whatever the input, nothing panics, every reference
// is replaced, and JSON output is valid JSON.
func FuzzRender(f *testing.F) {
	f.Add([]byte(`{"a":{"b":["secret:/x","secret:/y#k"]},"n":1.5e3}`))
	f.Add([]byte("a: &x secret:/z\nb: *x\nc: [1, 'secret:/q', {d: null}]\n"))
	f.Add([]byte("k: '*********'\n"))
	f.Add([]byte("a: !!binary aGk=\nb: 2001-12-14\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, "")
		if err != nil {
			return
		}
		occ, _ := doc.Refs()
		vals := make(map[resolver.Ref]resolver.Secret, len(occ))
		for i, o := range occ {
			if i%3 == 2 {
				vals[o.Ref] = resolver.NullSecret()
			} else {
				vals[o.Ref] = resolver.NewSecret(fmt.Sprintf("value-%d", i))
			}
		}
		if err := doc.Apply(occ, vals); err != nil {
			t.Fatalf("apply with every value present: %v", err)
		}
		if again, _ := doc.Refs(); len(again) != 0 {
			t.Fatalf("%d references left after apply", len(again))
		}
		if out, err := doc.Marshal(JSON); err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON output: %q", out)
		}
		if _, err := doc.Marshal(YAML); err != nil {
			t.Fatalf("yaml marshal: %v", err)
		}
	})
}
