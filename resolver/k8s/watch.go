package k8s

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"omsecrets/resolver"
)

// Watch timing.
const (
	// watchTimeout is the shortest server-side timeout of one watch
	// request; each asks for a random one up to twice as long, so that
	// the watches of a restart do not all end together. The watch is
	// then opened again from its last resource version: nothing is lost.
	watchTimeout = 5 * time.Minute
	// healthyWatch is how long a watch must have run for the next
	// reconnect to start again from Backoff.Min.
	healthyWatch = 30 * time.Second
	// A watch RBAC refused is tried again (silently: the refusal was
	// logged once) after forbiddenMin, doubling up to forbiddenMax: a
	// refusal may be the authorizer not having seen a new RoleBinding
	// yet, or its cache filling after an API server restart.
	forbiddenMin = 5 * time.Second
	forbiddenMax = 10 * time.Minute
)

// watchLoop keeps a watch of the Secret name open until t.ctx ends (the
// store's life, or Forget). rv is the resource version the Secret was read
// at, "" if it did not exist. It is the only goroutine of t; it owns rv,
// and touches no other target (a Secret forgotten and read again has a
// new target and a new goroutine).
//
// Events after rv notify: ADDED, MODIFIED and DELETED each mean the value
// last returned may be stale. BOOKMARK events only move rv on, so that a
// watch reopened after the server ended it, a connection dropped or the
// API server restarted resumes exactly where it stopped. When the server
// no longer has rv (410 Gone, answered to the request or as an ERROR
// event), changes may have been missed: the Secret is read again, the
// watch starts from that read and the ids are notified.
func (s *Store) watchLoop(t *target, name, rv string) {
	ctx := t.ctx
	wait := s.backoff.Min
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	backoff := func() bool {
		// Full jitter over [wait/2, wait).
		d := wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		wait = min(2*wait, s.backoff.Max)
		return sleep(d)
	}
	forbiddenWait := forbiddenMin
	resync := false
	for ctx.Err() == nil {
		c := s.client.Load()
		if resync {
			var ok bool
			if rv, ok = s.reread(ctx, name); !ok {
				if !backoff() {
					return
				}
				continue
			}
			resync = false
			s.seen(t, rv)
			s.changed(t)
		}
		timeout := watchTimeout + time.Duration(rand.Int64N(int64(watchTimeout)))
		fromNow := rv == "" && !s.legacyWatch.Load()
		w, err := c.watch(ctx, s.ns, name, rv, timeout, &s.legacyWatch)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return
			case isGone(err):
				resync = true
				continue
			case apierrors.IsForbidden(err):
				s.watchForbidden(name, err)
				d := forbiddenWait
				forbiddenWait = min(2*forbiddenWait, forbiddenMax)
				if !sleep(d) {
					return
				}
				continue
			case isUnauthorized(err):
				if _, rerr := s.reconnect(c); rerr != nil {
					s.logger.Debug("watch: reading the credentials again failed", "secret", name, "error", rerr)
				}
			default:
				s.logger.Debug("watch: cannot open", "secret", name, "error", classify(ctx, err))
			}
			if !backoff() {
				return
			}
			continue
		}
		forbiddenWait = forbiddenMin
		if fromNow && !s.legacyWatch.Load() {
			// The watch sees what happens from now on; a Secret
			// created since the read that found none is not in it.
			if v, ok := s.reread(ctx, name); !ok || v != "" {
				rv = v
				s.seen(t, v)
				s.changed(t)
			}
		}
		opened := time.Now()
		s.setLive(t, true)
		var gone bool
		rv, gone = s.consume(ctx, t, name, w, rv)
		s.setLive(t, false)
		w.Stop()
		if gone {
			resync = true
			continue
		}
		if time.Since(opened) >= healthyWatch {
			wait = s.backoff.Min
			continue // the server ended a healthy watch: open it again now
		}
		if !backoff() {
			return
		}
	}
}

// consume handles the events of w until it ends, and returns the last
// resource version seen and whether the server said rv is gone.
func (s *Store) consume(ctx context.Context, t *target, name string, w watch.Interface, rv string) (string, bool) {
	for {
		select {
		case <-ctx.Done():
			return rv, false
		case ev, open := <-w.ResultChan():
			if !open {
				return rv, false
			}
			switch ev.Type {
			case watch.Bookmark:
				if v := resourceVersion(ev.Object); v != "" {
					rv = v
				}
			case watch.Added, watch.Modified, watch.Deleted:
				v := resourceVersion(ev.Object)
				if v != "" {
					rv = v
				}
				if ev.Type == watch.Deleted {
					v = ""
				}
				s.seen(t, v)
				s.changed(t)
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if isGone(err) {
					return rv, true
				}
				s.logger.Debug("watch: error event", "secret", name, "error", classify(ctx, err))
				return rv, false
			}
		}
	}
}

// reread reads name again for a watch that lost its place, and returns
// the resource version to watch from ("" if the Secret does not exist)
// and whether the read answered.
func (s *Store) reread(ctx context.Context, name string) (string, bool) {
	sec, err := s.get(ctx, name)
	switch {
	case err == nil:
		return sec.ResourceVersion, true
	case errors.Is(err, resolver.ErrNotFound):
		return "", true
	}
	s.logger.Debug("watch: read again failed", "secret", name, "error", err)
	return "", false
}

// watchForbidden logs, once per store, that RBAC refused a watch.
func (s *Store) watchForbidden(name string, err error) {
	if s.forbiddenLogged.CompareAndSwap(false, true) {
		s.logger.Warn("watching Secrets is forbidden: their changes reach the files with the periodic refresh only (grant the verb watch on them, as in the documented Role)",
			"secret", name, "error", forbiddenDetail(err))
	}
}

// isGone reports whether err is the API server's 410: the resource
// version asked for is older than the history it keeps.
func isGone(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code == http.StatusGone {
		return true
	}
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}
