package plan

import "omsecrets/resolver"

// The costs of a store are its Spec's (resolver.Spec.Costs): the
// published quotas of its calls and how its change detection refreshes.
// This package knows no store by name.
type (
	// Quota is resolver.Quota.
	Quota = resolver.Quota
	// Refresh is resolver.RefreshCost.
	Refresh = resolver.RefreshCost
	// Costs is resolver.Costs.
	Costs = resolver.Costs
)

// PublishedQuota returns the published quota, in calls per second, of the
// operation spec's full reads use; ok is false when there is none.
func PublishedQuota(spec resolver.Spec) (perSecond float64, ok bool) {
	return spec.Costs.FetchPerSecond()
}

// ListQuota returns the published quota, in calls per second, of the
// operation spec's change detection uses; ok is false when there is none
// or none is known.
func ListQuota(spec resolver.Spec) (perSecond float64, ok bool) {
	return spec.Costs.ListPerSecond()
}
