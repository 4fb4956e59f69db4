package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  Format
		in      string
		path    []string
		key     string
		raw     string
		want    string // JSON output
		wantErr string
		errIs   error
	}{
		{
			name: "replaces in place, keeping key order",
			in:   `{"a":1,"src":{"type":"mysql","conn":{"old":true},"z":2}}`,
			path: []string{"src"}, key: "conn",
			raw:  `{"config":{"type":"Mysql","b":1,"a":2}}`,
			want: `{"a":1,"src":{"type":"mysql","conn":{"config":{"type":"Mysql","b":1,"a":2}},"z":2}}`,
		},
		{
			name: "adds an absent key at the end",
			in:   `{"src":{"type":"mysql"}}`,
			path: []string{"src"}, key: "conn",
			raw:  `[1,"x",null,true,1.5e3]`,
			want: `{"src":{"type":"mysql","conn":[1,"x",null,true,1.5e3]}}`,
		},
		{
			name: "root mapping",
			in:   `{"a":1}`,
			key:  "b", raw: `"s"`,
			want: `{"a":1,"b":"s"}`,
		},
		{
			name:   "into a yaml document",
			format: YAML,
			in:     "src:\n  type: mysql # comment\n",
			path:   []string{"src"}, key: "conn",
			raw:  `{"config":{"password":"secret:/p"}}`,
			want: `{"src":{"type":"mysql","conn":{"config":{"password":"secret:/p"}}}}`,
		},
		{
			name: "path to a scalar",
			in:   `{"src":"x"}`,
			path: []string{"src"}, key: "conn", raw: `{}`,
			wantErr: "src: not an object",
		},
		{
			name: "missing path",
			in:   `{"a":{}}`,
			path: []string{"a", "b"}, key: "c", raw: `{}`,
			wantErr: "a.b: not an object",
		},
		{
			name: "invalid JSON names a position, not the content",
			in:   `{"a":{}}`,
			path: []string{"a"}, key: "c", raw: `{"k": hunter2}`,
			wantErr: "line 1 column", errIs: ErrSyntax,
		},
		{
			name: "duplicate keys are rejected",
			in:   `{"a":{}}`,
			path: []string{"a"}, key: "c", raw: `{"k":1,"k":2}`,
			errIs: ErrSyntax,
		},
		{
			name: "trailing data is rejected",
			in:   `{"a":{}}`,
			path: []string{"a"}, key: "c", raw: `{} {}`,
			errIs: ErrSyntax,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.format
			if f == "" {
				f = JSON
			}
			doc, err := Parse([]byte(tt.in), f)
			require.NoError(t, err)
			before, err := doc.Marshal(JSON)
			require.NoError(t, err)

			err = doc.SetJSON(tt.path, tt.key, []byte(tt.raw))
			if tt.wantErr != "" || tt.errIs != nil {
				require.Error(t, err)
				if tt.wantErr != "" {
					assert.Contains(t, err.Error(), tt.wantErr)
				}
				if tt.errIs != nil {
					assert.True(t, errors.Is(err, tt.errIs), "%v", err)
				}
				assert.NotContains(t, err.Error(), "hunter2")
				after, merr := doc.Marshal(JSON)
				require.NoError(t, merr)
				assert.Equal(t, string(before), string(after), "a failed SetJSON changes nothing")
				return
			}
			require.NoError(t, err)
			out, err := doc.Marshal(JSON)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(out))
			// JSONEq ignores order; compare the compacted text for order.
			assert.Equal(t, tt.want, compact(t, out))
		})
	}
}

// TestSetJSONRefs checks that references inside the inserted value are found
// and substituted like any others.
func TestSetJSONRefs(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte(`{"source":{"type":"mysql"}}`), JSON)
	require.NoError(t, err)
	require.NoError(t, doc.SetJSON([]string{"source"}, "serviceConnection", []byte(`{"config":{"password":"secret:/db/pw"}}`)))
	got, err := refsOf(t, doc)
	require.NoError(t, err)
	assert.Equal(t, []found{{"source.serviceConnection.config.password", "secret:/db/pw"}}, got)
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}
