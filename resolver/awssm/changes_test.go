package awssm_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

func TestUnchanged(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	arn := s.PutSecret("/om/db/same", "unchanged-same")
	s.PutSecret("/om/db/rotated", "unchanged-rotated-v1")
	s.PutSecret("/om/db/deleting", "unchanged-deleting")
	s.PutSecret("/om/db/deleted", "unchanged-deleted")
	s.PutSecret("/om/db/failing", "unchanged-failing")
	s.PutSecret("/om/db/unread", "unchanged-unread")
	s.PutSecret("/om/db/single", "unchanged-single")
	ids := []string{"/om/db/same", arn, arn[:len(arn)-7], "/om/db/rotated", "/om/db/deleting", "/om/db/deleted"}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	single, err := p.Get(t.Context(), "/om/db/single")
	require.NoError(t, err)
	require.NotEmpty(t, single.Version(), "a value carries its version")
	vals["/om/db/single"] = single

	s.PutSecret("/om/db/rotated", "unchanged-rotated-v2")
	s.ScheduleSecretDeletion("/om/db/deleting")
	s.DeleteSecret("/om/db/deleted")
	s.Reset()

	var pacer resolvertest.CountingPacer
	asked := append(resolvertest.HeldOf(vals),
		resolver.Held{ID: "/om/db/unread"},                        // no version: never asked by a Resolver
		resolver.Held{ID: "/om/db/never", Version: "not-a-token"}) // a token it cannot read
	got, err := p.Unchanged(t.Context(), asked, &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"/om/db/same", arn, arn[:len(arn)-7], "/om/db/single"}, got)
	assert.Equal(t, 1, pacer.Count("list"))
	assert.Equal(t, 1, s.Calls(awstest.TargetListSecrets))
	assert.Equal(t, 1, s.TotalCalls(), "listing reads no value")

	// Reading the rotated secret again: its new version is vouched for,
	// the old one still is not, whatever the store read last.
	rotated, err := p.Get(t.Context(), "/om/db/rotated")
	require.NoError(t, err)
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "/om/db/rotated", Version: rotated.Version()}}, &pacer)
	require.NoError(t, err)
	assert.Equal(t, []string{"/om/db/rotated"}, got)
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "/om/db/rotated", Version: vals["/om/db/rotated"].Version()}}, &pacer)
	require.NoError(t, err)
	assert.Empty(t, got, "the version read before the rotation is not current")
}

func TestUnchangedNothingRead(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("a", "nothing-read")
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), []resolver.Held{{ID: "a"}, {ID: "b", Version: "garbage"}}, &pacer)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, s.TotalCalls(), "no call for values without a version token")
	assert.Zero(t, pacer.Count("list"))
}

// TestUnchangedCallCounts measures the calls of a refresh of 2000 ids
// under one prefix: a full read against the listing.
func TestUnchangedCallCounts(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 2000 {
		id := fmt.Sprintf("/openmetadata/prod/secret-%04d", i)
		s.PutSecret(id, "count-value")
		ids = append(ids, id)
	}
	for i := range 300 {
		s.PutSecret(fmt.Sprintf("/unrelated/%03d", i), "count-unrelated")
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	reads := s.Calls(awstest.TargetBatchGetSecretValue)
	assert.Equal(t, 100, reads)
	assert.Equal(t, reads, p.FullReadCalls(len(ids)))

	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.NoError(t, err)
	assert.Len(t, got, 2000)
	lists := s.Calls(awstest.TargetListSecrets)
	assert.Equal(t, 20, lists)
	assert.Equal(t, lists, pacer.Count("list"))
	t.Logf("2000 Secrets Manager ids: full read %d BatchGetSecretValue calls, change check %d ListSecrets calls", reads, lists)

	// One rotated secret: the same listing, one id left to fetch.
	s.PutSecret(ids[1234], "count-value-2")
	s.Reset()
	got, err = p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Len(t, got, 1999)
	assert.NotContains(t, got, ids[1234])
	assert.Equal(t, 20, s.Calls(awstest.TargetListSecrets))
}

// TestUnchangedStopsEarly checks that the listing stops once every id was
// seen, and that ids under several prefixes list only those subtrees.
func TestUnchangedPrefixes(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	ids := []string{"/team-a/db", "/team-b/db", "/team-b/api"}
	for _, id := range ids {
		s.PutSecret(id, "prefix-value")
	}
	for i := range 500 {
		s.PutSecret(fmt.Sprintf("/team-c/%03d", i), "prefix-other")
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, got)
	assert.Equal(t, 1, s.Calls(awstest.TargetListSecrets), "the 500 others are not listed")
}

func TestUnchangedBudget(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("/p/k%03d", i)
		s.PutSecret(id, "budget-value")
		ids = append(ids, id)
	}
	// Secrets the prefix filter cannot tell from the ids', sorted between
	// them: 525 entries, 6 pages, where reading takes 2 calls.
	for i := range 500 {
		s.PutSecret(fmt.Sprintf("/p/k01x%03d", i), "budget-other")
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	require.Equal(t, 2, p.FullReadCalls(len(ids)))
	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.Error(t, err)
	assert.Nil(t, got)
	assert.NotErrorIs(t, err, resolver.ErrPermission)
	assert.Equal(t, 2, s.Calls(awstest.TargetListSecrets), "never more than a full read")
	assert.Equal(t, 2, pacer.Count("list"))
}

func TestUnchangedErrors(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("/e/a", "errors-secret-value")
	v, err := p.Get(t.Context(), "/e/a")
	require.NoError(t, err)
	held := []resolver.Held{{ID: "/e/a", Version: v.Version()}}
	var pacer resolvertest.CountingPacer

	s.Deny(awstest.ActionListSecrets)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, err.Error(), "AccessDeniedException")
	assert.NotContains(t, err.Error(), "errors-secret-value")
	s.Allow(awstest.ActionListSecrets)

	s.Throttle(1)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrThrottled)
	require.ErrorIs(t, err, resolver.ErrUnavailable)

	s.FailNext(1, 500)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.NotErrorIs(t, err, resolver.ErrPermission)

	got, err := p.Unchanged(t.Context(), held, &pacer)
	require.NoError(t, err)
	assert.Equal(t, []string{"/e/a"}, got)
	assert.Equal(t, 4, pacer.Count("list"))
}

// TestUnchangedFallback checks the budget once BatchGetSecretValue is
// denied: a full read is one call per id.
func TestUnchangedFallback(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("f1", "fallback-1")
	s.PutSecret("f2", "fallback-2")
	s.Deny(awstest.ActionBatchGetSecretValue)
	vals, err := p.GetBatch(t.Context(), []string{"f1", "f2"})
	require.NoError(t, err)
	assert.Equal(t, 2, p.FullReadCalls(2))
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"f1", "f2"}, got)
}

// TestUnchangedConcurrent reads, rotates and lists at once; run with
// -race.
func TestUnchangedConcurrent(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 50 {
		id := fmt.Sprintf("/c/%02d", i)
		s.PutSecret(id, "concurrent-value")
		ids = append(ids, id)
	}
	first, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	var failures atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for r := range 5 {
				if w%2 == 0 {
					if _, err := p.GetBatch(t.Context(), ids); err != nil {
						failures.Add(1)
					}
					s.PutSecret(ids[(w+r)%len(ids)], "concurrent-value-next")
					continue
				}
				if _, err := p.Unchanged(t.Context(), resolvertest.HeldOf(first), &resolvertest.CountingPacer{}); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
	// Settled: after a fresh read everything is vouched for.
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, got)
}
