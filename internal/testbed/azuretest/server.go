package azuretest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Operations the Server counts; Calls and CallLog use them.
const (
	// OpGetSecret is an authenticated GET of a secret, whatever its
	// outcome.
	OpGetSecret = "GetSecret"
	// OpListSecrets is an authenticated GET of a page of the vault's
	// secrets (Get Secrets, GET /secrets), whatever its outcome.
	OpListSecrets = "ListSecrets"
	// OpChallenge is a vault request without a bearer token, answered
	// with 401 and the challenge.
	OpChallenge = "Challenge"
	// OpBadToken is a vault request whose bearer token the Server did not
	// issue, or revoked, or that expired: 401 and the challenge.
	OpBadToken = "BadToken"
	// OpToken is a POST to the token endpoint.
	OpToken = "Token"
	// OpOpenIDConfiguration is a GET of a tenant's OpenID configuration.
	OpOpenIDConfiguration = "OpenIDConfiguration"
	// OpInstanceDiscovery is a GET of the instance discovery endpoint.
	OpInstanceDiscovery = "InstanceDiscovery"
	// OpOther is any other request.
	OpOther = "Other"
)

// Default identity of a Server. The secret is a test value: tests check
// that it never reaches an error or a log line.
const (
	DefaultTenantID     = "4e1f3c2a-7b6d-4c5e-9f80-a1b2c3d4e5f6"
	DefaultClientID     = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
	DefaultClientSecret = "azt~ClientSecret.EXAMPLE_9f8e7d6c5b4a"
)

// Resource is the resource of Key Vault's challenge, and Scope the scope
// a token must have been issued for.
const (
	Resource = "https://vault.azure.net"
	Scope    = Resource + "/.default"
)

// DefaultTokenLifetime is the lifetime of the tokens the Server issues
// (expires_in), as Entra ID's default for client credentials.
const DefaultTokenLifetime = time.Hour

// Server is a fake Key Vault and Entra ID authority. All its methods are
// safe for concurrent use, including while requests are being served.
// Create it with New; it is closed when the test ends. Its exported fields
// are for reading: set them through New's options.
type Server struct {
	// TenantID is the only tenant the authority knows and the tenant of
	// the vault's challenge.
	TenantID string
	// ClientID and ClientSecret are the only client credentials the
	// token endpoint accepts.
	ClientID     string
	ClientSecret string

	tb    testing.TB
	vault *httptest.Server
	login *httptest.Server

	caOnce sync.Once
	caFile string

	mu          sync.Mutex
	secrets     map[string]*secret // by lower-cased name
	denied      map[string]bool    // lower-cased names
	denyAll     bool
	denyList    ListDenial
	clockOffset time.Duration
	tokens      map[string]token // issued access tokens
	lifetime    time.Duration
	assertion   string // accepted client assertion ("" for none)
	latency     time.Duration
	throttleN   int
	throttleAll bool
	retryAfter  time.Duration
	failN       int
	failStatus  int
	dropN       int
	dropAll     bool
	tokenFailN  int
	tokenStatus int
	calls       []Call
}

// secret is one Key Vault secret and its versions, oldest first.
type secret struct {
	name     string // as first stored
	versions []*version
}

type version struct {
	id      string
	value   string
	enabled bool
	created time.Time
	updated time.Time
}

// token is an access token the Server issued.
type token struct {
	tenant, scope string
	expires       time.Time
}

// Call is one request the Server received.
type Call struct {
	// Op is the operation (see the Op constants).
	Op string
	// Name and Version are the secret the request asked for (GetSecret
	// and the vault's 401s; as sent, before any check).
	Name, Version string
	// APIVersion is the api-version query parameter of a vault request.
	APIVersion string
	// ClientID is the client_id of a token request.
	ClientID string
	// Status is the HTTP status answered (0 for a dropped connection).
	Status int
	// At is when the request arrived.
	At time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithTenant sets the Server's tenant (default DefaultTenantID).
func WithTenant(id string) Option { return func(s *Server) { s.TenantID = id } }

// WithClient sets the only client id and secret the token endpoint
// accepts (default DefaultClientID and DefaultClientSecret).
func WithClient(id, secret string) Option {
	return func(s *Server) { s.ClientID, s.ClientSecret = id, secret }
}

// WithFederatedToken makes the token endpoint also accept a client
// assertion (urn:ietf:params:oauth:client-assertion-type:jwt-bearer)
// equal to assertion from the Server's client, as Azure workload identity
// sends the projected service account token.
func WithFederatedToken(assertion string) Option {
	return func(s *Server) { s.assertion = assertion }
}

// WithTokenLifetime sets the lifetime of issued tokens (default
// DefaultTokenLifetime).
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// New starts a Server; it is closed on tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		TenantID:     DefaultTenantID,
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		tb:           tb,
		secrets:      make(map[string]*secret),
		denied:       make(map[string]bool),
		tokens:       make(map[string]token),
		lifetime:     DefaultTokenLifetime,
	}
	for _, o := range opts {
		o(s)
	}
	s.vault = startTLS(tb, s.serveVault)
	s.login = startTLS(tb, s.serveLogin)
	return s
}

