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
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	c, err := awsconfig.Open(ctx, Name, cfg)
	if err != nil {
		return nil, err
	}
	return New(c.AWS, Options{Endpoint: c.Endpoints.SSM, Logger: cfg.Logger}), nil
}
