package envvar_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/resolvertest"
)

// env is a process environment for tests.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

func TestConformance(t *testing.T) {
	t.Parallel()
	e := env{
		"OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_AUTHTYPE_PASSWORD": "env-value-mysql",
		"OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_PASSWORD":          "env-value-azure-style",
		"OMSECRETS_SECRET_EMPTY":        "",
		"OMSECRETS_SECRET_NULL":         "null",
		"OMSECRETS_SECRET_WITH_NEWLINE": "env-value-line\n",
		// Variables a definition must not reach.
		"PATH":                  "/usr/bin:/bin",
		"AWS_SECRET_ACCESS_KEY": "env-aws-key-must-not-leak",
	}
	resolvertest.Run(t, envvar.New("", e.lookup), []resolvertest.Case{
		{Name: "path id", ID: "/openmetadata/database/mysql_prod/authtype/password", Want: "env-value-mysql"},
		{Name: "dashed id", ID: "openmetadata-database-mysql-prod-password", Want: "env-value-azure-style"},
		{Name: "set but empty", ID: "empty", Want: ""},
		{Name: "null literal", ID: "/null", WantNull: true},
		{Name: "value kept as is", ID: "with.newline", Want: "env-value-line\n"},
		{Name: "unset", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
		{Name: "PATH not reachable", ID: "/path", WantErr: resolver.ErrNotFound},
		{Name: "AWS key not reachable", ID: "AWS_SECRET_ACCESS_KEY", WantErr: resolver.ErrNotFound},
		{Name: "no letter or digit", ID: "///", WantErr: resolver.ErrBadRef},
	})
}

func TestVarName(t *testing.T) {
	t.Parallel()
	const p = envvar.DefaultPrefix
	for _, tc := range []struct {
		name, prefix, id, want string
	}{
		{name: "om path", prefix: p, id: "/openmetadata/database/mysql_prod/authtype/password", want: "OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_AUTHTYPE_PASSWORD"},
		{name: "azure style", prefix: p, id: "openmetadata-database-mysql-prod-password", want: "OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_PASSWORD"},
		{name: "already a name", prefix: p, id: "DB_PASSWORD", want: "OMSECRETS_SECRET_DB_PASSWORD"},
		{name: "runs collapse", prefix: p, id: "a--__//b", want: "OMSECRETS_SECRET_A_B"},
		{name: "trim both ends", prefix: p, id: "__/a/__", want: "OMSECRETS_SECRET_A"},
		{name: "digits", prefix: p, id: "/db1/2fa", want: "OMSECRETS_SECRET_DB1_2FA"},
		{name: "mixed case", prefix: p, id: "MySql.Prod", want: "OMSECRETS_SECRET_MYSQL_PROD"},
		{name: "non-ascii is a separator", prefix: p, id: "/données/clé", want: "OMSECRETS_SECRET_DONN_ES_CL"},
		{name: "only non-ascii", prefix: p, id: "пароль", want: ""},
		{name: "only separators", prefix: p, id: "///", want: ""},
		{name: "empty", prefix: p, id: "", want: ""},
		{name: "custom prefix", prefix: "APP_", id: "/x/y", want: "APP_X_Y"},
		{name: "empty prefix as given", prefix: "", id: "/path", want: "PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, envvar.VarName(tc.prefix, tc.id))
		})
	}
}

// TestPrefixGuards checks that no id reads a variable outside the prefix,
// even ids spelled like well-known variables.
func TestPrefixGuards(t *testing.T) {
	t.Parallel()
	e := env{
		"PATH":                  "/usr/bin:/bin",
		"HOME":                  "/root",
		"AWS_SECRET_ACCESS_KEY": "aws-key-must-not-leak",
		"OMSECRETS_SECRET_PATH": "the-path-secret",
	}
	var asked []string
	s := envvar.New("", func(name string) (string, bool) {
		asked = append(asked, name)
		return e.lookup(name)
	})

	v, err := s.Get(t.Context(), "/path")
	require.NoError(t, err)
	assert.Equal(t, "the-path-secret", v.Value(), "secret:/path reads OMSECRETS_SECRET_PATH")

	for _, id := range []string{"AWS_SECRET_ACCESS_KEY", "aws-secret-access-key", "HOME", "/home", "../../HOME"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, id)
		assert.ErrorIs(t, err, resolver.ErrNotFound, id)
		assert.NotContains(t, err.Error(), "aws-key-must-not-leak")
	}
	for _, name := range asked {
		assert.True(t, strings.HasPrefix(name, envvar.DefaultPrefix), "looked up %s", name)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	assert.Equal(t, envvar.DefaultPrefix, envvar.New("", nil).Prefix())
	assert.Equal(t, "APP_", envvar.New("APP_", nil).Prefix())
}

