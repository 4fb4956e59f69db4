package awsconfig

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://localhost:4566", "https://secretsmanager.eu-west-1.amazonaws.com", "http://[::1]:8080/path", "https://user:pw@host"} {
		got, err := parseEndpoint(ok)
		assert.NoError(t, err, ok)
		assert.Equal(t, ok, got)
	}
	for _, bad := range []string{"", "localhost:4566", "ftp://host", "http://", "https:opaque", "http://[::1", "//host", "/path"} {
		_, err := parseEndpoint(bad)
		assert.Error(t, err, bad)
	}
}

// FuzzParseEndpoint checks that parseEndpoint never panics, returns what it
// accepts unchanged, accepts only absolute http(s) URLs with a host, and
// never quotes its input in an error.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"http://localhost:4566", "https://a.b/c?d#e", "http://", "ftp://x", "http://[::1", "HTTP://X", "http://u:p@h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseEndpoint(v)
		if err != nil {
			assert.Contains(t, []string{"not a valid URL", "endpoint URL must start with http:// or https://", "endpoint URL has no host"}, err.Error())
			return
		}
		assert.Equal(t, v, got)
		u, perr := url.Parse(v)
		if assert.NoError(t, perr) {
			assert.Contains(t, []string{"http", "https"}, u.Scheme)
			assert.NotEmpty(t, u.Host)
		}
	})
}
