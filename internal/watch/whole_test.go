package watch

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompleteJSONObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want bool
	}{
		{name: "empty object", data: `{}`, want: true},
		{name: "object", data: `{"source":{"type":"mysql"},"v":[1,2,{"x":null}]}`, want: true},
		{name: "whitespace around", data: " \t\r\n{\"a\":1}\n\n", want: true},
		{name: "empty", data: ``},
		{name: "whitespace only", data: " \n"},
		{name: "truncated", data: `{"a":1`},
		{name: "truncated in a string", data: `{"a":"}`},
		{name: "truncated nested", data: `{"a":{"b":1}`},
		{name: "trailing comma", data: `{"a":1,}`},
		{name: "trailing data", data: `{"a":1} x`},
		{name: "two objects", data: `{"a":1}{"b":2}`},
		{name: "array", data: `[{"a":1}]`},
		{name: "number", data: `123`},
		{name: "string", data: `"{}"`},
		{name: "null", data: `null`},
		{name: "byte order mark", data: "\ufeff{}"},
		{name: "form feed is not JSON whitespace", data: "\f{}"},
		{name: "yaml flow mapping", data: `{a: 1}`},
		{name: "nul after", data: "{}\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, completeJSONObject([]byte(tt.data)))
		})
	}
}

func TestJSONName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"a.json": true, "A.JSON": true, "a.Json": true,
		"a.yaml": false, "a.yml": false, "a.json.tmp": false, "json": false, "a.jsonl": false,
	} {
		assert.Equal(t, want, jsonName(name), name)
	}
}

// FuzzCompleteJSONObject: the check is json.Valid of an object, and it
// never accepts a strict prefix of what it accepts, except one that lacks
// only trailing whitespace (the same document): so a writer caught midway
// is never taken for done.
func FuzzCompleteJSONObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, "{\"a\":[1,{\"b\":\"}\"}]}\n", `{"a":"\u00e9"}`, ` {"a":{}} `, `[1]`, `12`, `{"a":1}{}`, "\ufeff{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return // the prefix walk is quadratic
		}
		got := completeJSONObject(data)
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(data, &obj) == nil && obj != nil
		if got != isObject {
			t.Fatalf("completeJSONObject(%q) = %v; encoding/json decodes it as an object: %v", data, got, isObject)
		}
		if !got {
			return
		}
		for i := range len(data) {
			if completeJSONObject(data[:i]) && len(bytes.Trim(data[i:], " \t\r\n")) > 0 {
				t.Fatalf("completeJSONObject accepts %q, a strict prefix of %q", data[:i], data)
			}
		}
	})
}
