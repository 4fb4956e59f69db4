package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
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
	EnvWebIdentityTokenFile   = "AWS_WEB_IDENTITY_TOKEN_FILE"
	EnvRoleARN                = "AWS_ROLE_ARN"
	EnvRoleSessionName        = "AWS_ROLE_SESSION_NAME"
	EnvProfile                = "AWS_PROFILE"
	EnvConfigFile             = "AWS_CONFIG_FILE"
	EnvSharedCredentialsFile  = "AWS_SHARED_CREDENTIALS_FILE"
	EnvEndpointURL            = "AWS_ENDPOINT_URL"
	EnvEndpointURLSecrets     = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	EnvEndpointURLSSM         = "AWS_ENDPOINT_URL_SSM"
	EnvEndpointURLSTS         = "AWS_ENDPOINT_URL_STS"
	EnvIgnoreEndpointURLs     = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// Region is the setting both AWS stores take their region from. It is one
// value so that the two stores cannot disagree on its name or variables;
// without a region neither store is built.
var Region = resolver.Setting{
	Name:  "aws-region",
	Env:   []string{EnvRegion, EnvDefaultRegion, EnvAirflowRegion},
	Usage: "AWS region of Secrets Manager and Parameter Store; the aws and aws-ssm stores are off without one",
}

// DefaultHTTPTimeout bounds one HTTP request to AWS, connection and answer
// included. Callers' contexts usually end sooner.
const DefaultHTTPTimeout = 30 * time.Second

// MaxTokenSize is the largest web identity token file read: the longest
// WebIdentityToken AssumeRoleWithWebIdentity takes (STS API reference,
// "Maximum length of 20000").
const MaxTokenSize = 20000

// defaultProfile is the shared config profile the SDK uses when none is
// named.
const defaultProfile = "default"

// Endpoints are the service endpoint URLs the environment asks for; an
// empty one means the SDK's own resolution.
type Endpoints struct {
	// SecretsManager is for resolver/awssm's Options.Endpoint.
	SecretsManager string
	// SSM is for resolver/awsssm's Options.Endpoint.
	SSM string
	// STS is where the credential providers call STS.
	STS string
}

// Config is an AWS store's configuration, as Load builds it.
type Config struct {
	// AWS is the SDK configuration: region, credentials, HTTP client and
	// a retryer that makes one attempt per call.
	AWS aws.Config
	// Endpoints are the endpoints of the store clients.
	Endpoints Endpoints
	// Credentials names where the credentials come from, for a log line
	// (see CredentialSource); never a value.
	Credentials string
}

// Open loads the configuration of the AWS store named store from cfg: the
// region from cfg.Settings[Region.Name], everything else from cfg.Env
// (see Load). Without a region it returns a *resolver.NotConfiguredError.
// It logs the region and the credential source at debug level on
// cfg.Logger (slog.Default if nil).
func Open(ctx context.Context, store string, cfg resolver.StoreConfig) (Config, error) {
	region := strings.TrimSpace(cfg.Settings[Region.Name])
	if region == "" {
		return Config{}, &resolver.NotConfiguredError{Store: store, Need: []string{Region.Name}}
	}
	c, err := Load(ctx, region, cfg.Env)
	if err != nil {
		return Config{}, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Debug("store configured", "region", c.AWS.Region, "credentials", c.Credentials)
	return c, nil
}

// Load builds the configuration for region from env (variable name to
// value; see the package documentation for the variables and their
// precedence). Credentials are not fetched yet: a missing or wrong
// credential shows on the first call.
func Load(ctx context.Context, region string, env map[string]string) (Config, error) {
	if err := checkRegion(region); err != nil {
		return Config{}, err
	}
	eps, err := endpoints(env)
	if err != nil {
		return Config{}, err
	}
	src, err := credentialsFrom(env)
	if err != nil {
		return Config{}, err
	}

	httpClient := awshttp.NewBuildableClient().WithTimeout(DefaultHTTPTimeout)
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithHTTPClient(httpClient),
	}
	if v := get(env, EnvConfigFile); v != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{v}))
	}
	if v := get(env, EnvSharedCredentialsFile); v != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{v}))
	}
	switch {
	case src.static != nil:
		opts = append(opts, config.WithCredentialsProvider(src.static))
	case src.webIdentity != nil:
		// Replaced below, once the config the STS client is built
		// from exists; set so that the SDK builds no chain of its own.
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	default:
		opts = append(opts,
			config.WithWebIdentityRoleCredentialOptions(profileWebIdentity(eps.STS)),
			config.WithAssumeRoleCredentialOptions(profileAssumeRole(eps.STS)),
		)
	}
	cfg, err := loadWithProfile(ctx, get(env, EnvProfile), opts)
	if err != nil {
		return Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if wi := src.webIdentity; wi != nil {
		cfg.Credentials = wi.provider(cfg, eps.STS)
	}
	return Config{AWS: cfg, Endpoints: eps, Credentials: src.name}, nil
}

