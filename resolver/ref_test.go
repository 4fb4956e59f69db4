package resolver_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		want    resolver.Ref
		wantErr string // substring of the error; "" for success
	}{
		{name: "om path", in: "secret:/openmetadata/database/mysql_prod/authtype/password", want: resolver.Ref{ID: "/openmetadata/database/mysql_prod/authtype/password"}},
		{name: "azure style", in: "secret:openmetadata-database-mysql-prod-password", want: resolver.Ref{ID: "openmetadata-database-mysql-prod-password"}},
		{name: "gcp style", in: "secret:openmetadata_database_mysql_prod_password", want: resolver.Ref{ID: "openmetadata_database_mysql_prod_password"}},
		{name: "k8s style", in: "secret:om-db.credentials", want: resolver.Ref{ID: "om-db.credentials"}},
		{name: "aws arn", in: "secret:arn:aws:secretsmanager:eu-west-1:123456789012:secret:om/db-AbCdEf", want: resolver.Ref{ID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:om/db-AbCdEf"}},
		{name: "key", in: "secret:/x#password", want: resolver.Ref{ID: "/x", Key: "password"}},
		{name: "key with hash", in: "secret:/x#a#b", want: resolver.Ref{ID: "/x", Key: "a#b"}},
		{name: "key with spaces", in: "secret:/x#user name", want: resolver.Ref{ID: "/x", Key: "user name"}},
		{name: "unicode id", in: "secret:/données/mot-de-passe", want: resolver.Ref{ID: "/données/mot-de-passe"}},
		{name: "unicode id and key", in: "secret:/日本/秘密#パスワード", want: resolver.Ref{ID: "/日本/秘密", Key: "パスワード"}},
		{name: "emoji", in: "secret:🔑", want: resolver.Ref{ID: "🔑"}},
		{name: "single char", in: "secret:x", want: resolver.Ref{ID: "x"}},
		{name: "id with spaces", in: "secret:my secret", want: resolver.Ref{ID: "my secret"}},
		{name: "trailing space is part of the id", in: "secret:/x ", want: resolver.Ref{ID: "/x "}},
		{name: "null id", in: "secret:null", want: resolver.Ref{ID: "null"}},

		{name: "empty id", in: "secret:", wantErr: "empty secret id"},
		{name: "empty id with key", in: "secret:#k", wantErr: "empty secret id"},
		{name: "empty key", in: "secret:/x#", wantErr: "empty key"},
		{name: "newline in id", in: "secret:/x\ny", wantErr: "unprintable character"},
		{name: "trailing newline", in: "secret:/x\n", wantErr: "unprintable character"},
		{name: "tab", in: "secret:/x\ty", wantErr: "unprintable character"},
		{name: "NUL", in: "secret:/x\x00", wantErr: "unprintable character"},
		{name: "escape", in: "secret:/x\x1b[31m", wantErr: "unprintable character"},
		{name: "DEL", in: "secret:/x\x7f", wantErr: "unprintable character"},
		{name: "C1 control", in: "secret:/x\u0085y", wantErr: "unprintable character"},
		{name: "line separator", in: "secret:/x\u2028y", wantErr: "unprintable character"},
		{name: "bidi override", in: "secret:/x\u202eyx", wantErr: "unprintable character"},
		{name: "control char in key", in: "secret:/x#pass\nword", wantErr: "unprintable character"},
		{name: "capitalised prefix", in: "Secret:/x", wantErr: "missing"},
		{name: "upper-case prefix", in: "SECRET:/x", wantErr: "missing"},
		{name: "leading space is text", in: " secret:/x", wantErr: "missing"},
		{name: "prefix later in text", in: "my secret:/x", wantErr: "missing"},
		{name: "no colon", in: "secret/x", wantErr: "missing"},
		{name: "empty string", in: "", wantErr: "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolver.ParseRef(tc.in)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, resolver.ErrBadRef)
				assert.Equal(t, "bad_ref", resolver.Class(err))
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Zero(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String(), "String gives back the source form")
			assert.True(t, resolver.IsRef(tc.in))
		})
	}
}

func TestIsRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{name: "ref", in: "secret:/x", want: true},
		{name: "bare prefix", in: "secret:", want: true},
		{name: "text", in: "password", want: false},
		{name: "prefix later", in: "the secret:/x", want: false},
		{name: "capitalised", in: "Secret:/x", want: false},
		{name: "leading space", in: " secret:/x", want: false},
		{name: "empty", in: "", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, resolver.IsRef(tc.in))
		})
	}
}

func TestRefString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "secret:/x", resolver.Ref{ID: "/x"}.String())
	assert.Equal(t, "secret:/x#k", resolver.Ref{ID: "/x", Key: "k"}.String())
}

func TestRefLabel(t *testing.T) {
	t.Parallel()
	ref := resolver.Ref{ID: "hunter2", Key: "k"}
	assert.Equal(t, ref.String(), ref.Label(false))
	assert.Equal(t, "secret:[redacted]#k", ref.Label(true))
	assert.Equal(t, "secret:[redacted]", resolver.Ref{ID: "hunter2"}.Label(true))
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"secret:/openmetadata/database/mysql_prod/authtype/password",
		"secret:openmetadata-database-mysql-prod-password",
		"secret:/x#password", "secret:/x#a#b", "secret:", "secret:#k", "secret:/x#",
		"secret:/x\n", "Secret:/x", " secret:/x", "secret:/données", "secret:\xff\xfe", "", "secret:0##",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ref, err := resolver.ParseRef(in)
		if err != nil {
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			assert.Zero(t, ref)
			return
		}
		assert.True(t, resolver.IsRef(in))
		assert.Equal(t, in, ref.String())
		assert.NotEmpty(t, ref.ID)
		assert.NotContains(t, ref.ID, "#")
		assert.Equal(t, strings.Contains(in, "#"), ref.Key != "", "a key after '#' is never empty")
		assert.False(t, strings.ContainsFunc(in, func(r rune) bool { return r < 0x20 || r == 0x7f }), "no control character")
		// Parsing the source form again gives the same Ref.
		again, err := resolver.ParseRef(ref.String())
		assert.NoError(t, err)
		assert.Equal(t, ref, again)
	})
}

// TestHugeIDsAreBounded: a reference longer than any store's ids is
// bad_ref, and labels (what logs, errors and status print) are clipped.
func TestHugeIDsAreBounded(t *testing.T) {
	t.Parallel()
	huge := "/" + strings.Repeat("x", 200000)
	_, err := resolver.ParseRef("secret:" + huge)
	require.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Contains(t, err.Error(), "longer than 8192 bytes")
	assert.Less(t, len(err.Error()), 100)

	ref, err := resolver.ParseRef("secret:/" + strings.Repeat("é", 1000) + "#k")
	require.NoError(t, err)
	label := ref.Label(false)
	assert.Less(t, len(label), 320)
	assert.Contains(t, label, "…[2001 bytes]#k")
	assert.True(t, utf8.ValidString(label), "clipped at a rune boundary")
	short := resolver.Ref{ID: "/a/b", Key: "k"}
	assert.Equal(t, short.String(), short.Label(false))
}