func TestGetCustomPrefix(t *testing.T) {
	t.Parallel()
	e := env{"APP_DB_PASSWORD": "custom-prefix-value", "OMSECRETS_SECRET_DB_PASSWORD": "default-prefix-value"}
	v, err := envvar.New("APP_", e.lookup).Get(t.Context(), "/db/password")
	require.NoError(t, err)
	assert.Equal(t, "custom-prefix-value", v.Value())
}

func TestGetErrorMessages(t *testing.T) {
	t.Parallel()
	s := envvar.New("", env{}.lookup)

	_, err := s.Get(t.Context(), "/db/password")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), "OMSECRETS_SECRET_DB_PASSWORD")
	assert.Contains(t, err.Error(), `"/db/password"`)

	_, err = s.Get(t.Context(), "///")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Contains(t, err.Error(), `"///"`)
}

// TestGetOSEnvironment checks the production lookup, os.LookupEnv. It sets
// process variables, so it does not run in parallel.
func TestGetOSEnvironment(t *testing.T) {
	t.Setenv("OMSECRETS_SECRET_ENVVAR_TEST_TOKEN", "os-env-value")
	t.Setenv("OMSECRETS_SECRET_ENVVAR_TEST_EMPTY", "")
	s := envvar.New("", nil)

	v, err := s.Get(t.Context(), "/envvar/test/token")
	require.NoError(t, err)
	assert.Equal(t, "os-env-value", v.Value())

	v, err = s.Get(t.Context(), "envvar-test-empty")
	require.NoError(t, err)
	assert.Empty(t, v.Value())

	_, err = s.Get(t.Context(), "/envvar/test/unset")
	assert.ErrorIs(t, err, resolver.ErrNotFound)
}

// TestGetReadsAnew checks that every Get looks the variable up again, so a
// changed environment is seen.
func TestGetReadsAnew(t *testing.T) {
	t.Parallel()
	e := env{"OMSECRETS_SECRET_X": "first"}
	var calls atomic.Int32
	s := envvar.New("", func(name string) (string, bool) {
		calls.Add(1)
		return e.lookup(name)
	})
	v, err := s.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "first", v.Value())
	e["OMSECRETS_SECRET_X"] = "second"
	v, err = s.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "second", v.Value())
	assert.Equal(t, int32(2), calls.Load())
}

func FuzzVarName(f *testing.F) {
	for _, s := range []string{"/openmetadata/database/mysql_prod/authtype/password", "a-b", "///", "", "é", "_a_", "PATH"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name := envvar.VarName(envvar.DefaultPrefix, id)
		if name == "" {
			assert.False(t, strings.ContainsFunc(id, isAlnum), "%q has a letter or digit", id)
			return
		}
		rest, ok := strings.CutPrefix(name, envvar.DefaultPrefix)
		require.True(t, ok)
		require.NotEmpty(t, rest)
		assert.False(t, strings.HasPrefix(rest, "_") || strings.HasSuffix(rest, "_"), "%q", rest)
		assert.NotContains(t, rest, "__")
		assert.False(t, strings.ContainsFunc(rest, func(r rune) bool { return r != '_' && !isUpperOrDigit(r) }), "%q", rest)
		// Letters and digits survive in order, upper-cased.
		assert.Equal(t, strings.ToUpper(keepAlnum(id)), strings.ReplaceAll(rest, "_", ""))
	})
}

func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

func isUpperOrDigit(r rune) bool { return 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' }

func keepAlnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isAlnum(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
