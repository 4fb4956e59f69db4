package azurekv_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/resolvertest"
)

// readAll reads ids with Get, failing the test on an error, and returns
// the values read.
func readAll(t *testing.T, p *azurekv.Provider, ids ...string) map[string]resolver.Secret {
	t.Helper()
	out := make(map[string]resolver.Secret, len(ids))
	for _, id := range ids {
		v, err := p.Get(t.Context(), id)
		require.NoError(t, err, id)
		out[id] = v
	}
	return out
}

func TestUnchanged(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	settle(p)
	s.PutSecret("same", "unchanged-same")
	s.PutSecret("Mixed-Case", "unchanged-mixed")
	s.PutSecret("rotated", "unchanged-rotated-v1")
	s.PutSecret("deleted", "unchanged-deleted")
	s.PutSecret("failing", "unchanged-failing")
	s.PutSecret("disabled", "unchanged-disabled")
	s.PutSecret("unread", "unchanged-unread")
	old := s.PutSecret("pinned", "unchanged-pinned-v1")
	offOld := s.PutSecret("pinned-off", "unchanged-pinned-off-v1")
	ids := []string{"same", "mixed-case", "rotated", "deleted", "failing", "disabled", "pinned/" + old, "pinned-off/" + offOld}
	vals := readAll(t, p, ids...)

	// Key Vault's times are seconds: the changes happen in a later one.
	s.Advance(2 * time.Second)
	s.PutSecret("rotated", "unchanged-rotated-v2")
	s.DeleteSecret("deleted")
	s.Deny("failing")
	_, err := p.Get(t.Context(), "failing")
	require.Error(t, err)
	s.SetEnabled("disabled", "", false)
	s.PutSecret("pinned", "unchanged-pinned-v2")
	s.SetEnabled("pinned-off", "", false)
	s.Reset()

	var pacer resolvertest.CountingPacer
	asked := append(resolvertest.HeldOf(vals), resolver.Held{ID: "unread"}, resolver.Held{ID: "never", Version: "garbage"})
	got, err := p.Unchanged(t.Context(), asked, &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"same", "mixed-case", "pinned/" + old, "failing"}, got,
		"the failing read says nothing of the version the Resolver would hold (it drops it on a failed read)")
	assert.Equal(t, 1, pacer.Count("list"))
	assert.Equal(t, 1, s.Calls(azuretest.OpListSecrets))
	assert.Equal(t, 1, s.TotalCalls(), "listing reads no value")

	// Reading the rotated secret again: the new version is vouched for,
	// the old one is not.
	again := readAll(t, p, "rotated")
	got, err = p.Unchanged(t.Context(), resolvertest.HeldOf(resolvertest.Merge(vals, again)), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Contains(t, got, "rotated")
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "rotated", Version: vals["rotated"].Version()}}, &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Empty(t, got)

	// Nothing with a version: no call.
	s.Reset()
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "unread"}, {ID: "never", Version: "x"}}, &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, 0, s.TotalCalls())
}

// TestUnchangedPages measures a refresh of many ids: one Get Secrets call
// per 25 secrets of the vault against one GetSecret per id.
func TestUnchangedPages(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	settle(p)
	const n = 272
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("openmetadata-database-svc%03d-password", i)
		s.PutSecret(ids[i], "pages-"+ids[i])
	}
	readAll(t, p, ids[0]) // the challenge and the token
	s.Reset()
	vals := readAll(t, p, ids...)
	full := s.VaultCalls()
	assert.Equal(t, n, full)
	assert.Equal(t, n, p.FullReadCalls(n))

	s.Advance(2 * time.Second)
	s.PutSecret(ids[100], "pages-rotated")
	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.NoError(t, err)
	assert.Len(t, got, n-1)
	assert.NotContains(t, got, ids[100])
	want := (n + azurekv.ListPage - 1) / azurekv.ListPage
	assert.Equal(t, want, s.Calls(azuretest.OpListSecrets))
	assert.Equal(t, want, s.VaultCalls())
	assert.Equal(t, want, pacer.Count("list"))
	t.Logf("refresh of %d ids: %d GetSecret calls in full, %d Get Secrets calls to list", n, full, s.VaultCalls())
}

// TestUnchangedBudget checks that listing a vault holding many more
// secrets than ids stops at one call per id, and that it stops as soon as
// the ids' secrets were seen.
func TestUnchangedBudget(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	settle(p)
	for i := range 3 * azurekv.ListPage {
		s.PutSecret(fmt.Sprintf("m-%03d", i), "budget")
	}
	s.PutSecret("a-first", "budget-a1")
	s.PutSecret("a-second", "budget-a2")
	s.PutSecret("z-last", "budget-z1")
	s.PutSecret("z-later", "budget-z2")
	vals := readAll(t, p, "a-first", "a-second", "z-last", "z-later")

	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), held(vals, "a-first", "a-second"), &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a-first", "a-second"}, got)
	assert.Equal(t, 1, s.Calls(azuretest.OpListSecrets), "stops once both were seen")

	s.Reset()
	pacer = resolvertest.CountingPacer{}
	got, err = p.Unchanged(t.Context(), held(vals, "z-last", "z-later"), &pacer)
	require.Error(t, err)
	assert.Nil(t, got)
	assert.NotErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, err.Error(), "more would cost more than reading them")
	assert.Equal(t, 2, s.Calls(azuretest.OpListSecrets), "at most FullReadCalls(2)")
	assert.Equal(t, 2, pacer.Count("list"))
}

func TestUnchangedErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		setup    func(s *azuretest.Server)
		class    string
		denied   bool
		contains []string
	}{
		{name: "rbac", setup: func(s *azuretest.Server) { s.DenyList(azuretest.DenyRBAC) }, class: "permission", denied: true,
			contains: []string{"readMetadata/action", "Key Vault Secrets User", "ForbiddenByRbac", "list secrets"}},
		{name: "access policy", setup: func(s *azuretest.Server) { s.DenyList(azuretest.DenyAccessPolicy) }, class: "permission", denied: true,
			contains: []string{"List on secrets", "AccessDenied"}},
		{name: "no role", setup: func(s *azuretest.Server) { s.DenyAll(true) }, class: "permission", denied: true, contains: []string{"403"}},
		{name: "throttled", setup: func(s *azuretest.Server) { s.SetRetryAfter(time.Second); s.Throttle(1) }, class: "throttled", contains: []string{"429 Throttled"}},
		{name: "500", setup: func(s *azuretest.Server) { s.FailNext(1, http.StatusInternalServerError) }, class: "unavailable"},
		{name: "revoked token", setup: func(s *azuretest.Server) { s.RevokeTokens() }, contains: []string{"401"}},
		{name: "other 4xx", setup: func(s *azuretest.Server) { s.FailNext(1, http.StatusTeapot) }, contains: []string{"418"}},
		{name: "dropped", setup: func(s *azuretest.Server) { s.SetDropping(true) }, class: "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newStore(t, nil)
			settle(p)
			s.PutSecret("x", "errors-value")
			vals := readAll(t, p, "x")
			tc.setup(s)
			_, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
			require.Error(t, err)
			assert.Equal(t, tc.denied, resolver.Class(err) == "permission", "%v", err)
			if tc.class != "" {
				assert.Equal(t, tc.class, resolver.Class(err), "%v", err)
			}
			for _, c := range tc.contains {
				assert.Contains(t, err.Error(), c)
			}
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "errors-value")
		})
	}
}

// TestUnchangedNoValueLeaks lists under every fault with a marker in
// every value and checks no error or log line carries it.
func TestUnchangedNoValueLeaks(t *testing.T) {
	t.Parallel()
	const marker = "LEAK-MARKER-c41d"
	p, s, log := newStore(t, nil)
	settle(p)
	for i := range 30 {
		s.PutSecret(fmt.Sprintf("leak-%02d", i), marker)
	}
	vals := readAll(t, p, "leak-00", "leak-29")
	for _, fault := range []func(){
		func() {},
		func() { s.DenyList(azuretest.DenyRBAC) },
		func() { s.DenyList(azuretest.DenyAccessPolicy) },
		func() { s.DenyList(azuretest.AllowList); s.Throttle(1) },
		func() { s.FailNext(1, http.StatusServiceUnavailable) },
		func() { s.RevokeTokens() },
	} {
		fault()
		_, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
		if err != nil {
			for _, m := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assert.False(t, strings.Contains(m, marker), "an error message carries a value")
			}
		}
	}
	assert.NotContains(t, log.String(), "LEAK-")
}

// settle makes p time its reads a minute late, so that every read is
// settled (settleAfter past its version's updated time) whatever the test
// server's clock: the tests of what a listing vouches for.
func settle(p *azurekv.Provider) {
	azurekv.SetClock(p, func() time.Time { return time.Now().Add(time.Minute) })
}

// TestUnchangedUnsettledRead: a value read within seconds of its
// version's updated time is not vouched for (a version set in the same
// second would look the same), until a later read is settled.
func TestUnchangedUnsettledRead(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	s.PutSecret("fresh", "unsettled-v1")
	vals := readAll(t, p, "fresh")
	s.PutSecret("fresh", "unsettled-v2") // likely the same second: same updated time
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Empty(t, got, "read right after its version was set: not vouched")

	settle(p)
	vals = readAll(t, p, "fresh")
	got, err = p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh"}, got, "a settled read is vouched for")
}

// held returns the held pairs of ids among vals.
func held(vals map[string]resolver.Secret, ids ...string) []resolver.Held {
	out := make([]resolver.Held, 0, len(ids))
	for _, id := range ids {
		out = append(out, resolver.Held{ID: id, Version: vals[id].Version()})
	}
	return out
}
