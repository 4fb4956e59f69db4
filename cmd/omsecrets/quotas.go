package main

// quota is a store's published request quota for one operation: what a
// whole fleet of sidecars shares, whatever each sidecar's own client-side
// rate limit (--rate-limits) is.
type quota struct {
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

// storeQuotas are the quotas of one store: of the operation a full read
// uses, and of the one its change detection uses (list), if it has one.
type storeQuotas struct {
	fetch quota
	list  *quota
	// note adds what the numbers leave out (other tiers, fallbacks).
	note string
}

// quotas are the published quotas by store name, as checked on
// 2026-12-02. They change: each row names its source. Stores that make
// no remote call (db, env, file) have no row.
var quotas = map[string]storeQuotas{
	"aws": {
		// AWS Secrets Manager quotas, "Rate of BatchGetSecretValue API
		// requests: Each supported Region: 100 per second, not
		// adjustable" (read in the page's zh_tw translation; the English
		// page lists the same table).
		fetch: quota{
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
		list: &quota{
			Operation: "ListSecrets",
			PerSecond: 100,
			Published: "100 per second",
			Scope:     "account and Region",
			Source:    "https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits/",
			Confirmed: true,
		},
		note: "a policy without secretsmanager:BatchGetSecretValue makes omsecrets fall back to GetSecretValue, one call per id: 10,000 per second combined with DescribeSecret",
	},
	"aws-ssm": {
		// Standard throughput: 40 transactions per second shared by
		// GetParameter, GetParameters and GetParametersByPath. AWS's
		// quota page (general/latest/gr/ssm.html) was not among the
		// pages searched; the number is as a Classmethod article quotes
		// that page, and as the store's default client-side limit
		// assumes. AWS's throughput page confirms the standard/higher
		// split without the numbers.
		fetch: quota{
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
		list: &quota{
			Operation: "DescribeParameters",
			Published: "no published rate found (AWS throttles it per account and Region)",
			Source:    "https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded",
		},
		// Unconfirmed: higher throughput is quoted as 3,000 per second
		// for GetParameter and GetParameters in 2022; the current figure
		// may be higher.
		note: "higher throughput (a paid account setting) raises GetParameter/GetParameters to 3,000 per second or more (unconfirmed)",
	},
	"azure-kv": {
		// "Secrets, managed storage account keys, and vault
		// transactions: All transactions 4,000 per 10 seconds, per vault
		// per region"; a subscription-wide limit is five times that.
		fetch: quota{
			Operation: "GetSecret",
			PerSecond: 400,
			Published: "4,000 per 10 seconds",
			Scope:     "vault and region (the subscription: 5 times that)",
			Source:    "https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits",
			Confirmed: true,
		},
	},
	"gcp": {
		// "Access request: 90,000 per minute per project" (an access
		// request is any call of the access method).
		fetch: quota{
			Operation: "AccessSecretVersion",
			PerSecond: 1500,
			Published: "90,000 per minute",
			Scope:     "project",
			Source:    "https://cloud.google.com/secret-manager/quotas",
			Confirmed: true,
		},
	},
	"kubernetes": {
		fetch: quota{
			Operation: "GET Secret",
			Published: "none published: API Priority and Fairness limits are the cluster operator's",
			Source:    "https://kubernetes.io/docs/concepts/cluster-administration/flow-control/",
			Confirmed: true,
		},
	},
	"vault": {
		fetch: quota{
			Operation: "KV read",
			Published: "none published: rate limit quotas are the Vault operator's",
			Source:    "https://developer.hashicorp.com/vault/docs/concepts/resource-quotas",
			Confirmed: true,
		},
	},
}

// publishedQuota returns the published quota, in calls per second, of the
// operation store's full reads use; ok is false when there is none.
func publishedQuota(store string) (perSecond float64, ok bool) {
	q, found := quotas[store]
	if !found || q.fetch.PerSecond <= 0 {
		return 0, false
	}
	return q.fetch.PerSecond, true
}

// listQuota returns the published quota, in calls per second, of the
// operation store's change detection uses; ok is false when there is
// none or none is known.
func listQuota(store string) (perSecond float64, ok bool) {
	q, found := quotas[store]
	if !found || q.list == nil || q.list.PerSecond <= 0 {
		return 0, false
	}
	return q.list.PerSecond, true
}
