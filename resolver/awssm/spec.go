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
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	c, err := awsconfig.Open(ctx, Name, cfg)
	if err != nil {
		return nil, err
	}
	return New(c.AWS, Options{Endpoint: c.Endpoints.SecretsManager, Logger: cfg.Logger}), nil
}
