// Package awsconfig builds the aws.Config for the AWS stores (resolver/awssm
// and resolver/awsssm) from an explicit environment, so that the CLI can
// pass its environment in and tests can run in parallel without touching
// the process's.
//
// # Region
//
// The first non-empty of AWS_REGION, AWS_DEFAULT_REGION and
// AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION (the variable form of
// OpenMetadata's airflow.cfg [openmetadata_secrets_manager] aws_region, read
// by its "airflow" secrets manager loader). Without one, Load fails with
// ErrNoRegion.
//
// # Credentials
//
// In this order:
//
//  1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with AWS_SESSION_TOKEN
//     if set, as static credentials;
//  2. AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID and
//     AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY (the
//     names OpenMetadata's Airflow side reads), as static credentials;
//  3. otherwise the SDK's default chain: the shared config and credentials
//     files (AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE
//     are taken from the given environment), web identity (IRSA), ECS
//     container credentials and EC2 instance metadata. The SDK reads the
//     settings of those last three (AWS_WEB_IDENTITY_TOKEN_FILE,
//     AWS_ROLE_ARN, AWS_CONTAINER_CREDENTIALS_*, AWS_EC2_METADATA_*) from
//     the process environment itself; the CLI passes that same
//     environment, so the two agree in production.
//
// An empty variable counts as unset (OpenMetadata's loader defaults the
// Airflow keys to ""). A key id without its secret, or the reverse, is an
// error naming the variables, never their values.
//
// # Endpoints
//
// AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL, for Secrets
// Manager; AWS_ENDPOINT_URL_SSM, else AWS_ENDPOINT_URL, for Parameter
// Store; none if AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is "true". They are
// returned in Endpoints for the stores' Options.Endpoint, which wins over
// anything the SDK finds on its own.
//
// # Retries and timeouts
//
// The config's retryer makes one attempt per call (aws.NopRetryer): the
// resolver does all retrying. Its HTTP client gives up on a request after
// DefaultHTTPTimeout.
//
// The package owns only this translation from environment to config. It
// does not build the stores, read omsecrets' own configuration, or log.
package awsconfig
