package k8s_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"omsecrets/internal/testbed/kubetest"
	"omsecrets/resolver"
	"omsecrets/resolver/k8s"
	"omsecrets/resolver/resolvertest"
)

// notifyWithin is the bound the store promises for a change to reach the
// Notify function: well under a second.
const notifyWithin = time.Second

// TestWatchLatency updates a Secret 20 times and measures how long each
// update takes to reach the Notify function, from before the update
// call.
func TestWatchLatency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "om-db-password", "v0")
	f.grant(t, []string{"get", "watch"}, "om-db-password")
	s := f.store(t, nil, k8s.Options{})
	n := listen(s)
	for _, id := range []string{"om-db-password", "/om/db/password"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "om-db-password", f.user.Name) == 1 }, 10*time.Second, 20*time.Millisecond)
	n.none(t, 300*time.Millisecond)

	const updates = 20
	lat := make([]time.Duration, 0, updates)
	secrets := f.c.Admin().CoreV1().Secrets(f.ns)
	for i := range updates {
		sec, err := secrets.Get(t.Context(), "om-db-password", metav1.GetOptions{})
		require.NoError(t, err)
		sec.Data["value"] = fmt.Appendf(nil, "v%d", i+1)
		start := time.Now()
		_, err = secrets.Update(t.Context(), sec, metav1.UpdateOptions{})
		require.NoError(t, err)
		got := n.next(t, 5*time.Second)
		assert.Equal(t, []string{"om-db-password", "/om/db/password"}, got.ids, "every id read from the Secret")
		lat = append(lat, got.at.Sub(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("update to notification over %d updates: p50 %v, p99 %v, max %v", updates, p50, p99, lat[len(lat)-1])
	assert.Less(t, p99, notifyWithin)
	n.none(t, 200*time.Millisecond)
	assert.Equal(t, 1, f.c.Count(t, f.ns, "watch", "om-db-password", f.user.Name), "one watch, never reopened")
}

func TestWatchDeleteAndCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "v")
	f.grant(t, []string{"get", "watch"}, "s", "later")
	var logs resolvertest.LogBuffer
	s := f.store(t, nil, k8s.Options{Logger: logger(&logs)})
	n := listen(s)
	defer func() {
		if t.Failed() {
			t.Logf("store log:\n%s", logs.String())
		}
	}()
	_, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	_, err = s.Get(t.Context(), "later")
	require.Error(t, err, "does not exist yet")
	if !assert.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "", f.user.Name) == 2 }, 10*time.Second, 20*time.Millisecond) {
		for _, r := range f.c.Requests(t, f.ns) {
			t.Logf("%+v", r)
		}
	}

	f.c.DeleteSecret(t, f.ns, "s")
	assert.Equal(t, []string{"s"}, n.next(t, notifyWithin).ids, "deleted")
	f.c.PutValue(t, f.ns, "s", "again")
	assert.Equal(t, []string{"s"}, n.next(t, notifyWithin).ids, "created again")
	f.c.PutValue(t, f.ns, "later", "now")
	assert.Equal(t, []string{"later"}, n.next(t, notifyWithin).ids, "a Secret read as not found is watched too")
	n.none(t, 300*time.Millisecond)
}

// TestWatchResumes cuts the store's watches and takes the API server out
// of its reach while a Secret changes: the watch resumes from its
// resource version and the change made meanwhile is notified.
func TestWatchResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "v1")
	f.grant(t, []string{"get", "watch"}, "s")
	p := f.c.Proxy(t)
	s := f.store(t, p.Config(f.user), k8s.Options{Backoff: k8s.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}})
	n := listen(s)
	_, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Watches() == 1 }, 10*time.Second, 20*time.Millisecond)

	require.Equal(t, 1, p.CutWatches())
	require.Eventually(t, func() bool { return p.Watches() == 1 }, 10*time.Second, 20*time.Millisecond, "watch reopened")
	n.none(t, 200*time.Millisecond) // resumed at its resource version: nothing changed
	f.c.PutValue(t, f.ns, "s", "v2")
	assert.Equal(t, []string{"s"}, n.next(t, notifyWithin).ids)

	p.SetDown(true)
	f.c.PutValue(t, f.ns, "s", "v3-while-unreachable")
	time.Sleep(time.Second)
	n.none(t, 0)
	p.SetDown(false)
	assert.Equal(t, []string{"s"}, n.next(t, 5*time.Second).ids, "the change made while unreachable")
	n.none(t, 300*time.Millisecond)
}

