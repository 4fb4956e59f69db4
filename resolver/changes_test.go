package resolver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// lister is a batching store that can list its changes: its values
// carry a version, bumped by set, and it vouches for the held values
// whose version is current, one listing call (through the Pacer) per
// pageSize ids.
type lister struct {
	mu        sync.Mutex
	values    map[string]string
	versions  map[string]int
	lagging   map[string]bool // vouched for whatever the version
	pageSize  int
	err       error // returned by every listing while set
	lists     int   // Unchanged calls
	pages     int   // Pacer calls made
	batches   int
	requested []string
}

func newLister(values map[string]string) *lister {
	return &lister{values: values, versions: make(map[string]int), lagging: make(map[string]bool), pageSize: 100}
}

func (l *lister) Get(ctx context.Context, id string) (resolver.Secret, error) {
	out, _ := l.GetBatch(ctx, []string{id})
	if v, ok := out[id]; ok {
		return v, nil
	}
	return resolver.Secret{}, resolver.ErrNotFound
}

func (l *lister) MaxBatch() int { return 20 }

func (l *lister) GetBatch(_ context.Context, ids []string) (map[string]resolver.Secret, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches++
	l.requested = append(l.requested, ids...)
	out := make(map[string]resolver.Secret)
	for _, id := range ids {
		if v, ok := l.values[id]; ok {
			out[id] = resolver.NewSecret(v).WithVersion(strconv.Itoa(l.versions[id]))
		}
	}
	return out, nil
}

func (l *lister) set(id, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values[id] = v
	l.versions[id]++
}

func (l *lister) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *lister) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches, l.requested = 0, nil
}

func (l *lister) Batches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches
}

func (l *lister) Requested() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requested)
}

func (l *lister) Unchanged(ctx context.Context, held []resolver.Held, p resolver.Pacer) ([]string, error) {
	l.mu.Lock()
	l.lists++
	err := l.err
	l.mu.Unlock()
	for range (len(held) + l.pageSize - 1) / l.pageSize {
		if cerr := p.Call(ctx, "list", func(context.Context) error { return err }); cerr != nil {
			return nil, cerr
		}
		l.mu.Lock()
		l.pages++
		l.mu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, h := range held {
		if _, ok := l.values[h.ID]; ok && (l.lagging[h.ID] || h.Version == strconv.Itoa(l.versions[h.ID])) {
			out = append(out, h.ID)
		}
	}
	return out, nil
}

func (l *lister) FullReadCalls(n int) int { return (n + 19) / 20 }

func (l *lister) counts() (lists, pages int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lists, l.pages
}

// changeObs records ChangeCheck and StoreRate events beside the rest.
type changeObs struct {
	recorder
	mu     sync.Mutex
	checks []string
	rates  []float64
}

func (o *changeObs) ChangeCheck(store string, asked, vouched int, on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks = append(o.checks, fmt.Sprintf("%s %d/%d %v", store, vouched, asked, on))
}

func (o *changeObs) StoreRate(_ string, perSecond float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rates = append(o.rates, perSecond)
}

func changeWorld(t *testing.T, n int, check resolver.ChangeCheck) (*resolver.Resolver, *lister, *changeObs, *clock, []resolver.StoreRef, *bytes.Buffer) {
	t.Helper()
	values := make(map[string]string)
	var refs []resolver.StoreRef
	for i := range n {
		id := fmt.Sprintf("/om/db/s%03d/password", i)
		values[id] = fmt.Sprintf("value-%03d", i)
		refs = append(refs, sref(t, "aws", "secret:"+id))
	}
	l := newLister(values)
	obs := &changeObs{}
	clk := newClock()
	var logs bytes.Buffer
	r := resolver.New(resolver.Options{
		Stores:      map[string]resolver.Getter{"aws": l},
		CacheTTL:    5 * time.Minute,
		ChangeCheck: check,
		Observer:    obs,
		Now:         clk.Now,
		Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return r, l, obs, clk, refs, &logs
}

var keepCheck = resolver.ChangeCheck{Keep: 10 * time.Minute, MaxAge: time.Hour}

func TestRefreshFetchesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, l, obs, clk, refs, _ := changeWorld(t, 100, keepCheck)
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	require.Equal(t, 5, l.Batches(), "100 ids, 20 per batch")

	l.set("/om/db/s007/password", "rotated-007")
	l.set("/om/db/s042/password", "rotated-042")
	clk.Add(6 * time.Minute) // past the cache TTL, within Keep
	l.Reset()
	got, err := r.Refresh(ctx, refs)
	require.NoError(t, err)
	lists, pages := l.counts()
	assert.Equal(t, 1, lists)
	assert.Equal(t, 1, pages, "100 ids: one listing page")
	assert.Equal(t, []string{"/om/db/s007/password", "/om/db/s042/password"}, sorted(l.Requested()), "only the changed ids are fetched")
	assert.Equal(t, 1, l.Batches())
	for _, sr := range refs {
		want := "value-" + strings.TrimSuffix(strings.TrimPrefix(sr.Ref.ID, "/om/db/s"), "/password")
		if sr.Ref.ID == "/om/db/s007/password" || sr.Ref.ID == "/om/db/s042/password" {
			want = "rotated-" + want[len("value-"):]
		}
		assert.Equal(t, want, got[sr].Value(), sr.Ref.ID)
	}
	assert.Equal(t, []string{"aws 98/100 true"}, obs.checks)
	assert.Contains(t, obs.Calls(), storeCall{"aws", "list", 0, "ok"}, "the listing call is a store call")

	// The vouched values were renewed: a Resolve within the TTL is
	// served from the cache.
	l.Reset()
	_, err = r.Resolve(ctx, refs)
	require.NoError(t, err)
	assert.Zero(t, l.Batches())
}

func TestRefreshMaxAgeAndKeep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, l, _, clk, refs, _ := changeWorld(t, 10, resolver.ChangeCheck{Keep: 10 * time.Minute, MaxAge: 12 * time.Minute})
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)

	clk.Add(8 * time.Minute) // expired (TTL 5m) but held (5m + 10m)
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	assert.Zero(t, l.Batches(), "held and vouched: nothing fetched")

	clk.Add(8 * time.Minute) // 16 min since the fetch: past MaxAge
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	assert.Len(t, l.Requested(), 10, "values older than MaxAge are read again whatever the listing says")

	clk.Add(20 * time.Minute) // past TTL + Keep: the entries are gone
	before, _ := l.counts()
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	after, _ := l.counts()
	assert.Equal(t, before, after, "nothing held: no listing")
	assert.Len(t, l.Requested(), 10)
}

