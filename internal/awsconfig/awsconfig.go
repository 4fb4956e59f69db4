package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables Load reads.
const (
	EnvRegion                 = "AWS_REGION"
	EnvDefaultRegion          = "AWS_DEFAULT_REGION"
	EnvAirflowRegion          = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION"
	EnvAccessKeyID            = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey        = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken           = "AWS_SESSION_TOKEN"
	EnvAirflowAccessKeyID     = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID"
	EnvAirflowSecretAccessKey = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY"
	EnvProfile                = "AWS_PROFILE"
	EnvConfigFile             = "AWS_CONFIG_FILE"
	EnvSharedCredentialsFile  = "AWS_SHARED_CREDENTIALS_FILE"
	EnvEndpointURL            = "AWS_ENDPOINT_URL"
	EnvEndpointURLSecrets     = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	EnvEndpointURLSSM         = "AWS_ENDPOINT_URL_SSM"
	EnvIgnoreEndpointURLs     = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// DefaultHTTPTimeout bounds one HTTP request to AWS, connection and answer
// included. Callers' contexts usually end sooner.
const DefaultHTTPTimeout = 30 * time.Second

// ErrNoRegion is returned by Load when the environment names no region.
var ErrNoRegion = errors.New("no AWS region")

// Endpoints are the service endpoint URLs the environment asks for; an
// empty one means the SDK's own resolution.
type Endpoints struct {
	// SecretsManager is for resolver/awssm's Options.Endpoint.
	SecretsManager string
	// SSM is for resolver/awsssm's Options.Endpoint.
	SSM string
}

// Load builds an aws.Config from env (variable name to value; see the
// package documentation for the variables and their precedence) and
// returns the service endpoints env asks for. Credentials are not fetched
// yet: a missing or wrong credential shows on the first call.
func Load(ctx context.Context, env map[string]string) (aws.Config, Endpoints, error) {
	region := firstSet(env, EnvRegion, EnvDefaultRegion, EnvAirflowRegion)
	if region == "" {
		return aws.Config{}, Endpoints{}, fmt.Errorf("%w: set %s, %s or %s", ErrNoRegion, EnvRegion, EnvDefaultRegion, EnvAirflowRegion)
	}
	eps, err := endpoints(env)
	if err != nil {
		return aws.Config{}, Endpoints{}, err
	}
	creds, err := staticCredentials(env)
	if err != nil {
		return aws.Config{}, Endpoints{}, err
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(DefaultHTTPTimeout)),
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	// Only when set: a profile given programmatically makes the SDK skip
	// environment credentials and web identity in its chain.
	if v := get(env, EnvProfile); v != "" {
		opts = append(opts, config.WithSharedConfigProfile(v))
	}
	if v := get(env, EnvConfigFile); v != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{v}))
	}
	if v := get(env, EnvSharedCredentialsFile); v != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{v}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, Endpoints{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, eps, nil
}

// CredentialSource names where Load takes credentials from in env, for a
// startup log line: the variable names or "SDK default chain". It never
// returns a value.
func CredentialSource(env map[string]string) string {
	switch {
	case get(env, EnvAccessKeyID) != "" || get(env, EnvSecretAccessKey) != "":
		if get(env, EnvSessionToken) != "" {
			return EnvAccessKeyID + ", " + EnvSecretAccessKey + ", " + EnvSessionToken
		}
		return EnvAccessKeyID + ", " + EnvSecretAccessKey
	case get(env, EnvAirflowAccessKeyID) != "" || get(env, EnvAirflowSecretAccessKey) != "":
		return EnvAirflowAccessKeyID + ", " + EnvAirflowSecretAccessKey
	case get(env, EnvProfile) != "":
		return "SDK default chain, profile from " + EnvProfile
	default:
		return "SDK default chain"
	}
}

// staticCredentials returns the static credentials env holds, or nil for
// the SDK's default chain.
func staticCredentials(env map[string]string) (aws.CredentialsProvider, error) {
	for _, pair := range [][2]string{{EnvAccessKeyID, EnvSecretAccessKey}, {EnvAirflowAccessKeyID, EnvAirflowSecretAccessKey}} {
		id, secret := get(env, pair[0]), get(env, pair[1])
		switch {
		case id == "" && secret == "":
			continue
		case id == "":
			return nil, fmt.Errorf("%s is set but %s is not", pair[1], pair[0])
		case secret == "":
			return nil, fmt.Errorf("%s is set but %s is not", pair[0], pair[1])
		}
		token := ""
		if pair[0] == EnvAccessKeyID {
			token = get(env, EnvSessionToken)
		}
		return credentials.NewStaticCredentialsProvider(id, secret, token), nil
	}
	return nil, nil
}

// endpoints returns the endpoint URLs env asks for.
func endpoints(env map[string]string) (Endpoints, error) {
	if strings.EqualFold(get(env, EnvIgnoreEndpointURLs), "true") {
		return Endpoints{}, nil
	}
	var eps Endpoints
	for _, e := range []struct {
		dst   *string
		names []string
	}{
		{&eps.SecretsManager, []string{EnvEndpointURLSecrets, EnvEndpointURL}},
		{&eps.SSM, []string{EnvEndpointURLSSM, EnvEndpointURL}},
	} {
		for _, name := range e.names {
			v := get(env, name)
			if v == "" {
				continue
			}
			u, err := parseEndpoint(v)
			if err != nil {
				return Endpoints{}, fmt.Errorf("%s: %w", name, err)
			}
			*e.dst = u
			break
		}
	}
	return eps, nil
}

// parseEndpoint checks that v is an absolute http or https URL with a host
// and returns it. Its errors do not quote v, which may hold userinfo.
func parseEndpoint(v string) (string, error) {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "", errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("endpoint URL must start with http:// or https://")
	case u.Host == "" || u.Opaque != "":
		return "", errors.New("endpoint URL has no host")
	}
	return v, nil
}

// firstSet returns the value of the first of names that is set in env.
func firstSet(env map[string]string, names ...string) string {
	for _, n := range names {
		if v := get(env, n); v != "" {
			return v
		}
	}
	return ""
}

// get returns env[name] without surrounding spaces.
func get(env map[string]string, name string) string {
	return strings.TrimSpace(env[name])
}
