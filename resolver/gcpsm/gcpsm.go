package gcpsm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"net"
	"strings"

	"cloud.google.com/go/auth"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/tlsroots"
)

var _ resolver.Getter = (*Provider)(nil)

// DefaultEndpoint is Secret Manager's global gRPC endpoint.
const DefaultEndpoint = "secretmanager.googleapis.com:443"

// userAgent is sent with every call.
const userAgent = "omsecrets"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configures a Provider.
type Options struct {
	// Project is the project of plain ids. Required.
	Project string
	// Endpoint is the gRPC endpoint, host[:port] (port 443 if none);
	// DefaultEndpoint if empty.
	Endpoint string
	// Env is the environment the credentials (GOOGLE_APPLICATION_CREDENTIALS,
	// GCE_METADATA_HOST, GOOGLE_CLOUD_QUOTA_PROJECT), the extra TLS roots
	// (SSL_CERT_FILE) and the token endpoint's proxy (HTTPS_PROXY,
	// NO_PROXY) come from; the process environment is not read.
	Env map[string]string
	// Logger receives the Provider's debug lines; slog.Default if nil. It
	// is never given to the Google libraries, which log payloads.
	Logger *slog.Logger
}

// Provider reads secrets from GCP Secret Manager, one AccessSecretVersion
// per Get. It is safe for concurrent use. Close releases its connection.
type Provider struct {
	client  *secretmanager.Client
	project string
	tokens  *tokenCache
	logger  *slog.Logger
}

// New returns a Provider for opts. It reads the credentials file, if
// any, and the TLS roots now; it fetches no token and makes no call.
func New(ctx context.Context, opts Options) (*Provider, error) {
	if err := checkProject(opts.Project); err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	tlsConf, err := tlsConfig(opts.Env)
	if err != nil {
		return nil, err
	}
	c, err := loadCreds(opts.Env, tlsConf)
	if err != nil {
		return nil, err
	}
	return newProvider(ctx, opts, c, tlsConf)
}

// tlsConfig is the TLS configuration of every connection the store
// makes: the system roots plus SSL_CERT_FILE of env.
func tlsConfig(env map[string]string) (*tls.Config, error) {
	pool, err := tlsroots.Pool(env)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func newProvider(ctx context.Context, opts Options, c *creds, tlsConf *tls.Config) (*Provider, error) {
	endpoint, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ac := auth.NewCredentials(&auth.CredentialsOptions{
		TokenProvider:          c.tokens,
		QuotaProjectIDProvider: staticProperty(c.quotaProject),
		UniverseDomainProvider: staticProperty(universe),
	})
	client, err := secretmanager.NewClient(ctx,
		option.WithEndpoint(endpoint),
		option.WithAuthCredentials(ac),
		// Set, so that the library does not read
		// GOOGLE_CLOUD_UNIVERSE_DOMAIN from the process.
		option.WithUniverseDomain(universe),
		// Applied after the library's own TLS credentials, so these
		// win: the roots of the environment map, not only the
		// system's.
		option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(tlsConf.Clone()))),
		option.WithLogger(discard),
		option.WithTelemetryDisabled(),
		option.WithUserAgent(userAgent),
	)
	if err != nil {
		return nil, fmt.Errorf("gcp secret manager client: %v", err)
	}
	// The library retries AccessSecretVersion on UNAVAILABLE and
	// RESOURCE_EXHAUSTED with backoff from 2s to 60s and a 60s timeout.
	// The resolver retries, under its rate limit, and counts the calls:
	// one attempt per call here.
	client.CallOptions.AccessSecretVersion = nil
	return &Provider{client: client, project: opts.Project, tokens: c.tokens, logger: logger.With("component", "gcpsm")}, nil
}

// parseEndpoint checks the endpoint setting and adds port 443 if it has
// none.
func parseEndpoint(s string) (string, error) {
	if s == "" {
		return DefaultEndpoint, nil
	}
	if err := checkHostPort(s); err != nil {
		return "", fmt.Errorf("%s: %w", Endpoint.Name, err)
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return net.JoinHostPort(strings.Trim(s, "[]"), "443"), nil
	}
	return s, nil
}

func staticProperty(v string) auth.CredentialsPropertyProvider {
	return auth.CredentialsPropertyFunc(func(context.Context) (string, error) { return v, nil })
}

// Close closes the Provider's connection. Get fails after Close.
func (p *Provider) Close() error { return p.client.Close() }

// Get implements resolver.Getter with one AccessSecretVersion call (two
// when the service refuses the access token: a new token is fetched and
// the call made once more). Its errors name id; see the package
// documentation for their classes.
func (p *Provider) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := p.get(ctx, id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %s: %w", quoteID(id), err)
	}
	return v, nil
}

// get is Get with errors that do not name id.
func (p *Provider) get(ctx context.Context, id string) (resolver.Secret, error) {
	name, err := parseID(id, p.project)
	if err != nil {
		return resolver.Secret{}, err
	}
	resp, err := p.access(ctx, name)
	if err != nil {
		return resolver.Secret{}, classify(err, name)
	}
	v, err := payloadValue(resp.GetPayload())
	if err != nil {
		return resolver.Secret{}, err
	}
	// The version's resource name (".../versions/3", also for a read of
	// "latest") is its version token.
	return v.WithVersion(resp.GetName()), nil
}

// access calls AccessSecretVersion. On UNAUTHENTICATED from the service
// (a revoked or expired token that the cache still held) it drops the
// token the call used and calls again, once, with a new one.
func (p *Provider) access(ctx context.Context, name secretName) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	req := &secretmanagerpb.AccessSecretVersionRequest{Name: name.String()}
	use := new(tokenUse)
	resp, err := p.client.AccessSecretVersion(withTokenUse(ctx, use), req)
	if !refusedToken(err) || ctx.Err() != nil {
		return resp, err
	}
	p.logger.DebugContext(ctx, "access token refused; fetching a new one", "secret", name.secret, "project", name.project)
	p.tokens.invalidate(use.token())
	resp, err = p.client.AccessSecretVersion(withTokenUse(ctx, new(tokenUse)), req)
	if refusedToken(err) {
		return nil, &refreshedError{err: err}
	}
	return resp, err
}

// refusedToken reports whether err is the service's UNAUTHENTICATED, not
// a failure to get a token.
func refusedToken(err error) bool {
	var ce *credError
	return err != nil && !errors.As(err, &ce) && grpcCode(err) == codes.Unauthenticated
}

// refreshedError is an UNAUTHENTICATED that persisted after a new token
// was fetched.
type refreshedError struct{ err error }

func (e *refreshedError) Error() string { return e.err.Error() }
func (e *refreshedError) Unwrap() error { return e.err }

// payloadValue checks the payload's CRC32C, as OpenMetadata does, and
// returns its data as stored.
func payloadValue(pl *secretmanagerpb.SecretPayload) (resolver.Secret, error) {
	if pl == nil {
		return resolver.Secret{}, fmt.Errorf("%w: the answer carries no payload", resolver.ErrUnavailable)
	}
	// Secret Manager computes and stores a checksum for every version
	// (SecretPayload.data_crc32c); an answer without one is served
	// unchecked.
	if sum := pl.DataCrc32C; sum != nil {
		if *sum < 0 || *sum > math.MaxUint32 || uint32(*sum) != crc32.Checksum(pl.Data, castagnoli) {
			return resolver.Secret{}, fmt.Errorf("%w: payload checksum (data_crc32c) does not match its data: corrupted in transit", resolver.ErrUnavailable)
		}
	}
	return resolver.NewSecret(string(pl.Data)), nil
}