// startTLS starts an HTTPS test server for h that does not log (clients
// that refuse its certificate are expected) and is closed on tb.Cleanup.
func startTLS(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// VaultURL returns the vault's URL ("https://127.0.0.1:port/"), for the
// vault URL setting.
func (s *Server) VaultURL() string { return s.vault.URL + "/" }

// AuthorityHost returns the authority's URL ("https://127.0.0.1:port/"),
// for AZURE_AUTHORITY_HOST.
func (s *Server) AuthorityHost() string { return s.login.URL + "/" }

// CAFile returns the path of a PEM file holding the certificate both
// servers present, written once to a directory of tb.TempDir().
func (s *Server) CAFile() string {
	s.caOnce.Do(func() {
		path := filepath.Join(s.tb.TempDir(), "azuretest-ca.pem")
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.vault.Certificate().Raw})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			s.tb.Fatalf("azuretest: write CA file: %v", err)
		}
		s.caFile = path
	})
	return s.caFile
}

// RootCAs returns a pool holding only the certificate both servers
// present.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.vault.Certificate())
	return pool
}

// HTTPClient returns an HTTP client that trusts the Server's certificate
// and nothing else.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}}}
}

// Environment variables of Env.
const (
	EnvVaultURL      = "OMSECRETS_AZURE_KEY_VAULT_URL"
	EnvTenantID      = "AZURE_TENANT_ID"
	EnvClientID      = "AZURE_CLIENT_ID"
	EnvClientSecret  = "AZURE_CLIENT_SECRET"
	EnvAuthorityHost = "AZURE_AUTHORITY_HOST"
	EnvSSLCertFile   = "SSL_CERT_FILE"
)

// Env returns the KEY=value environment that points omsecrets' azure-kv
// store at the Server with its client secret credential: the vault URL
// setting (OMSECRETS_AZURE_KEY_VAULT_URL), AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST and
// SSL_CERT_FILE (the CA written to a temporary directory).
func (s *Server) Env() []string {
	return []string{
		EnvVaultURL + "=" + s.VaultURL(),
		EnvTenantID + "=" + s.TenantID,
		EnvClientID + "=" + s.ClientID,
		EnvClientSecret + "=" + s.ClientSecret,
		EnvAuthorityHost + "=" + s.AuthorityHost(),
		EnvSSLCertFile + "=" + s.CAFile(),
	}
}

// EnvMap is Env as a map.
func (s *Server) EnvMap() map[string]string {
	m := make(map[string]string)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// PutSecret stores value as a new version of the secret name, creating
// the secret if needed (Key Vault's SetSecret), and returns the version.
// Names are case-insensitive: "DB-Password" and "db-password" are one
// secret. It panics on a name Key Vault would refuse: that is a bug in
// the test.
func (s *Server) PutSecret(name, value string) (versionID string) {
	if reason := checkName(name); reason != "" {
		panic("azuretest: PutSecret: " + reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	sec, ok := s.secrets[key]
	if !ok {
		sec = &secret{name: name}
		s.secrets[key] = sec
	}
	now := s.now()
	v := &version{id: newVersionID(), value: value, enabled: true, created: now, updated: now}
	sec.versions = append(sec.versions, v)
	return v.id
}

// DeleteSecret removes the secret name with all its versions, as a
// deletion does: reading it then fails with SecretNotFound.
func (s *Server) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, strings.ToLower(name))
}

// SetEnabled enables or disables one version of the secret name (the
// latest if versionID is ""). Reading a disabled version fails with 403
// Forbidden, innererror SecretDisabled, as in Key Vault. It moves the
// version's updated time, as an update of its attributes does. It panics
// if there is no such version.
func (s *Server) SetEnabled(name, versionID string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lookup(name, versionID)
	if v == nil {
		panic(fmt.Sprintf("azuretest: SetEnabled: no version %q of secret %q", versionID, name))
	}
	v.enabled = enabled
	v.updated = s.now()
}

// Advance moves the clock of the secrets' created and updated times (Key
// Vault's are whole seconds) d ahead of the real time, so that a test can
// set a secret again in a later second without sleeping. Tokens keep the
// real time.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockOffset += d
}

// now is the time of the secrets' clock. The caller holds s.mu.
func (s *Server) now() time.Time { return time.Now().Add(s.clockOffset) }

// Versions returns the version ids of the secret name, oldest first.
func (s *Server) Versions(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok {
		return nil
	}
	out := make([]string, len(sec.versions))
	for i, v := range sec.versions {
		out[i] = v.id
	}
	return out
}

