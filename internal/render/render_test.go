package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

type found struct{ path, ref string }

func refsOf(t *testing.T, doc *Document) ([]found, error) {
	t.Helper()
	occ, err := doc.Refs()
	var out []found
	for _, o := range occ {
		out = append(out, found{o.Path, o.Ref.String()})
	}
	return out, err
}

func nested(depth int, leaf string) string {
	return strings.Repeat(`{"a":`, depth) + leaf + strings.Repeat("}", depth)
}

func TestRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  Format
		in      string
		want    []found
		wantErr []string // substrings, each must appear
		errIs   error
	}{
		{
			name:   "nested authType",
			format: YAML,
			in:     "source:\n  serviceConnection:\n    config:\n      authType:\n        password: secret:/openmetadata/database/mysql_prod/authtype/password\n",
			want:   []found{{"source.serviceConnection.config.authType.password", "secret:/openmetadata/database/mysql_prod/authtype/password"}},
		},
		{
			name:   "sslConfig and jwt in json",
			format: JSON,
			in:     `{"c":{"sslConfig":{"caCertificate":"secret:/ca","sslKey":"secret:/key"}},"workflowConfig":{"openMetadataServerConfig":{"securityConfig":{"jwtToken":"secret:/bot"}}}}`,
			want: []found{
				{"c.sslConfig.caCertificate", "secret:/ca"},
				{"c.sslConfig.sslKey", "secret:/key"},
				{"workflowConfig.openMetadataServerConfig.securityConfig.jwtToken", "secret:/bot"},
			},
		},
		{
			name:   "arrays",
			format: JSON,
			in:     `{"list":[{"password":"secret:/a"},"secret:/b",["secret:/c"]]}`,
			want:   []found{{"list[0].password", "secret:/a"}, {"list[1]", "secret:/b"}, {"list[2][0]", "secret:/c"}},
		},
		{
			name:   "secret: inside text is not a reference",
			format: YAML,
			in:     "a: 'my secret:/x'\nb: \"^audit-secret:.*\"\nc: ' secret:/leading-space'\nd: Secret:/case\n",
		},
		{
			name:   "non-string values are never references",
			format: YAML,
			in:     "n: 123\nb: true\nz: null\nf: 1.5\nk: !!binary c2VjcmV0Oi94\n",
		},
		{
			name:   "keys are not references",
			format: JSON,
			in:     `{"secret:/key":"plain"}`,
		},
		{
			name:   "quoted yaml reference",
			format: YAML,
			in:     "a: \"secret:/x\"\nb: 'secret:/y'\n",
			want:   []found{{"a", "secret:/x"}, {"b", "secret:/y"}},
		},
		{
			name:   "key suffix",
			format: JSON,
			in:     `{"p":"secret:/db/creds#password","u":"secret:/db/creds#username"}`,
			want:   []found{{"p", "secret:/db/creds#password"}, {"u", "secret:/db/creds#username"}},
		},
		{
			name:   "unicode and dotted keys",
			format: YAML,
			in:     "pässwörd: secret:/ü\nbasic.auth.user.info: secret:/r\n\"with space\": secret:/s\n",
			want:   []found{{`["pässwörd"]`, "secret:/ü"}, {`["basic.auth.user.info"]`, "secret:/r"}, {`["with space"]`, "secret:/s"}},
		},
		{
			name:   "anchor walked once, alias skipped",
			format: YAML,
			in:     "a: &pw secret:/x\nb: *pw\nc: &m {p: secret:/y}\nd: *m\n",
			want:   []found{{"a", "secret:/x"}, {"c.p", "secret:/y"}},
		},
		{
			name:    "malformed references name their field",
			format:  JSON,
			in:      `{"a":{"b":"secret:"},"c":"secret:/x#"}`,
			wantErr: []string{"a.b: bad reference: empty secret id", "c: bad reference: empty key"},
			errIs:   resolver.ErrBadRef,
		},
		{
			name:    "mask means the token was not a bot's",
			format:  YAML,
			in:      "source:\n  serviceConnection:\n    config:\n      password: '*********'\n",
			wantErr: []string{"source.serviceConnection.config.password", "not a bot's"},
			errIs:   resolver.ErrMasked,
		},
		{
			name:    "duplicate yaml key",
			format:  YAML,
			in:      "a: secret:/x\na: secret:/y\n",
			want:    []found{{"a", "secret:/x"}},
			wantErr: []string{"a: duplicate key"},
			errIs:   ErrDuplicateKey,
		},
		{
			name:   "depth at the bound is fine",
			format: JSON,
			in:     nested(MaxDepth, `"secret:/deep"`),
			want:   []found{{strings.TrimPrefix(strings.Repeat(".a", MaxDepth), "."), "secret:/deep"}},
		},
		{
			name:    "depth beyond the bound",
			format:  JSON,
			in:      nested(MaxDepth+1, `"secret:/deep"`),
			wantErr: []string{"nested too deeply"},
			errIs:   ErrTooDeep,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tt.in), tt.format)
			require.NoError(t, err)
			got, err := refsOf(t, doc)
			assert.Equal(t, tt.want, got)
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}
			assert.ErrorIs(t, err, tt.errIs)
			var fe *FieldError
			assert.True(t, errors.As(err, &fe), "errors are *FieldError")
		})
	}
}