// TestWatchGone: a watch whose resource version the server no longer has
// (410) reads the Secret again and notifies.
func TestWatchGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "v1")
	f.grant(t, []string{"get", "watch"}, "s")
	p := f.c.Proxy(t)
	s := f.store(t, p.Config(f.user), k8s.Options{Backoff: k8s.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}})
	n := listen(s)
	_, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Watches() == 1 }, 10*time.Second, 20*time.Millisecond)
	gets := p.Count(http.MethodGet, "/api/v1/namespaces/"+f.ns+"/secrets/s")

	p.Inject(kubetest.Fault{Status: http.StatusGone, Match: func(r *http.Request) bool { return r.URL.Query().Get("watch") == "true" }}, 1)
	p.CutWatches()
	assert.Equal(t, []string{"s"}, n.next(t, 5*time.Second).ids, "may have missed a change")
	assert.Equal(t, gets+1, p.Count(http.MethodGet, "/api/v1/namespaces/"+f.ns+"/secrets/s"), "read again once")
	require.Eventually(t, func() bool { return p.Watches() == 1 }, 10*time.Second, 20*time.Millisecond)
	f.c.PutValue(t, f.ns, "s", "v2")
	assert.Equal(t, []string{"s"}, n.next(t, notifyWithin).ids)
}

// TestWatchForbidden: a Role without watch. One log line, no
// notification, reads still work.
func TestWatchForbidden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "a", "1")
	f.c.PutValue(t, f.ns, "b", "2")
	f.grant(t, []string{"get"}, "a", "b")
	var logs resolvertest.LogBuffer
	s := f.store(t, nil, k8s.Options{Logger: logger(&logs)})
	n := listen(s)
	for _, id := range []string{"a", "b"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "", f.user.Name) >= 2 }, 10*time.Second, 20*time.Millisecond)
	f.c.PutValue(t, f.ns, "a", "changed")
	n.none(t, time.Second)
	v, err := s.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, `{"value":"changed"}`, v.Value())
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "watching Secrets is forbidden"), "logged once:\n%s", out)
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, `cannot watch resource`)
	// Not retried at once: a refused watch is tried again 5 s after the
	// refusal at the soonest (forbiddenMin). Counting the watches by
	// the time the test got here would count the retries of a slow run.
	f.c.Sync(t, f.ns)
	watches := make(map[string][]time.Time)
	for _, r := range f.c.Requests(t, f.ns) {
		if r.Verb == "watch" && r.User == f.user.Name {
			watches[r.Name] = append(watches[r.Name], r.Received)
		}
	}
	assert.Len(t, watches, 2, "a watch of each Secret")
	for name, at := range watches {
		for i := 1; i < len(at); i++ {
			assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), 5*time.Second, "watch of %s retried at once", name)
		}
	}
}

func TestWatchLimitAndLifetime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c"} {
		f.c.PutValue(t, f.ns, name, name)
	}
	f.grant(t, []string{"get", "watch"}, "a", "b", "c")
	p := f.c.Proxy(t)
	var logs resolvertest.LogBuffer
	ctx, cancel := context.WithCancel(t.Context())
	s, err := k8s.New(ctx, p.Config(f.user), k8s.Options{Namespace: f.ns, MaxWatches: 2, Logger: logger(&logs)})
	require.NoError(t, err)
	n := listen(s)
	for _, id := range []string{"a", "b", "c", "c"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, s.Watches())
	assert.Equal(t, 1, strings.Count(logs.String(), "watch limit reached"))
	require.Eventually(t, func() bool { return p.Watches() == 2 }, 10*time.Second, 20*time.Millisecond)
	f.c.PutValue(t, f.ns, "c", "changed")
	n.none(t, 500*time.Millisecond)

	cancel()
	require.Eventually(t, func() bool { return p.Watches() == 0 }, 10*time.Second, 20*time.Millisecond, "the watches end with the store's context")
	f.c.PutValue(t, f.ns, "a", "changed")
	n.none(t, 300*time.Millisecond)
	_, err = s.Get(t.Context(), "a")
	require.NoError(t, err, "reads go on")
	assert.Zero(t, p.Watches(), "no new watch after the context ended")

	// Without a Notify function nothing is watched.
	s2 := f.store(t, p.Config(f.user), k8s.Options{})
	_, err = s2.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Zero(t, s2.Watches())
}