func TestRefreshChangeCheckOff(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, l, _, clk, refs, _ := changeWorld(t, 10, resolver.ChangeCheck{})
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	clk.Add(time.Minute)
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	lists, _ := l.counts()
	assert.Zero(t, lists, "Keep 0: no listing")
	assert.Len(t, l.Requested(), 10, "a full refresh")
}

func TestRefreshListingRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, l, obs, clk, refs, logs := changeWorld(t, 10, keepCheck)
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	l.setErr(fmt.Errorf("ListSecrets: %w: AccessDeniedException", resolver.ErrPermission))
	for range 3 {
		clk.Add(time.Minute)
		l.Reset()
		_, err = r.Refresh(ctx, refs)
		require.NoError(t, err, "a refused listing is no failure of the refresh")
		assert.Len(t, l.Requested(), 10, "refreshed in full")
	}
	lists, _ := l.counts()
	assert.Equal(t, 1, lists, "asked once, then never again")
	assert.Equal(t, 1, strings.Count(logs.String(), "change detection off"), "logged once:\n%s", logs)
	assert.Equal(t, []string{"aws 0/10 false"}, obs.checks)
}

func TestRefreshListingFailsThisTime(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, l, _, clk, refs, _ := changeWorld(t, 10, keepCheck)
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	l.setErr(resolver.Throttled("ListSecrets: Rate exceeded", 0))
	clk.Add(time.Minute)
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	assert.Len(t, l.Requested(), 10, "refreshed in full this time")
	l.setErr(nil)
	clk.Add(time.Minute)
	l.Reset()
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	assert.Empty(t, l.Requested(), "asked again the next time, and it vouched")
	lists, _ := l.counts()
	assert.Equal(t, 2, lists)
}

func TestRefreshVouchedButNotified(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A store that reports a change: the dropped entry is fetched even if
	// the listing (lagging) vouches for it.
	values := map[string]string{"/a": "old-a", "/b": "old-b"}
	l := newLister(values)
	n := &notifyingLister{lister: l}
	var heard []string
	r := resolver.New(resolver.Options{
		Stores:      map[string]resolver.Getter{"aws": n},
		CacheTTL:    5 * time.Minute,
		ChangeCheck: keepCheck,
		OnChange:    func(_ string, ids []string) { heard = append(heard, ids...) },
	})
	refs := []resolver.StoreRef{sref(t, "aws", "secret:/a"), sref(t, "aws", "secret:/b")}
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	l.set("/a", "new-a")
	l.mu.Lock()
	l.lagging["/a"] = true // the listing lags: it vouches for /a
	l.mu.Unlock()
	n.fn([]string{"/a"})
	l.Reset()
	got, err := r.Refresh(ctx, refs)
	require.NoError(t, err)
	assert.Equal(t, []string{"/a"}, l.Requested())
	assert.Equal(t, "new-a", got[refs[0]].Value())
	assert.Equal(t, []string{"/a"}, heard)
}

type notifyingLister struct {
	*lister
	fn func([]string)
}

func (n *notifyingLister) Notify(fn func([]string)) { n.fn = fn }

func TestPacerThrottleCutsRate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	values := map[string]string{"/a": "va"}
	l := newLister(values)
	obs := &changeObs{}
	r := resolver.New(resolver.Options{
		Stores:      map[string]resolver.Getter{"aws": l},
		CacheTTL:    5 * time.Minute,
		ChangeCheck: keepCheck,
		Observer:    obs,
		Limits:      map[string]resolver.Limit{"aws": {Rate: 40}},
	})
	refs := []resolver.StoreRef{sref(t, "aws", "secret:/a")}
	_, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	l.setErr(resolver.Throttled("ListSecrets: Rate exceeded", 0))
	_, err = r.Refresh(ctx, refs)
	require.NoError(t, err)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.NotEmpty(t, obs.rates)
	assert.Equal(t, 40.0, obs.rates[0], "the starting rate is reported")
	assert.Equal(t, 20.0, obs.rates[len(obs.rates)-1], "a throttled listing halves the rate")
	assert.True(t, slices.ContainsFunc(obs.calls, func(c storeCall) bool { return c.op == "list" && c.result == "throttled" }))
	assert.False(t, errors.Is(err, resolver.ErrThrottled))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
