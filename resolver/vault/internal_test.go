package vault

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// TestRenewerEndsWithContext checks that the goroutine New starts ends
// when New's context does.
func TestRenewerEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := New(ctx, Options{Address: "https://vault.invalid:8200", Auth: Auth{Token: "hvs.x"}})
	require.NoError(t, err)
	select {
	case <-s.auth.stopped:
		t.Fatal("the renewer stopped before its context ended")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case <-s.auth.stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("the renewer did not stop with its context")
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 error occurred: * permission denied", sanitize("1 error occurred:\n\t* permission denied\n\n", 100))
	assert.Equal(t, "a b", sanitize("a\x00\x1b\u202eb", 100))
	assert.Equal(t, "ab…", sanitize("abcdef", 2))
	assert.Equal(t, "…", sanitize("юникод", 1), "never cuts a rune")
	assert.Equal(t, "ю…", sanitize("юникод", 3))
}

func TestVaultErrors(t *testing.T) {
	t.Parallel()
	assert.Empty(t, vaultErrors([]byte(`{"errors":[]}`), nil))
	assert.Empty(t, vaultErrors(nil, nil))
	assert.Equal(t, ": a; b", vaultErrors([]byte(`{"errors":["a","b"]}`), nil))
	assert.Equal(t, ": the answer is not Vault's JSON", vaultErrors([]byte("<html>secret</html>"), nil))
	assert.Equal(t, ": token [redacted] bad", vaultErrors([]byte(`{"errors":["token hvs.abcd bad"]}`), scrubAll("hvs.abcd", "")))
	long := vaultErrors([]byte(`{"errors":["`+strings.Repeat("x", 1000)+`"]}`), nil)
	assert.Less(t, len(long), 2*maxErrorText+10)
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	h := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	assert.Equal(t, 3*time.Second, retryAfter(h("3")))
	assert.Zero(t, retryAfter(h("")))
	assert.Zero(t, retryAfter(h("-1")))
	assert.Equal(t, resolver.MaxRetryAfter, retryAfter(h("99999")), "absurd hints are capped")
	assert.Zero(t, retryAfter(h("soon")))
	d := retryAfter(h(time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)))
	assert.Greater(t, d, 8*time.Second)
	assert.LessOrEqual(t, d, 10*time.Second)
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkToken("hvs.CAESIJ-abc_123"))
	assert.NoError(t, checkToken("s.abc"))
	for _, bad := range []string{"", "a b", "a\nb", "a\x00", "юникод", strings.Repeat("a", maxTokenLen+1)} {
		err := checkToken(bad)
		require.Error(t, err)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
}

func TestSeconds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 30*time.Second, seconds("30"))
	assert.Zero(t, seconds(""))
	assert.Zero(t, seconds("-5"))
	assert.Zero(t, seconds("1.5"))
	assert.Zero(t, seconds("99999999999999"))
}

// TestCloseEndsTheRenewal: Close returns once the goroutine that renews
// the token has ended, whatever the context given to New.
func TestCloseEndsTheRenewal(t *testing.T) {
	t.Parallel()
	s, err := New(context.Background(), Options{Address: "https://vault.invalid:8200", Auth: Auth{Token: "hvs.x"}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	select {
	case <-s.auth.stopped:
	default:
		t.Fatal("the renewal goroutine runs on after Close")
	}
}