// TestWatchAPIServerRestart restarts the shared API server while the
// store watches, and changes the Secret while it is down (through a second
// API server on the same etcd). Not parallel: it takes the server away
// from every test.
func TestWatchAPIServerRestart(t *testing.T) {
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "before")
	f.c.PutValue(t, f.ns, "quiet", "unchanged")
	f.grant(t, []string{"get", "watch"}, "s", "quiet")
	var logs resolvertest.LogBuffer
	s := f.store(t, nil, k8s.Options{Logger: logger(&logs), Backoff: k8s.Backoff{Min: 100 * time.Millisecond, Max: time.Second}})
	n := listen(s)
	for _, id := range []string{"s", "quiet"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "", f.user.Name) == 2 }, 10*time.Second, 20*time.Millisecond)

	f.c.Restart(t, func(peer kubernetes.Interface) {
		sec, err := peer.CoreV1().Secrets(f.ns).Get(context.Background(), "s", metav1.GetOptions{})
		require.NoError(t, err)
		sec.Data["value"] = []byte("changed-while-down")
		_, err = peer.CoreV1().Secrets(f.ns).Update(context.Background(), sec, metav1.UpdateOptions{})
		require.NoError(t, err)
	})
	restarted := time.Now()
	got := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for !got["s"] {
		select {
		case nt := <-n.ch:
			for _, id := range nt.ids {
				got[id] = true
			}
		case <-deadline:
			t.Fatalf("the change made while the API server was down was not notified; log:\n%s", logs.String())
		}
	}
	t.Logf("notified %v after the restart; notified ids %v (a watch that lost its place notifies even if unchanged)", time.Since(restarted).Round(time.Millisecond), got)
	v, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, `{"value":"changed-while-down"}`, v.Value())

	// The watches are back: a change now is notified at once.
	require.Eventually(t, func() bool {
		return f.c.Count(t, f.ns, "watch", "s", f.user.Name) >= 2
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	n.drain()
	start := time.Now()
	f.c.PutValue(t, f.ns, "s", "after")
	for {
		// "quiet" may still be notified by its own watch's start over.
		nt := n.next(t, notifyWithin)
		if slices.Contains(nt.ids, "s") {
			assert.Less(t, nt.at.Sub(start), notifyWithin)
			break
		}
		assert.Equal(t, []string{"quiet"}, nt.ids)
	}
}

// TestUnchangedWhileWatched: the store vouches for the ids of Secrets
// whose watch is open, without a call, and for nothing it cannot watch
// (RBAC refused the watch) or never read.
func TestUnchangedWhileWatched(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "watched", "1")
	f.c.PutValue(t, f.ns, "unwatched", "2")
	f.grant(t, []string{"get", "watch"}, "watched")
	f.grant(t, []string{"get"}, "unwatched")
	s := f.store(t, nil, k8s.Options{})
	listen(s)
	vals := make(map[string]resolver.Secret)
	for _, id := range []string{"watched", "unwatched"} {
		v, err := s.Get(t.Context(), id)
		require.NoError(t, err)
		require.NotEmpty(t, v.Version(), "a value carries its resourceVersion")
		vals[id] = v
	}
	held := append(resolvertest.HeldOf(vals), resolver.Held{ID: "never-read", Version: "1"})
	require.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "watched", f.user.Name) >= 1 }, 10*time.Second, 20*time.Millisecond)
	before := len(f.c.Requests(t, f.ns))
	var same []string
	require.Eventually(t, func() bool {
		var err error
		same, err = s.Unchanged(t.Context(), held, nil)
		return err == nil && len(same) == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"watched"}, same)
	assert.Equal(t, 7, s.FullReadCalls(7), "one GET per Secret")
	// Unchanged asks the API server nothing (the watch requests it made
	// meanwhile are the forbidden watch's retries, not GETs).
	for _, r := range f.c.Requests(t, f.ns)[before:] {
		assert.NotEqual(t, "get", r.Verb, "%+v", r)
	}

	// A change: the version read before it is no longer vouched for
	// (once the watch saw it), the one read after it is.
	f.c.PutValue(t, f.ns, "watched", "3")
	require.Eventually(t, func() bool {
		same, err := s.Unchanged(t.Context(), held, nil)
		return err == nil && len(same) == 0
	}, 10*time.Second, 20*time.Millisecond)
	v, err := s.Get(t.Context(), "watched")
	require.NoError(t, err)
	require.NotEqual(t, vals["watched"].Version(), v.Version())
	same, err = s.Unchanged(t.Context(), []resolver.Held{{ID: "watched", Version: v.Version()}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"watched"}, same)
}

