package awssm

import (
	"context"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awsconfig"
)

// Name is the store's name.
const Name = "aws"

// Spec describes the Secrets Manager store to the store table: on when the
// AWS region (awsconfig.Region, shared with aws-ssm) is set; credentials
// and endpoints come from StoreConfig.Env (see resolver/internal/awsconfig).
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{"aws", "managed-aws"},
	Summary:   "AWS Secrets Manager",
	Settings:  []resolver.Setting{awsconfig.Region},
	// One token per Get or GetBatch call. The published quotas (Secrets
	// Manager user guide, "AWS Secrets Manager quotas") are 100
	// BatchGetSecretValue requests per second and 10,000 GetSecretValue
	// and DescribeSecret requests per second combined, per account and
	// region: the rate is the stricter one, the batch quota, and the
	// burst one batch.
	Limit:     resolver.Limit{Rate: 100, Burst: 20},
	BatchSize: MaxBatch,
	Open:      open,
	Costs:     costs,
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	c, err := awsconfig.Open(ctx, Name, cfg)
	if err != nil {
		return nil, err
	}
	return New(c.AWS, Options{Endpoint: c.Endpoints.SecretsManager, Logger: cfg.Logger}), nil
}

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	// AWS Secrets Manager quotas, "Rate of BatchGetSecretValue API
	// requests: Each supported Region: 100 per second, not
	// adjustable" (read in the page's zh_tw translation; the English
	// page lists the same table).
	Fetch: resolver.Quota{
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
	List: &resolver.Quota{
		Operation: "ListSecrets",
		PerSecond: 100,
		Published: "100 per second",
		Scope:     "account and Region",
		Source:    "https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits/",
		Confirmed: true,
	},
	// ListSecrets MaxResults.
	Refresh: resolver.RefreshCost{
		Operation: "ListSecrets",
		PerPage:   100,
		ByPrefix:  true,
		Note:      "ListSecrets, 100 per page, filtered by the ids' name prefix: ceil(ids/100) when the prefix holds only these secrets (others under it add pages, never beyond a full read); plus the changed ids' BatchGetSecretValue calls",
	},
	Note: "a policy without secretsmanager:BatchGetSecretValue makes omsecrets fall back to GetSecretValue, one call per id: 10,000 per second combined with DescribeSecret",
}
