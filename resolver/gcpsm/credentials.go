package gcpsm

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"golang.org/x/net/http/httpproxy"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
)

// Environment variables the store reads from resolver.StoreConfig.Env
// (never from the process).
const (
	// EnvCredentials names a credentials JSON file (Application Default
	// Credentials): a service account key, or an authorized_user,
	// external_account or impersonated_service_account file.
	EnvCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
	// EnvMetadataHost is the host[:port] of the metadata server, as the
	// Google libraries read it; default 169.254.169.254.
	EnvMetadataHost = "GCE_METADATA_HOST"
	// EnvQuotaProject is the project billed for the calls
	// (x-goog-user-project), as the Google libraries read it.
	EnvQuotaProject = "GOOGLE_CLOUD_QUOTA_PROJECT"
)

// Scope is the OAuth scope of the access tokens the store asks for.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

const (
	// defaultMetadataHost is the metadata server of GCE and GKE.
	defaultMetadataHost = "169.254.169.254"
	// defaultTokenURL is Google's OAuth token endpoint, for key files
	// without token_uri.
	defaultTokenURL = "https://oauth2.googleapis.com/token"
	// universe is the only universe domain supported (Google Cloud's).
	universe = "googleapis.com"
	// maxCredentialsFile bounds the credentials file read; a key file is
	// about 2.3 KiB.
	maxCredentialsFile = 1 << 20
	// maxTokenAnswer bounds a metadata server answer read.
	maxTokenAnswer = 64 << 10
	// earlyExpiry is how long before its expiry a token is replaced, as
	// the Google libraries do (3m45s).
	earlyExpiry = 225 * time.Second
	// fetchTimeout bounds one token fetch, whichever caller started it.
	fetchTimeout = 30 * time.Second
	// metadataDialTimeout bounds connecting to the metadata server: on
	// GCE and GKE it answers at once, elsewhere nothing answers.
	metadataDialTimeout = 3 * time.Second
)

// creds is where a Provider's access tokens come from.
type creds struct {
	tokens *tokenCache
	// project is the project the credentials file names (project_id,
	// else quota_project_id); "" for the metadata server.
	project string
	// quotaProject is sent as x-goog-user-project when set.
	quotaProject string
	// source names the credentials for a log line, never a value.
	source string
}

// keyFile is the part of a credentials JSON file the store reads itself.
type keyFile struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id"`
	QuotaProjectID string `json:"quota_project_id"`
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKey     string `json:"private_key"`
	ClientEmail    string `json:"client_email"`
	TokenURI       string `json:"token_uri"`
	UniverseDomain string `json:"universe_domain"`
}

// loadCreds builds the credentials env gives: the file EnvCredentials
// names, else the metadata server (EnvMetadataHost or 169.254.169.254).
// Nothing is fetched yet. tlsConf is the TLS configuration of token
// endpoints.
func loadCreds(env map[string]string, tlsConf *tls.Config) (*creds, error) {
	quota := strings.TrimSpace(env[EnvQuotaProject])
	path := strings.TrimSpace(env[EnvCredentials])
	if path == "" {
		host := strings.TrimSpace(env[EnvMetadataHost])
		if host == "" {
			host = defaultMetadataHost
		} else if err := checkHostPort(host); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMetadataHost, err)
		}
		md := &metadataServer{host: host, client: metadataClient()}
		return &creds{
			tokens:       newTokenCache(md.token),
			quotaProject: quota,
			source:       "metadata server " + host,
		}, nil
	}

	b, err := readCredentialsFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", EnvCredentials, path, err)
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		// json's messages name a character or a field, never a value.
		return nil, fmt.Errorf("%s %q: not a credentials JSON file: %v", EnvCredentials, path, err)
	}
	if quota == "" {
		quota = f.QuotaProjectID
	}
	c := &creds{project: f.ProjectID, quotaProject: quota}
	if c.project == "" {
		c.project = f.QuotaProjectID
	}
	if f.UniverseDomain != "" && f.UniverseDomain != universe {
		return nil, fmt.Errorf("%s %q: universe_domain %q is not supported (only %s)", EnvCredentials, path, short(f.UniverseDomain), universe)
	}
	hc := tokenClient(env, tlsConf)
	switch f.Type {
	case "service_account":
		tp, tokenURL, err := serviceAccount(&f, hc)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", EnvCredentials, path, err)
		}
		c.tokens = newTokenCache(classified(tp, "token endpoint "+tokenURL.Host))
		c.source = fmt.Sprintf("%s %q (service account %q)", EnvCredentials, path, f.ClientEmail)
	case "authorized_user", "external_account", "impersonated_service_account", "external_account_authorized_user":
		// The Google library owns these flows (user refresh tokens,
		// workload identity federation, impersonation). Its tokens
		// come cached, so a refresh after UNAUTHENTICATED may get the
		// same token again until it expires.
		ac, err := credentials.NewCredentialsFromJSON(credentials.CredType(f.Type), b, &credentials.DetectOptions{
			Scopes: []string{Scope},
			Client: hc,
			Logger: discard,
		})
		if err != nil {
			return nil, fmt.Errorf("%s %q: %s credentials: %v", EnvCredentials, path, f.Type, redactAuth(err))
		}
		c.tokens = newTokenCache(classified(ac.TokenProvider, f.Type+" token exchange"))
		c.source = fmt.Sprintf("%s %q (%s)", EnvCredentials, path, f.Type)
	case "":
		return nil, fmt.Errorf("%s %q: the file has no \"type\"", EnvCredentials, path)
	default:
		return nil, fmt.Errorf("%s %q: credentials of type %q are not supported", EnvCredentials, path, short(f.Type))
	}
	return c, nil
}