// lookup returns the version versionID ("" for the latest) of the secret
// name, or nil. The caller holds s.mu.
func (s *Server) lookup(name, versionID string) *version {
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok || len(sec.versions) == 0 {
		return nil
	}
	if versionID == "" {
		return sec.versions[len(sec.versions)-1]
	}
	for _, v := range sec.versions {
		if strings.EqualFold(v.id, versionID) {
			return v
		}
	}
	return nil
}

// Deny makes reading the secret name fail with 403 Forbidden, innererror
// ForbiddenByRbac, as when the caller's role assignment does not cover
// it.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[strings.ToLower(name)] = true
}

// ListDenial is how DenyList refuses Get Secrets.
type ListDenial int

// Ways of DenyList.
const (
	// AllowList answers Get Secrets.
	AllowList ListDenial = iota
	// DenyRBAC answers 403 Forbidden, innererror ForbiddenByRbac, for the
	// action Microsoft.KeyVault/vaults/secrets/readMetadata/action on the
	// vault: a vault using Azure RBAC where the caller's role (or its
	// scope, such as a single secret) does not cover listing.
	DenyRBAC
	// DenyAccessPolicy answers 403 Forbidden, innererror AccessDenied,
	// "does not have secrets list permission": a vault using access
	// policies whose policy for the caller lacks List.
	DenyAccessPolicy
)

// DenyList makes Get Secrets (listing) fail as d says, while reading
// secrets still works.
func (s *Server) DenyList(d ListDenial) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyList = d
}

// DenyAll makes reading and listing any secret fail with ForbiddenByRbac
// while on, as when the caller has no role on the vault at all.
func (s *Server) DenyAll(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyAll = on
}

// SetLatency delays every answer of both servers by d (0 for none). A
// request whose client gives up meanwhile gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Throttle makes the next n authenticated secret requests (GetSecret and
// ListSecrets alike) fail with 429
// Throttled.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN = n
}

// SetThrottling throttles every authenticated secret request while on.
func (s *Server) SetThrottling(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleAll = on
}

// SetRetryAfter makes 429 answers (of the vault and the token endpoint)
// carry a Retry-After header of d, in whole seconds rounded up (0 for
// none).
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// FailNext makes the next n authenticated secret requests fail with HTTP
// status: 500 InternalServerError, 503 ServiceUnavailable, 429 Throttled
// (with the SetRetryAfter header), any other status a body with code
// "Error".
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// DropNext makes the vault close the connection of the next n requests
// without answering them. Go's HTTP client sends a GET that fails so on a
// reused connection once more by itself, on a new connection: use
// SetDropping for a vault that answers nothing.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// SetDropping makes the vault close the connection of every request
// without answering while on.
func (s *Server) SetDropping(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAll = on
}

// FailTokenNext makes the next n token requests fail with HTTP status
// (429 with the SetRetryAfter header and error temporarily_unavailable;
// 5xx server_error).
func (s *Server) FailTokenNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFailN, s.tokenStatus = n, status
}

// RevokeTokens invalidates every token issued so far: the vault answers
// requests carrying one with 401, as Key Vault does for a token it no
// longer accepts.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// IssuedTokens returns how many tokens the token endpoint issued (and
// did not revoke).
func (s *Server) IssuedTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// Calls returns how many requests of operation op the Server received.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// VaultCalls returns how many requests the vault received (GetSecret,
// Challenge, BadToken and its other requests).
func (s *Server) VaultCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		switch c.Op {
		case OpToken, OpOpenIDConfiguration, OpInstanceDiscovery:
		default:
			n++
		}
	}
	return n
}

// TotalCalls returns how many requests both servers received.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// CallLog returns every request received, in order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Reset forgets the recorded calls. It keeps the secrets, the Deny rules,
// the issued tokens and any fault still pending.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// record appends c and returns its index. The caller holds s.mu.
func (s *Server) record(c Call) int {
	c.At = time.Now()
	s.calls = append(s.calls, c)
	return len(s.calls) - 1
}

// setStatus records the answered status of call i.
func (s *Server) setStatus(i, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.calls) {
		s.calls[i].Status = status
	}
}

// newVersionID returns a Key Vault style version: 32 lower-case
// hexadecimal characters.
func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newToken returns an opaque access token.
func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "azt." + hex.EncodeToString(b)
}

// dropConnection closes the connection of w without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// httptest TLS servers speak HTTP/1.1 unless told otherwise,
		// and HTTP/1.1 can always be hijacked.
		panic("azuretest: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic("azuretest: hijack: " + err.Error())
	}
	_ = conn.Close()
}

// wait sleeps for d, or until r's client gives up; it reports whether
// the answer should still be sent.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// retryAfterHeader sets Retry-After to d in whole seconds, rounded up.
func retryAfterHeader(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := (d + time.Second - 1) / time.Second
	w.Header().Set("Retry-After", fmt.Sprint(int64(secs)))
}