// loadWithProfile loads the SDK's config with opts and the shared config
// profile named profile, else the default profile. Giving the SDK the
// profile, even the default one, makes its chain skip the static and web
// identity variables of the process environment, which are env's to set
// and were not set there; and it makes the SDK ignore the process's
// AWS_PROFILE. A named profile must exist, as with the SDK; the default
// one need not, and if it does not exist, the config is loaded as the SDK
// does on its own.
func loadWithProfile(ctx context.Context, profile string, opts []func(*config.LoadOptions) error) (aws.Config, error) {
	named := profile != ""
	if !named {
		profile = defaultProfile
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, config.WithSharedConfigProfile(profile))...)
	var missing config.SharedConfigProfileNotExistError
	if !named && errors.As(err, &missing) {
		return config.LoadDefaultConfig(ctx, opts...)
	}
	return cfg, err
}

// CredentialSource names where Load takes credentials from in env, for a
// log line: the variable names or "SDK default chain". It never returns a
// value.
func CredentialSource(env map[string]string) string {
	src, err := credentialsFrom(env)
	if err != nil {
		return "invalid"
	}
	return src.name
}

// source is where the credentials of one environment come from: static
// keys, web identity, or (both nil) the SDK's chain.
type source struct {
	name        string
	static      aws.CredentialsProvider
	webIdentity *webIdentity
}

// credentialsFrom picks the credentials env gives, in the order of the
// package documentation: the SDK's own for its variables (static keys
// before web identity), with OpenMetadata's Airflow keys after the
// SDK's static keys.
func credentialsFrom(env map[string]string) (source, error) {
	for _, pair := range [][2]string{{EnvAccessKeyID, EnvSecretAccessKey}, {EnvAirflowAccessKeyID, EnvAirflowSecretAccessKey}} {
		id, secret := get(env, pair[0]), get(env, pair[1])
		switch {
		case id == "" && secret == "":
			continue
		case id == "":
			return source{}, fmt.Errorf("%s is set but %s is not", pair[1], pair[0])
		case secret == "":
			return source{}, fmt.Errorf("%s is set but %s is not", pair[0], pair[1])
		}
		name := pair[0] + ", " + pair[1]
		token := ""
		if pair[0] == EnvAccessKeyID {
			if token = get(env, EnvSessionToken); token != "" {
				name += ", " + EnvSessionToken
			}
		}
		return source{name: name, static: credentials.NewStaticCredentialsProvider(id, secret, token)}, nil
	}
	// As the SDK: a token file needs a role; a role without a token file
	// is left to the chain.
	if file := get(env, EnvWebIdentityTokenFile); file != "" {
		role := get(env, EnvRoleARN)
		if role == "" {
			return source{}, fmt.Errorf("%s is set but %s is not", EnvWebIdentityTokenFile, EnvRoleARN)
		}
		// A FIFO, a device or a directory is a configuration fault, said
		// at once; a file missing now may still be mounted, and fails the
		// calls until it is (tokenFile).
		if fi, err := os.Stat(file); err == nil && !fi.Mode().IsRegular() {
			return source{}, fmt.Errorf("%s %s is %s, not a regular file", EnvWebIdentityTokenFile, file, safefile.Kind(fi.Mode()))
		}
		return source{
			name:        EnvWebIdentityTokenFile + ", " + EnvRoleARN + " (web identity)",
			webIdentity: &webIdentity{tokenFile: tokenFile(file), roleARN: role, sessionName: get(env, EnvRoleSessionName)},
		}, nil
	}
	if get(env, EnvProfile) != "" {
		return source{name: "SDK default chain, profile from " + EnvProfile}, nil
	}
	return source{name: "SDK default chain"}, nil
}

// webIdentity is what AssumeRoleWithWebIdentity needs, from the
// environment.
type webIdentity struct {
	tokenFile   tokenFile
	roleARN     string
	sessionName string
}

