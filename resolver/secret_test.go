package resolver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// planted is a value that must never show up in printed output. Its hex and
// quoted forms are checked too.
const planted = "pl4nted-S3cret-value"

// assertNoValue fails if out contains planted in any encoding fmt might
// use.
func assertNoValue(t *testing.T, out, what string) {
	t.Helper()
	for _, form := range []string{planted, fmt.Sprintf("%x", planted), fmt.Sprintf("%X", planted), strings.ToLower(planted)} {
		assert.NotContains(t, strings.ToLower(out), strings.ToLower(form), "%s leaks the value", what)
	}
}

func TestSecretValue(t *testing.T) {
	t.Parallel()
	s := resolver.NewSecret(planted)
	assert.Equal(t, planted, s.Value())
	assert.False(t, s.IsNull())

	var zero resolver.Secret
	assert.Empty(t, zero.Value())
	assert.False(t, zero.IsNull())

	n := resolver.NullSecret()
	assert.True(t, n.IsNull())
	assert.Empty(t, n.Value())
	assert.Equal(t, resolver.Redacted, fmt.Sprint(n))
}

func TestSecretFmt(t *testing.T) {
	t.Parallel()
	s := resolver.NewSecret(planted)
	type exported struct {
		Name   string
		Secret resolver.Secret
	}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%t", "%10.3s", "%-30v", "%08x", "%U", "%c", "%e", "%g"} {
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			for what, arg := range map[string]any{
				"value":          s,
				"pointer":        &s,
				"slice":          []resolver.Secret{s},
				"map":            map[string]resolver.Secret{"k": s},
				"exported field": exported{Name: "n", Secret: s},
				"any":            any(s),
			} {
				out := fmt.Sprintf(verb, arg)
				assertNoValue(t, out, verb+" of "+what)
				assert.Contains(t, out, resolver.Redacted, "%s of %s", verb, what)
			}
		})
	}
	assert.Equal(t, resolver.Redacted, s.String())
	assert.Equal(t, resolver.Redacted, s.GoString())
	assert.Equal(t, resolver.Redacted, fmt.Sprint(s))
	assert.Equal(t, resolver.Redacted, fmt.Sprintln(s)[:len(resolver.Redacted)])
}

// TestSecretInUnexportedField shows a leak through a Secret held in an
// unexported struct field: fmt cannot call methods there and prints the
// underlying string.
func TestSecretInUnexportedField(t *testing.T) {
	t.Parallel()
	type config struct {
		user     string
		password resolver.Secret
	}
	c := config{user: "u", password: resolver.NewSecret(planted)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		assertNoValue(t, fmt.Sprintf(verb, c), verb+" of an unexported field")
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	assertNoValue(t, buf.String(), "slog text of an unexported field")
}

func TestSecretSlog(t *testing.T) {
	t.Parallel()
	s := resolver.NewSecret(planted)
	type exported struct{ Password resolver.Secret }
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(newHandler(&buf))
			log.Info("attr", "password", s)
			log.Info("any", slog.Any("password", s))
			log.Info("group", slog.Group("db", "password", s))
			log.Info("struct", "config", exported{Password: s})
			log.Info("slice", "passwords", []resolver.Secret{s, s})
			log.Info("map", "passwords", map[string]resolver.Secret{"db": s})
			log.With("password", s).Info("with")
			log.WithGroup("g").Info("with group", "password", s)
			log.Info("format", "msg", fmt.Sprintf("%v", s))
			out := buf.String()
			assertNoValue(t, out, name+" handler")
			assert.Equal(t, 9, strings.Count(out, "\n"))
			assert.Contains(t, out, resolver.Redacted)
		})
	}
}

func TestSecretJSON(t *testing.T) {
	t.Parallel()
	s := resolver.NewSecret(planted)
	type doc struct {
		Password resolver.Secret            `json:"password"`
		Pointer  *resolver.Secret           `json:"pointer"`
		List     []resolver.Secret          `json:"list"`
		Map      map[string]resolver.Secret `json:"map"`
	}
	b, err := json.Marshal(doc{Password: s, Pointer: &s, List: []resolver.Secret{s}, Map: map[string]resolver.Secret{"k": s}})
	require.NoError(t, err)
	assertNoValue(t, string(b), "json.Marshal")
	assert.JSONEq(t, `{"password":"[redacted]","pointer":"[redacted]","list":["[redacted]"],"map":{"k":"[redacted]"}}`, string(b))

	b, err = json.MarshalIndent(map[resolver.Secret]int{s: 1}, "", " ")
	require.NoError(t, err, "a Secret map key marshals through MarshalText")
	assertNoValue(t, string(b), "json map key")

	text, err := s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, resolver.Redacted, string(text))
}

func TestSecretInErrors(t *testing.T) {
	t.Parallel()
	s := resolver.NewSecret(planted)
	errs := []error{
		fmt.Errorf("connect with %v: %w", s, errors.New("refused")),
		fmt.Errorf("password %q rejected", s),
		fmt.Errorf("wrapped: %w", fmt.Errorf("inner %s", s)),
		errors.Join(fmt.Errorf("a %v", s), fmt.Errorf("b %+v", s)),
		&resolver.RefError{Store: "aws", Ref: resolver.Ref{ID: "/x"}, Err: fmt.Errorf("got %#v", s)},
	}
	for i, err := range errs {
		assertNoValue(t, err.Error(), fmt.Sprintf("error %d", i))
		assertNoValue(t, fmt.Sprintf("%+v", err), fmt.Sprintf("error %d with %%+v", i))
	}
	// A panic message is formatted the same way.
	func() {
		defer func() {
			r := recover()
			require.NotNil(t, r)
			assertNoValue(t, fmt.Sprint(r), "panic value")
		}()
		panic(s)
	}()
}

func TestContentVersion(t *testing.T) {
	t.Parallel()
	a := resolver.ContentVersion(resolver.NewSecret("content-a"))
	assert.Equal(t, a, resolver.ContentVersion(resolver.NewSecret("content-a")), "same value, same token")
	assert.NotEqual(t, a, resolver.ContentVersion(resolver.NewSecret("content-b")))
	assert.NotEqual(t, resolver.ContentVersion(resolver.NewSecret("")), resolver.ContentVersion(resolver.NullSecret()), "null is not the empty string")
	assert.True(t, strings.HasPrefix(a, "h:"))
	assert.NotContains(t, a, "content-a")

	// A store without versions: the Resolver gives its values one; a
	// store's own token is kept.
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{
		"plain": getterFunc(func(context.Context, string) (resolver.Secret, error) { return resolver.NewSecret("content-a"), nil }),
		"own": getterFunc(func(context.Context, string) (resolver.Secret, error) {
			return resolver.NewSecret("x").WithVersion("7"), nil
		}),
	}})
	plain, own := sref(t, "plain", "secret:a"), sref(t, "own", "secret:a")
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{plain, own})
	require.NoError(t, err)
	assert.Equal(t, a, got[plain].Version())
	assert.Equal(t, "7", got[own].Version())
}

type getterFunc func(context.Context, string) (resolver.Secret, error)

func (f getterFunc) Get(ctx context.Context, id string) (resolver.Secret, error) { return f(ctx, id) }
