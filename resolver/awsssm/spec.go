package awsssm

import (
	"context"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awsconfig"
)

// Name is the store's name.
const Name = "aws-ssm"

// Spec describes the Parameter Store store to the store table: on when the
// AWS region (awsconfig.Region, shared with aws) is set; credentials and
// endpoints come from StoreConfig.Env (see resolver/internal/awsconfig).
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{"aws-ssm", "managed-aws-ssm"},
	Summary:   "AWS SSM Parameter Store",
	Settings:  []resolver.Setting{awsconfig.Region},
	// One token per Get or GetBatch call. Parameter Store's standard
	// throughput is 40 transactions per second shared by GetParameter,
	// GetParameters and PutParameter per account and region (Systems
	// Manager user guide, "Changing Parameter Store throughput"; service
	// quotas): the rate is that quota, and the burst one batch.
	Limit:     resolver.Limit{Rate: 40, Burst: 10},
	BatchSize: MaxBatch,
	Open:      open,
	Costs:     costs,
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	c, err := awsconfig.Open(ctx, Name, cfg)
	if err != nil {
		return nil, err
	}
	return New(c.AWS, Options{Endpoint: c.Endpoints.SSM, Logger: cfg.Logger}), nil
}

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	// Standard throughput: 40 transactions per second shared by
	// GetParameter, GetParameters and GetParametersByPath. AWS's
	// quota page (general/latest/gr/ssm.html) was not among the
	// pages searched; the number is as a Classmethod article quotes
	// that page, and as the store's default client-side limit
	// assumes. AWS's throughput page confirms the standard/higher
	// split without the numbers.
	Fetch: resolver.Quota{
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
	List: &resolver.Quota{
		Operation: "DescribeParameters",
		Published: "no published rate found (AWS throttles it per account and Region)",
		Source:    "https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded",
	},
	// DescribeParameters MaxResults.
	Refresh: resolver.RefreshCost{
		Operation: "DescribeParameters",
		PerPage:   50,
		ByPrefix:  true,
		Note:      "DescribeParameters, 50 per page, filtered by the ids' name prefix: ceil(ids/50) when the prefix holds only these parameters (others under it add pages, never beyond a full read); plus the changed ids' GetParameters calls",
	},
	// Unconfirmed: higher throughput is quoted as 3,000 per second
	// for GetParameter and GetParameters in 2022; the current figure
	// may be higher.
	Note: "higher throughput (a paid account setting) raises GetParameter/GetParameters to 3,000 per second or more (unconfirmed)",
}
