package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/config"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
)

// TestStoreLimits: a store's Spec.Limit is its default rate limit (the
// Resolver applies only what it is given), and --rate-limits replaces it
// store by store, 0 turning it off.
func TestStoreLimits(t *testing.T) {
	t.Parallel()
	got, err := limits(config.Config{AdaptiveRate: true})
	require.NoError(t, err)
	for _, s := range storeTable {
		if s.Limit == (resolver.Limit{}) {
			assert.NotContains(t, got, s.Name)
			continue
		}
		assert.Equal(t, s.Limit, got[s.Name], s.Name)
	}
	assert.Equal(t, awssm.Spec.Limit, got[awssm.Spec.Name])
	assert.Equal(t, awsssm.Spec.Limit, got[awsssm.Spec.Name])
	assert.NotZero(t, got[awssm.Spec.Name].Rate, "the AWS stores have a default")

	got, err = limits(config.Config{AdaptiveRate: true, RateLimits: awssm.Spec.Name + "=5:2," + awsssm.Spec.Name + "=0"})
	require.NoError(t, err)
	assert.Equal(t, resolver.Limit{Rate: 5, Burst: 2}, got[awssm.Spec.Name])
	assert.Equal(t, resolver.Limit{}, got[awsssm.Spec.Name], "0 is unlimited")

	// --adaptive-rate=false: every limit is fixed, none is added.
	got, err = limits(config.Config{AdaptiveRate: false})
	require.NoError(t, err)
	for name, l := range got {
		assert.True(t, l.Fixed, name)
	}
	assert.Equal(t, awssm.Spec.Limit.Rate, got[awssm.Spec.Name].Rate)
}
