// Package awsconfig builds the aws.Config of the AWS stores (resolver/awssm
// and resolver/awsssm) from their region setting and an explicit
// environment, so that the CLI passes its environment in and tests run in
// parallel without touching the process's. Both stores' Spec.Open call
// Open; Region is their shared setting.
//
// # Region
//
// The Region setting (cmd fills it from AWS_REGION, AWS_DEFAULT_REGION or
// AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION, the variable form of
// OpenMetadata's airflow.cfg [openmetadata_secrets_manager] aws_region).
// Without one, Open returns a *resolver.NotConfiguredError; a value that
// is not a DNS label is an error.
//
// # Credentials
//
// The first of:
//
//  1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with AWS_SESSION_TOKEN
//     if set, as static credentials;
//  2. AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID and
//     AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY (the
//     names OpenMetadata's Airflow side reads), as static credentials;
//  3. web identity (IRSA, EKS Pod Identity's OIDC, any OIDC federation):
//     AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, and
//     AWS_ROLE_SESSION_NAME if set. STS AssumeRoleWithWebIdentity is called
//     at the STS endpoint below; the credentials are cached until they
//     expire, and the token file is read again at each refresh, so a
//     rotated token is used at the next one, through internal/safefile
//     (regular files only, never blocking on a FIFO). A token file that is
//     a FIFO, a device or a directory when the store is opened is an error
//     naming the variable; one that cannot be read at a refresh, is empty,
//     is not a regular file or is larger than MaxTokenSize fails the call
//     with resolver.ErrPermission;
//  4. otherwise the SDK's chain from the shared config and credentials
//     files (AWS_PROFILE, else the default profile; AWS_CONFIG_FILE and
//     AWS_SHARED_CREDENTIALS_FILE), then ECS container credentials and EC2
//     instance metadata. The profile (AWS_PROFILE, else the default
//     profile if the files have one) is given to the SDK explicitly, which
//     makes it skip the credential and web identity variables, and the
//     AWS_PROFILE, of the process environment: those are read from env
//     only. A profile's own web_identity_token_file is read as in 3, and
//     the STS calls of a profile (web identity or role_arn) go to the STS
//     endpoint when env names one.
//
// This is the SDK's order (config.resolveCredentialChain: environment keys,
// then the environment's web identity, then the profile), with
// OpenMetadata's keys after the SDK's. An empty variable counts as unset
// (OpenMetadata's loader defaults the Airflow keys to ""). A key id
// without its secret, or a token file without a role, is an error naming
// the variables, never their values. A role without a token file is left
// to the chain, as the SDK does.
//
// The SDK itself still reads, from the process environment, the settings
// of the ECS and EC2 providers (AWS_CONTAINER_CREDENTIALS_*,
// AWS_EC2_METADATA_*), of FIPS and dual-stack endpoints, the endpoint
// settings of a profile's own STS calls when env names no STS endpoint,
// and, when env names no profile and the files have no default one, the
// credential variables and AWS_PROFILE (a named profile must exist, and
// the SDK has no way to give it "no profile"). The CLI passes that same
// environment, so the two agree in production.
//
// # Endpoints
//
// AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL, for Secrets
// Manager; AWS_ENDPOINT_URL_SSM, else AWS_ENDPOINT_URL, for Parameter
// Store; AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, for STS; none if
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is "true". This is the precedence of
// the AWS SDKs' "service-specific endpoints" setting. Secrets Manager's and
// Parameter Store's are returned in Endpoints for the stores'
// Options.Endpoint. STS's is set on the web identity client of 3 (none
// means the regional STS endpoint, whatever the process environment says).
// The SDK builds the STS clients of its own chain before it reads
// AWS_ENDPOINT_URL, so without this they would call the public STS
// endpoint. Errors name the variable, never the URL, which may hold
// userinfo.
//
// # Retries and timeouts
//
// The config's retryer, and the web identity STS client's, make one
// attempt per call (aws.NopRetryer): the resolver does all retrying. The
// HTTP client gives up on a request after DefaultHTTPTimeout.
//
// The package owns only this translation from settings and environment
// to config, and Open's one debug line. It does not build the stores or
// read omsecrets' own configuration. It lives under resolver/internal so
// that only the resolver tree can import it.
package awsconfig
