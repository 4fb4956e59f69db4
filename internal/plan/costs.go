package plan

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

// Refresh is how a store's change detection refreshes the ids it read,
// for the model of a refresh's calls.
type Refresh struct {
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

// Costs is what plan knows of one store's calls: the quotas of the
// operation a full read uses and of the one its change detection uses
// (if it has one), and how that change detection refreshes.
type Costs struct {
	Fetch Quota
	List  *Quota
	// Refresh is the zero Refresh for a store without change detection:
	// every refresh is a full read.
	Refresh Refresh
	// Note adds what the numbers leave out (other tiers, fallbacks).
	Note string
}

// StoreCosts are the costs by store name (resolver.Spec.Name), the
// quotas as checked on 2026-12-02. They change: each quota names its
// source. Stores that make no remote call (db, env, file) have no entry:
// the plan calls them local. The table is the whole of what this package
// knows of stores by name; the rest (names, batch sizes) comes from the
// specs the caller passes.
var StoreCosts = map[string]Costs{
	"aws": {
		// AWS Secrets Manager quotas, "Rate of BatchGetSecretValue API
		// requests: Each supported Region: 100 per second, not
		// adjustable" (read in the page's zh_tw translation; the English
		// page lists the same table).
		Fetch: Quota{
			Operation: "BatchGetSecretValue",
			PerSecond: 100,
			Published: "100 per second",
			Scope:     "account and Region",
			Source:    "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html",
			Confirmed: true,
		},
		// "The request rate for the ListSecrets API operation has been
		// increased to 100 requests per second" (AWS What's New,
		// 2022-11-11, read in its Chinese edition).
		List: &Quota{
			Operation: "ListSecrets",
			PerSecond: 100,
			Published: "100 per second",
			Scope:     "account and Region",
			Source:    "https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits/",
			Confirmed: true,
		},
		// ListSecrets MaxResults.
		Refresh: Refresh{
			Operation: "ListSecrets",
			PerPage:   100,
			ByPrefix:  true,
			Note:      "ListSecrets, 100 per page, filtered by the ids' name prefix: ceil(ids/100) when the prefix holds only these secrets (others under it add pages, never beyond a full read); plus the changed ids' BatchGetSecretValue calls",
		},
		Note: "a policy without secretsmanager:BatchGetSecretValue makes omsecrets fall back to GetSecretValue, one call per id: 10,000 per second combined with DescribeSecret",
	},
	"aws-ssm": {
		// Standard throughput: 40 transactions per second shared by
		// GetParameter, GetParameters and GetParametersByPath. AWS's
		// quota page (general/latest/gr/ssm.html) was not among the
		// pages searched; the number is as a Classmethod article quotes
		// that page, and as the store's default client-side limit
		// assumes. AWS's throughput page confirms the standard/higher
		// split without the numbers.
		Fetch: Quota{
			Operation: "GetParameters",
			PerSecond: 40,
			Published: "40 per second (standard throughput, shared with GetParameter and GetParametersByPath)",
			Scope:     "account and Region",
			Source:    "https://docs.aws.amazon.com/general/latest/gr/ssm.html",
			Confirmed: true,
		},
		// Unconfirmed: no page searched gives DescribeParameters' rate;
		// AWS's throttling article names the operation as throttled per
		// account and Region without a number.
		List: &Quota{
			Operation: "DescribeParameters",
			Published: "no published rate found (AWS throttles it per account and Region)",
			Source:    "https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded",
		},
		// DescribeParameters MaxResults.
		Refresh: Refresh{
			Operation: "DescribeParameters",
			PerPage:   50,
			ByPrefix:  true,
			Note:      "DescribeParameters, 50 per page, filtered by the ids' name prefix: ceil(ids/50) when the prefix holds only these parameters (others under it add pages, never beyond a full read); plus the changed ids' GetParameters calls",
		},
		// Unconfirmed: higher throughput is quoted as 3,000 per second
		// for GetParameter and GetParameters in 2022; the current figure
		// may be higher.
		Note: "higher throughput (a paid account setting) raises GetParameter/GetParameters to 3,000 per second or more (unconfirmed)",
	},
	"azure-kv": {
		// "Secrets, managed storage account keys, and vault
		// transactions: All transactions 4,000 per 10 seconds, per vault
		// per region"; a subscription-wide limit is five times that.
		Fetch: Quota{
			Operation: "GetSecret",
			PerSecond: 400,
			Published: "4,000 per 10 seconds",
			Scope:     "vault and region (the subscription: 5 times that)",
			Source:    "https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits",
			Confirmed: true,
		},
		// Get Secrets maxresults; the list is of the whole vault.
		Refresh: Refresh{
			Operation: "GetSecrets",
			PerPage:   25,
			Note:      "Get Secrets (list), 25 per page over the whole vault: ceil(ids/25) when the vault holds only these secrets (others add pages, never beyond a full read); plus the changed ids' GetSecret calls",
		},
	},
	"gcp": {
		// "Access request: 90,000 per minute per project" (an access
		// request is any call of the access method).
		Fetch: Quota{
			Operation: "AccessSecretVersion",
			PerSecond: 1500,
			Published: "90,000 per minute",
			Scope:     "project",
			Source:    "https://cloud.google.com/secret-manager/quotas",
			Confirmed: true,
		},
	},
	"kubernetes": {
		Fetch: Quota{
			Operation: "GET Secret",
			Published: "none published: API Priority and Fairness limits are the cluster operator's",
			Source:    "https://kubernetes.io/docs/concepts/cluster-administration/flow-control/",
			Confirmed: true,
		},
		Refresh: Refresh{
			Operation: "watch",
			Note:      "0 while the store's watches hold (each Secret it read is watched); a watch that is refused leaves its Secrets to full reads",
		},
	},
	"vault": {
		Fetch: Quota{
			Operation: "KV read",
			Published: "none published: rate limit quotas are the Vault operator's",
			Source:    "https://developer.hashicorp.com/vault/docs/concepts/resource-quotas",
			Confirmed: true,
		},
	},
}

// PublishedQuota returns the published quota, in calls per second, of the
// operation store's full reads use; ok is false when there is none.
func PublishedQuota(store string) (perSecond float64, ok bool) {
	c, found := StoreCosts[store]
	if !found || c.Fetch.PerSecond <= 0 {
		return 0, false
	}
	return c.Fetch.PerSecond, true
}

// ListQuota returns the published quota, in calls per second, of the
// operation store's change detection uses; ok is false when there is
// none or none is known.
func ListQuota(store string) (perSecond float64, ok bool) {
	c, found := StoreCosts[store]
	if !found || c.List == nil || c.List.PerSecond <= 0 {
		return 0, false
	}
	return c.List.PerSecond, true
}