// apply resolves every reference in doc to the values in vals (by id).
func apply(t *testing.T, doc *Document, vals map[string]resolver.Secret) {
	t.Helper()
	occ, err := doc.Refs()
	require.NoError(t, err)
	m := make(map[resolver.Ref]resolver.Secret)
	for _, o := range occ {
		v, ok := vals[o.Ref.ID]
		require.True(t, ok, "no test value for %s", o.Ref)
		m[o.Ref] = v
	}
	require.NoError(t, doc.Apply(occ, m))
}

func TestJSONRoundTripPreservesOrderAndLiterals(t *testing.T) {
	t.Parallel()
	in := `{"z":1,"a":{"big":100000000000000000000001,"f":1.50,"e":1e5,"neg":-0.0,"t":true,"n":null},` +
		`"html":"<a&b>","uni":"héllo ✓","empty":{},"arr":[],"p":"secret:/x","q":"secret:/n"}`
	doc, err := Parse([]byte(in), JSON)
	require.NoError(t, err)
	apply(t, doc, map[string]resolver.Secret{"/x": resolver.NewSecret("v\"al\\ue\n<>"), "/n": resolver.NullSecret()})
	out, err := doc.Marshal(JSON)
	require.NoError(t, err)
	want := `{
  "z": 1,
  "a": {
    "big": 100000000000000000000001,
    "f": 1.50,
    "e": 1e5,
    "neg": -0.0,
    "t": true,
    "n": null
  },
  "html": "<a&b>",
  "uni": "héllo ✓",
  "empty": {},
  "arr": [],
  "p": "v\"al\\ue\n<>",
  "q": null
}
`
	assert.Equal(t, want, string(out))
	assert.True(t, json.Valid(out))
}

func TestYAMLOutputQuotesSubstitutedValues(t *testing.T) {
	t.Parallel()
	// PyYAML reads YAML 1.1, where these plain scalars are not strings.
	values := []string{"yes", "on", "off", "0777", "1:20", "true", "null", "~", "123", "", "a: b", "- x", "#x", "multi\nline\n"}
	var in strings.Builder
	in.WriteString("# keep this comment\nroot:\n")
	vals := make(map[string]resolver.Secret)
	for i, v := range values {
		fmt.Fprintf(&in, "  k%d: secret:/v%d # trailing\n", i, i)
		vals[fmt.Sprintf("/v%d", i)] = resolver.NewSecret(v)
	}
	doc, err := Parse([]byte(in.String()), YAML)
	require.NoError(t, err)
	apply(t, doc, vals)
	out, err := doc.Marshal(YAML)
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, "# keep this comment")
	assert.Contains(t, s, "# trailing")
	for i := range values {
		assert.Contains(t, s, fmt.Sprintf("k%d: \"", i), "value %d must be double-quoted", i)
	}
	// Read it back the way a YAML 1.2 reader does: every value a string.
	back, err := Parse(out, YAML)
	require.NoError(t, err)
	for i, v := range values {
		got, ok := back.Lookup("root", fmt.Sprintf("k%d", i))
		assert.True(t, ok)
		assert.Equal(t, v, got)
	}
}

func TestYAMLToJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		errIs          error
	}{
		{name: "yaml numbers", in: "a: 0x1F\nb: 0o17\nc: +1.5\nd: 7\n", want: "{\n  \"a\": 31,\n  \"b\": 15,\n  \"c\": 1.5,\n  \"d\": 7\n}\n"},
		{name: "aliases expand", in: "a: &x {k: v}\nb: *x\n", want: "{\n  \"a\": {\n    \"k\": \"v\"\n  },\n  \"b\": {\n    \"k\": \"v\"\n  }\n}\n"},
		{name: "timestamps stay text", in: "d: 2026-11-28\n", want: "{\n  \"d\": \"2026-11-28\"\n}\n"},
		{name: "bools", in: "a: True\nb: false\n", want: "{\n  \"a\": true,\n  \"b\": false\n}\n"},
		{name: "merge key refused", in: "base: &b {x: 1}\nc:\n  <<: *b\n", errIs: ErrNotJSON},
		{name: "infinity refused", in: "a: .inf\n", errIs: ErrNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tt.in), YAML)
			require.NoError(t, err)
			out, err := doc.Marshal(JSON)
			if tt.errIs != nil {
				assert.ErrorIs(t, err, tt.errIs)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(out))
		})
	}
}

func TestAliasBombBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	doc, err := Parse([]byte(b.String()), YAML)
	require.NoError(t, err)
	_, err = doc.Marshal(JSON)
	assert.ErrorIs(t, err, ErrNotJSON)
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const planted = "hunter2-planted"
	tests := []struct {
		name, in string
		format   Format
		want     string
	}{
		{"invalid json", `{"password": "` + planted + `" x}`, JSON, "line 1 column"},
		{"trailing data", `{"a":1} {"b":2}`, JSON, "after the top-level value"},
		{"duplicate json key", `{"a":1,"a":2}`, JSON, `duplicate key "a"`},
		{"unterminated", `{"password": "` + planted, JSON, "unexpected end"},
		{"two yaml documents", "a: 1\n---\nb: 2\n", YAML, "more than one YAML document"},
		{"empty", "", YAML, "empty document"},
		{"bad yaml", "a: [" + planted + "\n", YAML, "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in), tt.format)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrSyntax)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), planted)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte("  \n{\"a\": \"secret:/x\"}"), "")
	require.NoError(t, err)
	assert.Equal(t, JSON, doc.Format())
	doc, err = Parse([]byte("a: secret:/x\n"), "")
	require.NoError(t, err)
	assert.Equal(t, YAML, doc.Format())
}

func TestApplyMissingValueChangesNothing(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte(`{"a":"secret:/x","b":"secret:/y"}`), JSON)
	require.NoError(t, err)
	occ, err := doc.Refs()
	require.NoError(t, err)
	err = doc.Apply(occ, map[resolver.Ref]resolver.Secret{{ID: "/x"}: resolver.NewSecret("v")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "b: secret:/y")
	out, err := doc.Marshal(JSON)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"secret:/x"`, "nothing substituted after a failed Apply")
}

func TestSetString(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte("w:\n  s:\n    secretsManagerProvider: aws\n    hostPort: h\n"), YAML)
	require.NoError(t, err)
	assert.True(t, doc.SetString([]string{"w", "s"}, "secretsManagerProvider", "db"))
	v, _ := doc.Lookup("w", "s", "secretsManagerProvider")
	assert.Equal(t, "db", v)
	assert.True(t, doc.SetString([]string{"w", "s"}, "added", "x"))
	assert.False(t, doc.SetString([]string{"w", "missing"}, "k", "x"))
	out, err := doc.Marshal(YAML)
	require.NoError(t, err)
	assert.Equal(t, "w:\n  s:\n    secretsManagerProvider: db\n    hostPort: h\n    added: x\n", string(out))
}
