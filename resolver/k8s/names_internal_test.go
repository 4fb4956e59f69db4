package k8s

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"omsecrets/resolver"
)

// Java's String.hashCode of these strings, computed over their UTF-16
// code units independently of javaHashCode (Python: h = (31*h + unit)
// mod 2^32 over s.encode("utf-16-be")).
func TestJavaHashCode(t *testing.T) {
	for s, want := range map[string]uint32{
		"":      0,
		"hello": 99162322,
		"/openmetadata/database/mysql_prod/authtype/password": 1959087386,
		"😀/a":          1703757493, // a surrogate pair: two units
		"/Über/Ñame/x": 3288186686,
	} {
		assert.Equal(t, want, uint32(javaHashCode(s)), "%q", s)
	}
}

// TestLegacyName checks the mapping of OpenMetadata's server before PR
// #25988 (KubernetesSecretsManager.sanitizeSecretName); expected names
// computed with a transcription of the Java steps in Python.
func TestLegacyName(t *testing.T) {
	long := "/openmetadata/database/" + strings.Repeat("very_long_service_name_", 12) + "/password"
	for id, want := range map[string]string{
		"/openmetadata/database/mysql_prod/authtype/password":                        "openmetadata-database-mysql-prod-authtype-password",
		"/openmetadata/bot/ingestion-bot/config/jwttoken":                            "openmetadata-bot-ingestion-bot-config-jwttoken",
		"/prefix/OpenMetadata/pipeline/My Pipeline/dbtconfigsource/dbtsecuritytoken": "prefix-openmetadata-pipeline-my-pipeline-dbtconfigsource-dbtsecuritytoken",
		"external-app/private-config//myapp":                                         "external-app-private-config-myapp",
		"/Über/Ñame/x":                                                               "ber-ame-x",
		"😀/a":                                                                        "a",
		"/a.b/c":                                                                     "a-b-c",
		"//--a--//":                                                                  "a",
		"/":                                                                          "om-",
		"///":                                                                        "om-",
		long:                                                                         "openmetadata-database-" + strings.TrimSuffix(strings.Repeat("very-long-service-name-", 10), "-")[:240-len("openmetadata-database-")] + "-ed0e60fd",
		"/p/" + strings.Repeat("a", 239) + "--" + strings.Repeat("b", 30): "p-" + strings.Repeat("a", 238) + "-dc7f12f3",
	} {
		got := LegacyName(id)
		assert.Equal(t, want, got, "%q", id)
	}
	assert.Len(t, LegacyName(long), 249)
}

func TestSecretName(t *testing.T) {
	for _, tc := range []struct {
		id, want string
	}{
		{"openmetadata-database-mysql-prod-authtype-password", "openmetadata-database-mysql-prod-authtype-password"},
		{"a", "a"},
		{"a.b-c.d", "a.b-c.d"},
		{"0", "0"},
		{strings.Repeat("a", 253), strings.Repeat("a", 253)},
		{"/openmetadata/database/mysql_prod/authtype/password", "openmetadata-database-mysql-prod-authtype-password"},
		{"/UPPER/case", "upper-case"},
	} {
		got, err := SecretName(tc.id)
		require.NoError(t, err, "%q", tc.id)
		assert.Equal(t, tc.want, got, "%q", tc.id)
	}
}

// TestHostileIDs: each id that cannot name a Secret is bad_ref with a
// one-line reason naming the problem.
func TestHostileIDs(t *testing.T) {
	for _, tc := range []struct {
		name, id, reason string
	}{
		{"empty", "", "empty secret id"},
		{"huge", strings.Repeat("a", MaxIDLen+1), "longer than 4096 bytes"},
		{"huge legacy", "/" + strings.Repeat("a/", MaxIDLen), "longer than 4096 bytes"},
		{"long name", strings.Repeat("a", 254), "longer than 253 characters"},
		{"upper case", "Secret", "upper-case letters are not allowed"},
		{"underscore", "db_password", `character '_' is not allowed`},
		{"space", "db password", `character ' ' is not allowed`},
		{"leading dash", "-a", "must start and end with a lowercase letter or digit"},
		{"trailing dot", "a.", "must start and end with a lowercase letter or digit"},
		{"double dot", "a..b", "each dot-separated part"},
		{"dash dot", "a-.b", "each dot-separated part"},
		{"dot dash", "a.-b", "each dot-separated part"},
		{"dot", ".", "must start and end"},
		{"dot dot", "..", "must start and end"},
		{"percent path trick", "a%2f..%2fb", `character '%' is not allowed`},
		{"backslash", `a\b`, `character '\\' is not allowed`},
		{"NUL", "a\x00b", `character '\x00' is not allowed`},
		{"newline", "a\nb", `character '\n' is not allowed`},
		{"bidi override", "a\u202eb", `character '\u202e' is not allowed`},
		{"zero width", "a\u200bb", `character '\u200b' is not allowed`},
		{"homoglyph", "раssword", `character 'р' is not allowed`},
		{"invalid utf-8", "a\xffb", "not valid UTF-8"},
		{"only slashes", "///", `maps to Secret name "om-"`},
		{"legacy of nothing", "/.../---/", `maps to Secret name "om-"`},
		{"query", "a?watch=true", `character '?' is not allowed`},
		{"colon", "ns:name", `character ':' is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SecretName(tc.id)
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			assert.Equal(t, "bad_ref", resolver.Class(err))
			assert.Contains(t, err.Error(), tc.reason)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.True(t, utf8.ValidString(err.Error()))
		})
	}
}

// FuzzSecretName checks SecretName against apimachinery's own validation
// of Secret names: a name it returns is always valid; an id it takes as
// is was valid; every valid name is taken as is.
func FuzzSecretName(f *testing.F) {
	for _, s := range []string{"a", "a.b", "/openmetadata/x/y", "A", "a..b", "-", "/", "😀/a", "a\x00", strings.Repeat("a", 254), "a.-b", "0.0", "/a/" + strings.Repeat("b", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name, err := SecretName(id)
		valid := len(validation.IsDNS1123Subdomain(id)) == 0
		if err != nil {
			if !errorIsBadRef(err) {
				t.Fatalf("%q: %v is not bad_ref", id, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: message on several lines", id)
			}
			if valid && len(id) <= MaxIDLen {
				t.Fatalf("%q is a valid name but was refused: %v", id, err)
			}
			return
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Fatalf("%q mapped to invalid name %q: %v", id, name, errs)
		}
		if valid && name != id {
			t.Fatalf("valid name %q mapped to %q", id, name)
		}
		if !valid && (name != LegacyName(id) || !strings.Contains(id, "/")) {
			t.Fatalf("%q mapped to %q", id, name)
		}
	})
}

// FuzzNameProblem checks the validation against apimachinery's.
func FuzzNameProblem(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a-b", "a..b", "a.-b", "a-.b", "-a", "a-", ".a", "a.", "", "A", "a_b", "a.b.c-d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := nameProblem(s) == ""
		theirs := len(validation.IsDNS1123Subdomain(s)) == 0
		if ours != theirs {
			t.Fatalf("%q: nameProblem says valid=%v (%q), apimachinery valid=%v", s, ours, nameProblem(s), theirs)
		}
	})
}

func errorIsBadRef(err error) bool { return resolver.Class(err) == "bad_ref" }
