package awsssm_test

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
	s.PutParameter("/om/same", "unchanged-same", true)
	s.PutParameter("/om/changed", "unchanged-changed-v1", true)
	s.PutParameter("/om/deleted", "unchanged-deleted", false)
	s.PutParameter("/om/pinned", "unchanged-pinned-v1", false)
	s.PutParameter("/om/pinned", "unchanged-pinned-v2", false)
	s.PutParameter("/om/pinned-gone", "unchanged-pinned-gone", false)
	s.PutParameter("/om/labelled", "unchanged-labelled", false)
	s.LabelParameter("/om/labelled", 1, "prod")
	s.PutParameter("/om/unread", "unchanged-unread", false)
	s.PutParameter("/om/single", "unchanged-single", false)
	s.PutSecret("sm", "unchanged-sm")
	ids := []string{"/om/same", " /om/same ", "/om/changed", "/om/deleted", "/om/pinned:1", "/om/pinned-gone:1", "/om/labelled:prod", "/aws/reference/secretsmanager/sm"}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	single, err := p.Get(t.Context(), "/om/single")
	require.NoError(t, err)
	vals["/om/single"] = single

	s.PutParameter("/om/changed", "unchanged-changed-v2", true)
	s.PutParameter("/om/pinned", "unchanged-pinned-v3", false)
	s.DeleteParameter("/om/deleted")
	s.DeleteParameter("/om/pinned-gone")
	s.Reset()

	var pacer resolvertest.CountingPacer
	asked := append(resolvertest.HeldOf(vals), resolver.Held{ID: "/om/unread"}, resolver.Held{ID: "/om/never", Version: "x"})
	got, err := p.Unchanged(t.Context(), asked, &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"/om/same", " /om/same ", "/om/pinned:1", "/om/single"}, got,
		"changed, deleted, labelled, referenced and unread ids are left out; a pinned version is vouched for while it exists")
	assert.Equal(t, 1, pacer.Count("list"))
	assert.Equal(t, 1, s.Calls(awstest.TargetDescribeParameters))
	assert.Equal(t, 1, s.TotalCalls(), "listing reads no value")

	changed, err := p.Get(t.Context(), "/om/changed")
	require.NoError(t, err)
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "/om/changed", Version: changed.Version()}}, &pacer)
	require.NoError(t, err)
	assert.Equal(t, []string{"/om/changed"}, got, "the version read again is vouched for")
	got, err = p.Unchanged(t.Context(), []resolver.Held{{ID: "/om/changed", Version: vals["/om/changed"].Version()}}, &pacer)
	require.NoError(t, err)
	assert.Empty(t, got, "the version read before the change is not, whatever was read since")
}

func TestUnchangedNothingListable(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutParameter("/l", "listable", false)
	s.LabelParameter("/l", 1, "x")
	vals, err := p.GetBatch(t.Context(), []string{"/l:x"})
	require.NoError(t, err)
	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), append(resolvertest.HeldOf(vals), resolver.Held{ID: "/never"}), &pacer)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, s.TotalCalls())
}

// TestUnchangedCallCounts measures the calls of a refresh of 2000 ids
// under one path: a full read against the listing.
func TestUnchangedCallCounts(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 2000 {
		id := fmt.Sprintf("/openmetadata/prod/param-%04d", i)
		s.PutParameter(id, "count-value", true)
		ids = append(ids, id)
	}
	for i := range 300 {
		s.PutParameter(fmt.Sprintf("/unrelated/%03d", i), "count-unrelated", false)
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	reads := s.Calls(awstest.TargetGetParameters)
	assert.Equal(t, 200, reads)
	assert.Equal(t, reads, p.FullReadCalls(len(ids)))

	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.NoError(t, err)
	assert.Len(t, got, 2000)
	lists := s.Calls(awstest.TargetDescribeParameters)
	assert.Equal(t, 40, lists)
	assert.Equal(t, lists, pacer.Count("list"))
	t.Logf("2000 Parameter Store ids: full read %d GetParameters calls, change check %d DescribeParameters calls", reads, lists)

	s.PutParameter(ids[777], "count-value-2", true)
	s.Reset()
	got, err = p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.Len(t, got, 1999)
	assert.NotContains(t, got, ids[777])
}

// TestUnchangedEmptyPages follows DescribeParameters' best-effort pages,
// and gives up once they would cost more than reading.
func TestUnchangedEmptyPages(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 15 {
		id := fmt.Sprintf("/want/%02d", i)
		s.PutParameter(id, "pages-value", false)
		ids = append(ids, id)
	}
	for i := range 100 {
		s.PutParameter(fmt.Sprintf("/other/%03d", i), "pages-other", false)
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	require.Equal(t, 2, p.FullReadCalls(len(ids)))

	// Each call scans 60 of the 115 parameters: "/other/..." sorts first,
	// so the first page is empty and the second holds the 15.
	s.SetDescribeScanLimit(60)
	s.Reset()
	var pacer resolvertest.CountingPacer
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, got)
	assert.Equal(t, 2, s.Calls(awstest.TargetDescribeParameters))

	// Scanning 40 at a time needs three calls: more than reading.
	s.SetDescribeScanLimit(40)
	s.Reset()
	got, err = p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &pacer)
	require.Error(t, err)
	assert.Nil(t, got)
	assert.NotErrorIs(t, err, resolver.ErrPermission)
	assert.Equal(t, 2, s.Calls(awstest.TargetDescribeParameters), "never more than a full read")
}

func TestUnchangedPrefixes(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	ids := []string{"/team-a/db", "/team-b/db", "/team-b/api"}
	for _, id := range ids {
		s.PutParameter(id, "prefix-value", true)
	}
	for i := range 500 {
		s.PutParameter(fmt.Sprintf("/team-c/%03d", i), "prefix-other", false)
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, got)
	assert.Equal(t, 1, s.Calls(awstest.TargetDescribeParameters))
}

func TestUnchangedErrors(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutParameter("/e/a", "errors-param-value", true)
	v, err := p.Get(t.Context(), "/e/a")
	require.NoError(t, err)
	held := []resolver.Held{{ID: "/e/a", Version: v.Version()}}
	var pacer resolvertest.CountingPacer

	s.Deny(awstest.ActionDescribeParameters)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, err.Error(), "ssm:DescribeParameters")
	assert.NotContains(t, err.Error(), "errors-param-value")
	s.Allow(awstest.ActionDescribeParameters)

	s.Throttle(1)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrThrottled)

	s.FailNext(1, 500)
	_, err = p.Unchanged(t.Context(), held, &pacer)
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.NotErrorIs(t, err, resolver.ErrPermission)

	got, err := p.Unchanged(t.Context(), held, &pacer)
	require.NoError(t, err)
	assert.Equal(t, []string{"/e/a"}, got)
	assert.Equal(t, 4, pacer.Count("list"))
}

// TestUnchangedConcurrent reads, updates and lists at once; run with
// -race.
func TestUnchangedConcurrent(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("/c/%02d", i)
		s.PutParameter(id, "concurrent-value", false)
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
					s.PutParameter(ids[(w+r)%len(ids)], "concurrent-value-next", false)
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
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	got, err := p.Unchanged(t.Context(), resolvertest.HeldOf(vals), &resolvertest.CountingPacer{})
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, got)
}