// provider returns the cached web identity credentials, calling STS at
// endpoint (the SDK's regional endpoint if "") with a client built from
// cfg that makes one attempt per call.
func (w *webIdentity) provider(cfg aws.Config, endpoint string) aws.CredentialsProvider {
	client := sts.NewFromConfig(OneAttempt(cfg), func(o *sts.Options) {
		// Set even when empty, so that nothing the SDK finds in the
		// process environment overrides env.
		o.BaseEndpoint = nil
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(client, w.roleARN, w.tokenFile, func(o *stscreds.WebIdentityRoleOptions) {
		// Empty: the provider makes one up, as the SDK's chain does.
		o.RoleSessionName = w.sessionName
		o.CredentialSources = []aws.CredentialSource{aws.CredentialSourceEnvVarsSTSWebIDToken, aws.CredentialSourceSTSAssumeRoleWebID}
	}))
}

// profileWebIdentity adjusts the web identity provider the SDK builds for
// a profile with web_identity_token_file: the token file is read as
// tokenFile does, and STS is called at endpoint if set.
func profileWebIdentity(endpoint string) func(*stscreds.WebIdentityRoleOptions) {
	return func(o *stscreds.WebIdentityRoleOptions) {
		if f, ok := o.TokenRetriever.(stscreds.IdentityTokenFile); ok {
			o.TokenRetriever = tokenFile(f)
		}
		if _, done := o.Client.(webIdentityAt); endpoint != "" && o.Client != nil && !done {
			o.Client = webIdentityAt{api: o.Client, endpoint: endpoint}
		}
	}
}

// profileAssumeRole adjusts the assume-role provider the SDK builds for a
// profile with role_arn: STS is called at endpoint if set.
func profileAssumeRole(endpoint string) func(*stscreds.AssumeRoleOptions) {
	return func(o *stscreds.AssumeRoleOptions) {
		if _, done := o.Client.(assumeRoleAt); endpoint != "" && o.Client != nil && !done {
			o.Client = assumeRoleAt{api: o.Client, endpoint: endpoint}
		}
	}
}

// OneAttempt returns cfg set for clients that make one attempt per call,
// whatever it said about retries: the resolver retries, and a retrying
// client would multiply its calls unseen. RetryMaxAttempts 0 keeps the
// SDK from wrapping the retryer with AWS_MAX_ATTEMPTS. Every AWS client
// of omsecrets (Secrets Manager, Parameter Store, STS) is built from it.
func OneAttempt(cfg aws.Config) aws.Config {
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	cfg.RetryMaxAttempts = 0
	return cfg
}

// webIdentityAt sends AssumeRoleWithWebIdentity to endpoint. The SDK
// builds the STS clients of its chain before it reads AWS_ENDPOINT_URL,
// so they would otherwise call the public STS endpoint.
type webIdentityAt struct {
	api      stscreds.AssumeRoleWithWebIdentityAPIClient
	endpoint string
}

func (c webIdentityAt) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return c.api.AssumeRoleWithWebIdentity(ctx, in, append(optFns, withEndpoint(c.endpoint))...)
}

// assumeRoleAt sends AssumeRole to endpoint; see webIdentityAt.
type assumeRoleAt struct {
	api      stscreds.AssumeRoleAPIClient
	endpoint string
}

func (c assumeRoleAt) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return c.api.AssumeRole(ctx, in, append(optFns, withEndpoint(c.endpoint))...)
}

func withEndpoint(endpoint string) func(*sts.Options) {
	return func(o *sts.Options) { o.BaseEndpoint = aws.String(endpoint) }
}

// tokenFile is a web identity token file. Like the SDK's
// stscreds.IdentityTokenFile it is read again on every credential refresh,
// so a rotated token (Kubernetes rewrites projected tokens) is used at the
// next one; unlike it, it reads through internal/safefile (a FIFO or a
// device put there does not hang the refresh), at most MaxTokenSize
// bytes, and refuses an empty file.
type tokenFile string

// GetIdentityToken implements stscreds.IdentityTokenRetriever. Its errors
// are resolver.ErrPermission and name the file, never its content.
func (f tokenFile) GetIdentityToken() ([]byte, error) {
	b, err := safefile.Read(string(f), MaxTokenSize)
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		return nil, &tokenError{fmt.Sprintf("web identity token file %s is larger than %d bytes", string(f), MaxTokenSize)}
	case err != nil:
		return nil, &tokenError{fmt.Sprintf("web identity token file %s: %v", string(f), err)}
	case len(b) == 0:
		return nil, &tokenError{fmt.Sprintf("web identity token file %s is empty", string(f))}
	}
	return b, nil
}

// tokenError is a web identity token file that cannot be used: a
// configuration fault, so resolver.ErrPermission rather than the
// ErrUnavailable of other credential failures.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }

// Is makes the error resolver.ErrPermission.
func (e *tokenError) Is(target error) bool { return target == resolver.ErrPermission }

// endpoints returns the endpoint URLs env asks for: the service's own
// variable, else AWS_ENDPOINT_URL, none if
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true.
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
		{&eps.STS, []string{EnvEndpointURLSTS, EnvEndpointURL}},
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

// checkRegion refuses a region that cannot be part of an AWS host name or
// a SigV4 credential scope: it must be a DNS label (letters, digits and
// inner hyphens, at most 63). Its error does not quote region.
func checkRegion(region string) error {
	ok := len(region) > 0 && len(region) <= 63 && region[0] != '-' && region[len(region)-1] != '-'
	if !ok || strings.ContainsFunc(region, notLabelChar) {
		return errors.New("not an AWS region name: letters, digits and hyphens only")
	}
	return nil
}

// notLabelChar reports whether c cannot be part of a DNS label.
func notLabelChar(c rune) bool {
	return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-'
}

// get returns env[name] without surrounding spaces.
func get(env map[string]string, name string) string {
	return strings.TrimSpace(env[name])
}