// serviceAccount returns the token provider of a service account key:
// the OAuth 2.0 JWT bearer flow (RFC 7523) against the key's token_uri.
// The key is checked here so that a broken file fails at start-up.
func serviceAccount(f *keyFile, hc *http.Client) (auth.TokenProvider, *url.URL, error) {
	if f.ClientEmail == "" {
		return nil, nil, errors.New("the service account key has no client_email")
	}
	if err := checkPrivateKey(f.PrivateKey); err != nil {
		return nil, nil, err
	}
	raw := f.TokenURI
	if raw == "" {
		raw = defaultTokenURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		// The assertion is a credential: it never travels in clear.
		return nil, nil, errors.New("token_uri is not an https URL")
	}
	tp, err := auth.New2LOTokenProvider(&auth.Options2LO{
		Email:        f.ClientEmail,
		PrivateKey:   []byte(f.PrivateKey),
		PrivateKeyID: f.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     u.String(),
		Client:       hc,
		// The library logs requests and answers, token included, to
		// any logger it is given, or to stderr when the process has
		// GOOGLE_SDK_GO_LOGGING_LEVEL: give it none that writes.
		Logger: discard,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("service account key: %v", err)
	}
	return tp, u, nil
}

// checkPrivateKey checks that pemKey is a PEM RSA private key (PKCS #8 or
// PKCS #1), as the JWT flow needs. Its errors never quote the key.
func checkPrivateKey(pemKey string) error {
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil {
		return errors.New("private_key is not a PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := k.(*rsa.PrivateKey); ok {
			return nil
		}
		return errors.New("private_key is not an RSA key")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New("private_key does not parse as a PKCS #8 or PKCS #1 private key")
}

// readCredentialsFile reads a regular file of at most
// maxCredentialsFile bytes.
func readCredentialsFile(path string) ([]byte, error) {
	b, err := safefile.Read(path, maxCredentialsFile)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, fmt.Errorf("larger than %d bytes", maxCredentialsFile)
	}
	return b, err
}

// tokenClient is the HTTP client of token endpoints: TLS roots from the
// environment map, proxies from its HTTPS_PROXY/NO_PROXY (as gRPC takes
// them from the process), bounded waits.
func tokenClient(env map[string]string, tlsConf *tls.Config) *http.Client {
	proxy := (&httpproxy.Config{
		HTTPProxy:  firstOf(env, "HTTP_PROXY", "http_proxy"),
		HTTPSProxy: firstOf(env, "HTTPS_PROXY", "https_proxy"),
		NoProxy:    firstOf(env, "NO_PROXY", "no_proxy"),
	}).ProxyFunc()
	return &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			Proxy:                 func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
			TLSClientConfig:       tlsConf.Clone(),
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			MaxIdleConns:          2,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// metadataClient is the HTTP client of the metadata server: never through
// a proxy (the server is link-local), and a short connect timeout.
func metadataClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: metadataDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConns:          2,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

func firstOf(env map[string]string, names ...string) string {
	for _, n := range names {
		if v := env[n]; v != "" {
			return v
		}
	}
	return ""
}

// metadataServer fetches the access token of the workload's service
// account (the node's, or on GKE with Workload Identity the one bound to
// the pod's Kubernetes service account).
type metadataServer struct {
	host   string
	client *http.Client
}

func (m *metadataServer) token(ctx context.Context) (*auth.Token, error) {
	where := "metadata server " + m.host
	u := "http://" + m.host + "/computeMetadata/v1/instance/service-accounts/default/token?scopes=" + url.QueryEscape(Scope)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, newCredError(resolver.ErrUnavailable, "%s: %v", where, err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, newCredError(resolver.ErrUnavailable, "%s unreachable (outside GCP, set %s): %v", where, EnvCredentials, netCause(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return nil, newCredError(resolver.ErrUnavailable, "%s: read the answer: %v", where, netCause(err))
	}
	switch sc := resp.StatusCode; {
	case sc == http.StatusOK:
	case sc == http.StatusNotFound:
		return nil, newCredError(resolver.ErrPermission, "%s has no service account for this workload (HTTP 404; on GKE, enable Workload Identity and bind the Kubernetes service account to a Google service account)", where)
	case sc == http.StatusTooManyRequests:
		return nil, &credError{class: resolver.Throttled(where+" answered HTTP 429", retryAfter(resp.Header))}
	case sc >= 500:
		return nil, newCredError(resolver.ErrUnavailable, "%s answered HTTP %d", where, sc)
	default:
		return nil, newCredError(resolver.ErrPermission, "%s refused the token request: HTTP %d", where, sc)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return nil, newCredError(resolver.ErrUnavailable, "%s answered without an access token", where)
	}
	t := &auth.Token{
		Value: tr.AccessToken,
		Type:  tr.TokenType,
		// As the library marks metadata tokens: they skip its check
		// of the credentials' universe domain.
		Metadata: map[string]any{"auth.google.tokenSource": "compute-metadata"},
	}
	if tr.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return t, nil
}

// classified wraps a library token provider so that its failures are
// *credError values with messages that carry no response body.
func classified(tp auth.TokenProvider, where string) func(context.Context) (*auth.Token, error) {
	return func(ctx context.Context) (*auth.Token, error) {
		t, err := tp.Token(ctx)
		if err != nil {
			return nil, classifyTokenError(where, err)
		}
		return t, nil
	}
}

// classifyTokenError turns a token fetch failure of the Google library
// into a *credError. The library's own message quotes the token
// endpoint's response body, so only the status and the OAuth error code
// are kept.
func classifyTokenError(where string, err error) error {
	var ae *auth.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ae) && ae.Response != nil:
		sc := ae.Response.StatusCode
		detail := fmt.Sprintf("%s answered HTTP %d", where, sc)
		if code := oauthCode(ae.Body); code != "" {
			detail += " " + code
		}
		switch {
		case sc == http.StatusTooManyRequests:
			return &credError{class: resolver.Throttled(detail, retryAfter(ae.Response.Header))}
		case sc >= 500 || sc == http.StatusRequestTimeout:
			return newCredError(resolver.ErrUnavailable, "%s", detail)
		default:
			return newCredError(resolver.ErrPermission, "%s (the credentials were refused: check that the key exists and is enabled, and the clock)", detail)
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return newCredError(resolver.ErrUnavailable, "%s: %v", where, netCause(err))
	case errors.As(err, &ue):
		return newCredError(resolver.ErrUnavailable, "%s unreachable: %v", where, ue.Err)
	default:
		return newCredError(resolver.ErrUnavailable, "%s: no usable token in the answer", where)
	}
}

// oauthCode returns the "error" code of an OAuth error body (RFC 6749
// 5.2) if it is one; never any other part of the body.
func oauthCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 || len(e.Error) > 64 {
		return ""
	}
	for _, r := range e.Error {
		if (r < 'a' || r > 'z') && r != '_' {
			return ""
		}
	}
	return e.Error
}

// redactAuth keeps an error of the library's credential parsing from
// quoting file contents: only errors it builds from fixed text pass.
func redactAuth(err error) string {
	msg := err.Error()
	if strings.ContainsAny(msg, "{}\"") || len(msg) > 200 {
		return "the file does not parse"
	}
	return msg
}

// netCause is the innermost useful part of a transport error: the
// *url.Error's cause, without the URL.
func netCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter parses a Retry-After header (resolver.ParseRetryAfter).
func retryAfter(h http.Header) time.Duration { return resolver.ParseRetryAfter(h, time.Now()) }

// credError is a failure to get an access token. It travels through the
// gRPC transport (which keeps an error that has a gRPC status) and the
// client library to the Provider, which reports it with its class.
type credError struct {
	class error
	msg   string
}

func newCredError(class error, format string, args ...any) *credError {
	return &credError{class: class, msg: fmt.Sprintf(format, args...)}
}

// Error leads with the class ("permission denied: ...") unless the
// class error says it all (resolver.Throttled's detail).
func (e *credError) Error() string {
	if e.msg == "" {
		return e.class.Error()
	}
	return e.class.Error() + ": " + e.msg
}
func (e *credError) Unwrap() error { return e.class }

// GRPCStatus makes the gRPC transport return the error itself rather
// than a new one of code UNAUTHENTICATED that quotes it.
func (e *credError) GRPCStatus() *status.Status {
	code := codes.Unauthenticated
	if errors.Is(e.class, resolver.ErrUnavailable) {
		code = codes.Unavailable
	}
	return status.New(code, e.msg)
}

// tokenCache holds the current access token and fetches a new one when
// it is about to expire or was refused. Unlike the library's cache it
// can be told that a token was refused (invalidate). Fetches are shared:
// one at a time, whoever asks.
type tokenCache struct {
	fetch func(context.Context) (*auth.Token, error)
	sf    singleflight.Group

	mu  sync.Mutex
	tok *auth.Token
}

func newTokenCache(fetch func(context.Context) (*auth.Token, error)) *tokenCache {
	return &tokenCache{fetch: fetch}
}

// Token implements auth.TokenProvider. It records the token it hands out
// in ctx's tokenUse, if any, so that the caller can invalidate exactly
// that token.
func (c *tokenCache) Token(ctx context.Context) (*auth.Token, error) {
	c.mu.Lock()
	t := c.tok
	c.mu.Unlock()
	if fresh(t) {
		noteUse(ctx, t)
		return t, nil
	}
	ch := c.sf.DoChan("token", func() (any, error) {
		// The fetch outlives the caller that started it: other callers
		// may be waiting for it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		t, err := c.fetch(fctx)
		if err != nil {
			return nil, err
		}
		if t == nil || t.Value == "" {
			return nil, newCredError(resolver.ErrUnavailable, "the token source returned an empty access token")
		}
		c.mu.Lock()
		c.tok = t
		c.mu.Unlock()
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		t := r.Val.(*auth.Token)
		noteUse(ctx, t)
		return t, nil
	case <-ctx.Done():
		return nil, newCredError(resolver.ErrUnavailable, "waiting for an access token: %v", ctx.Err())
	}
}

// invalidate drops the cached token if it is used (any token if used is
// nil), so that the next Token fetches a new one.
func (c *tokenCache) invalidate(used *auth.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if used == nil || c.tok == used {
		c.tok = nil
	}
}

func fresh(t *auth.Token) bool {
	if t == nil || t.Value == "" {
		return false
	}
	return t.Expiry.IsZero() || time.Now().Add(earlyExpiry).Before(t.Expiry)
}

// tokenUse records which token one call was given.
type tokenUse struct {
	mu  sync.Mutex
	tok *auth.Token
}

type tokenUseKey struct{}

func withTokenUse(ctx context.Context, u *tokenUse) context.Context {
	return context.WithValue(ctx, tokenUseKey{}, u)
}

func noteUse(ctx context.Context, t *auth.Token) {
	if u, ok := ctx.Value(tokenUseKey{}).(*tokenUse); ok {
		u.mu.Lock()
		u.tok = t
		u.mu.Unlock()
	}
}

func (u *tokenUse) token() *auth.Token {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tok
}

// discard is the logger handed to the Google libraries. They log request
// and response bodies at debug level (AccessSecretVersion's payload, the
// token endpoint's access token); without a logger they write to stderr
// when the process has GOOGLE_SDK_GO_LOGGING_LEVEL set.
var discard = slog.New(slog.DiscardHandler)

// checkHostPort checks a host[:port] value: a host name or IP address
// (IPv6 in brackets) and an optional port, nothing else.
func checkHostPort(s string) error {
	errForm := errors.New("want host or host:port, without scheme or path")
	if s == "" || strings.Contains(s, "://") {
		return errForm
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	switch {
	case err == nil && strings.HasPrefix(s, "["):
		// SplitHostPort took the brackets off.
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return errForm
		}
	case strings.HasPrefix(host, "["):
		if !strings.HasSuffix(host, "]") || net.ParseIP(host[1:len(host)-1]) == nil {
			return errForm
		}
	case host == "" && err == nil:
		return errors.New("empty host")
	case host == "" || strings.IndexFunc(host, func(r rune) bool { return !hostChar(r) }) >= 0:
		return errForm
	}
	if err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("port is not a number from 1 to 65535")
		}
	}
	return nil
}

// hostChar reports whether r may appear in a host name or IPv4 address.
func hostChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
}

// short bounds a quoted file field in an error message.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