// TestForgetEndsTheWatch: a Secret none of whose ids is used any more is
// no longer watched (its watch request and goroutine end), so that the
// watch limit counts the Secrets in use; read again, it is watched again.
func TestForgetEndsTheWatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c"} {
		f.c.PutValue(t, f.ns, name, name)
	}
	f.grant(t, []string{"get", "watch"}, "a", "b", "c")
	p := f.c.Proxy(t)
	s, err := k8s.New(t.Context(), p.Config(f.user), k8s.Options{Namespace: f.ns, MaxWatches: 2})
	require.NoError(t, err)
	n := listen(s)
	for _, id := range []string{"a", "b"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return p.Watches() == 2 }, 10*time.Second, 20*time.Millisecond)

	s.Forget([]string{"a", "never-read", "Bad/Id"})
	assert.Equal(t, 1, s.Watches())
	require.Eventually(t, func() bool { return p.Watches() == 1 }, 10*time.Second, 20*time.Millisecond, "the forgotten watch ends")
	f.c.PutValue(t, f.ns, "a", "changed")
	n.none(t, 300*time.Millisecond)
	same, err := s.Unchanged(t.Context(), []resolver.Held{{ID: "a", Version: "1"}}, nil)
	require.NoError(t, err)
	assert.Empty(t, same, "nothing vouched for a forgotten Secret")

	// The limit of 2 now has room for c; a read again is watched again
	// once b is forgotten too.
	_, err = s.Get(t.Context(), "c")
	require.NoError(t, err)
	assert.Equal(t, 2, s.Watches())
	s.Forget([]string{"b"})
	_, err = s.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, 2, s.Watches())
	require.Eventually(t, func() bool { return p.Watches() == 2 }, 10*time.Second, 20*time.Millisecond)
	n.drain()
	f.c.PutValue(t, f.ns, "a", "changed-again")
	assert.Equal(t, []string{"a"}, n.next(t, 10*time.Second).ids)
}

// TestCloseEndsTheWatches: Close ends every watch and returns once their
// goroutines have; reads go on, unwatched.
func TestCloseEndsTheWatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"a", "b"} {
		f.c.PutValue(t, f.ns, name, name)
	}
	f.grant(t, []string{"get", "watch"}, "a", "b")
	p := f.c.Proxy(t)
	s, err := k8s.New(context.Background(), p.Config(f.user), k8s.Options{Namespace: f.ns})
	require.NoError(t, err)
	listen(s)
	for _, id := range []string{"a", "b"} {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return p.Watches() == 2 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Close())
	require.Eventually(t, func() bool { return p.Watches() == 0 }, 10*time.Second, 20*time.Millisecond)
	_, err = s.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Zero(t, p.Watches(), "no new watch after Close")
}
