package resolver

// Quota is a store's published request quota for one operation: what a
// whole fleet of sidecars shares, whatever each sidecar's own client-side
// rate limit (--rate-limits) is.
type Quota struct {
	// Operation is the API operation the quota counts ("GetParameters").
	Operation string `json:"operation"`
	// PerSecond is the quota in calls per second; 0 when none is
	// published (Kubernetes, Vault) or none was found.
	PerSecond float64 `json:"perSecond,omitempty"`
	// Published is the quota as the provider words it ("4,000 per 10
	// seconds"), or why there is no number.
	Published string `json:"published"`
	// Scope is what shares it: "account and Region", "vault", "project".
	Scope string `json:"scope,omitempty"`
	// Source is where it is published.
	Source string `json:"source,omitempty"`
	// Confirmed is false for a number that could not be checked against
	// the provider's page when it was written down.
	Confirmed bool `json:"confirmed"`
}

// RefreshCost is how a store's change detection refreshes the ids it read,
// for the model of a refresh's calls.
type RefreshCost struct {
	// Operation is the listing's operation ("ListSecrets"), or "watch".
	Operation string
	// PerPage is the ids one listing call covers; 0 for a watch, which
	// makes no call while it holds.
	PerPage int
	// ByPrefix is set for a listing filtered by the ids' shared name
	// prefix: ids that share none cannot be listed for less than a full
	// read, so their refresh is a full read.
	ByPrefix bool
	// Note says what the count rests on.
	Note string
}

// Costs is what a store publishes of its calls, for omsecrets plan and
// the quota metric: the quotas of the
// operation a full read uses and of the one its change detection uses
// (if it has one), and how that change detection refreshes.
type Costs struct {
	Fetch Quota
	List  *Quota
	// Refresh is the zero Refresh for a store without change detection:
	// every refresh is a full read.
	Refresh RefreshCost
	// Note adds what the numbers leave out (other tiers, fallbacks).
	Note string
}

// FetchPerSecond returns the published quota, in calls per second, of
// the operation the store's full reads use; ok is false when there is
// none (or c is nil: a store that makes no remote call).
func (c *Costs) FetchPerSecond() (perSecond float64, ok bool) {
	if c == nil || c.Fetch.PerSecond <= 0 {
		return 0, false
	}
	return c.Fetch.PerSecond, true
}

// ListPerSecond returns the published quota, in calls per second, of the
// operation the store's change detection uses; ok is false when there is
// none or none is known.
func (c *Costs) ListPerSecond() (perSecond float64, ok bool) {
	if c == nil || c.List == nil || c.List.PerSecond <= 0 {
		return 0, false
	}
	return c.List.PerSecond, true
}
