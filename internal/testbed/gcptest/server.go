package gcptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"omsecrets/internal/testbed/testca"
)

// Operations the Server counts (Calls, CallLog).
const (
	// OpAccessSecretVersion is the gRPC method AccessSecretVersion.
	OpAccessSecretVersion = "AccessSecretVersion"
	// OpToken is a POST to the OAuth token endpoint (token_uri).
	OpToken = "token"
	// OpMetadataToken is a GET of the metadata server's access token.
	OpMetadataToken = "metadata-token"
	// OpMetadataProject is a GET of the metadata server's project id.
	OpMetadataProject = "metadata-project"
)

// Defaults of a Server.
const (
	DefaultProject       = "omsecrets-test"
	DefaultProjectNumber = "480125193210"
	DefaultTokenLifetime = time.Hour
)

// Environment variables Env sets.
const (
	EnvEndpoint        = "OMSECRETS_GCP_ENDPOINT"
	EnvProject         = "GOOGLE_CLOUD_PROJECT"
	EnvCredentials     = "GOOGLE_APPLICATION_CREDENTIALS"
	EnvMetadataHost    = "GCE_METADATA_HOST"
	EnvSSLCertFile     = "SSL_CERT_FILE"
	serviceAccountName = "omsecrets-reader"
)

// Server is a fake Secret Manager (gRPC over TLS), OAuth token endpoint
// (HTTPS) and GCE/GKE metadata server (HTTP). All its methods are safe
// for concurrent use, including while requests are served. Create it with
// New; it is stopped when the test ends. Its exported fields are for
// reading.
type Server struct {
	// Project is the project id of plain ids; ProjectNumber is its number,
	// which names in answers carry, as on GCP.
	Project       string
	ProjectNumber string
	// Email is the service account of the key file and the metadata
	// server.
	Email string

	grpcSrv  *grpc.Server
	lis      *trackingListener
	tokenSrv *httptest.Server
	mdSrv    *httptest.Server
	ca       *testca.CA
	dir      string
	caFile   string
	keyFile  string
	key      *rsa.PrivateKey
	keyID    string
	keyPEM   string

	mu            sync.Mutex
	secrets       map[string]*secret // by "project/secret"
	denied        map[string]bool    // "project/secret" or "project/"
	tokens        map[string]issuedToken
	tokenLifetime time.Duration
	rejectTokens  bool
	keyDisabled   bool
	noMetadataSA  bool
	latency       time.Duration
	throttleN     int
	throttleAll   bool
	retryDelay    time.Duration
	failN         int
	failCode      codes.Code
	dropN         int
	corruptN      int
	omitCRC       bool
	tokenFailN    int
	tokenFail     int
	calls         []*Call
}

// issuedToken is an access token the Server issued.
type issuedToken struct {
	expires time.Time
	scope   string
	source  string // OpToken or OpMetadataToken
}

// secret is one secret: its versions (version n at index n-1) and
// aliases.
type secret struct {
	versions []*version
	aliases  map[string]int64
}

type version struct {
	data  []byte
	state secretmanagerpb.SecretVersion_State
}

// Call is one request the Server received.
type Call struct {
	// Op is one of the Op constants.
	Op string
	// Name is the resource name AccessSecretVersion asked for ("" for the
	// other operations).
	Name string
	// Token is the bearer token of an AccessSecretVersion ("" if none),
	// or the token issued by a token call ("" if refused).
	Token string
	// QuotaProject is the x-goog-user-project metadata of a gRPC call.
	QuotaProject string
	// Code is the gRPC code answered (codes.OK for success); for HTTP
	// operations, codes.OK or codes.Unknown.
	Code codes.Code
	// At is when the request arrived.
	At time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithProject sets the project id and number (defaults DefaultProject and
// DefaultProjectNumber).
func WithProject(id, number string) Option {
	return func(s *Server) { s.Project, s.ProjectNumber = id, number }
}

// WithTokenLifetime sets the expires_in of the access tokens issued
// (default DefaultTokenLifetime).
func WithTokenLifetime(d time.Duration) Option {
	return func(s *Server) { s.tokenLifetime = d }
}

// New starts a Server on 127.0.0.1 and writes its CA (ca.pem) and a
// service account key file (key.json) to a temporary directory; it is
// stopped on tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		Project:       DefaultProject,
		ProjectNumber: DefaultProjectNumber,
		secrets:       make(map[string]*secret),
		denied:        make(map[string]bool),
		tokens:        make(map[string]issuedToken),
		tokenLifetime: DefaultTokenLifetime,
		dir:           tb.TempDir(),
	}
	for _, o := range opts {
		o(s)
	}
	s.Email = serviceAccountName + "@" + s.Project + ".iam.gserviceaccount.com"

	ca, err := testca.New("gcptest")
	if err != nil {
		tb.Fatalf("gcptest: %v", err)
	}
	s.ca = ca
	s.key = serviceAccountKey(tb)
	s.keyID = randomHex(20)
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		tb.Fatalf("gcptest: %v", err)
	}
	s.keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))

	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}

	s.tokenSrv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveToken))
	s.tokenSrv.TLS = serverTLS.Clone()
	s.tokenSrv.StartTLS()
	tb.Cleanup(s.tokenSrv.Close)

	s.mdSrv = httptest.NewServer(http.HandlerFunc(s.serveMetadata))
	tb.Cleanup(s.mdSrv.Close)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("gcptest: listen: %v", err)
	}
	s.lis = newTrackingListener(l)
	s.grpcSrv = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(serverTLS.Clone())),
		grpc.UnaryInterceptor(s.intercept),
	)
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpcSrv, &service{s: s})
	go func() { _ = s.grpcSrv.Serve(s.lis) }()
	tb.Cleanup(s.grpcSrv.Stop)

	s.caFile = filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.caFile, ca.PEM, 0o600); err != nil {
		tb.Fatalf("gcptest: %v", err)
	}
	s.keyFile = s.WriteKeyFile(nil)
	return s
}

var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
	sharedKeyErr  error
)

// serviceAccountKey returns the RSA key of service account key files.
// One key serves every Server of a test binary: generating a 2048-bit key
// costs a noticeable share of a second under the race detector.
func serviceAccountKey(tb testing.TB) *rsa.PrivateKey {
	sharedKeyOnce.Do(func() { sharedKey, sharedKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if sharedKeyErr != nil {
		tb.Fatalf("gcptest: generate key: %v", sharedKeyErr)
	}
	return sharedKey
}

// Endpoint returns the host:port of the gRPC endpoint, for
// option.WithEndpoint.
func (s *Server) Endpoint() string { return s.lis.Addr().String() }

// TokenURL returns the URL of the OAuth token endpoint (the key file's
// token_uri).
func (s *Server) TokenURL() string { return s.tokenSrv.URL + "/token" }

// MetadataHost returns the host:port of the metadata server, the value
// of GCE_METADATA_HOST.
func (s *Server) MetadataHost() string { return strings.TrimPrefix(s.mdSrv.URL, "http://") }

// CAFile returns the path of the PEM file of the CA that signed the
// server certificate of the gRPC and token endpoints.
func (s *Server) CAFile() string { return s.caFile }

// CAPEM returns that CA's certificate in PEM.
func (s *Server) CAPEM() []byte { return slices.Clone(s.ca.PEM) }

// ServerTLS returns a server TLS configuration with a certificate for
// 127.0.0.1 signed by the Server's CA, for a test's own endpoint that
// clients trusting CAFile accept.
func (s *Server) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.ca.Server}, MinVersion: tls.VersionTLS12}
}

// KeyFile returns the path of the service account key file New wrote.
func (s *Server) KeyFile() string { return s.keyFile }

// PrivateKeyPEM returns the key file's private key, so that tests can
// check it never shows in a message.
func (s *Server) PrivateKeyPEM() string { return s.keyPEM }

// KeyID returns the key file's private_key_id.
func (s *Server) KeyID() string { return s.keyID }

// Env returns the environment that points omsecrets' gcp store at the
// Server with the key file as credentials: the endpoint (as the
// OMSECRETS_ twin of the gcp-endpoint setting), the project, the key file
// and the CA bundle.
func (s *Server) Env() []string {
	return []string{
		EnvEndpoint + "=" + s.Endpoint(),
		EnvProject + "=" + s.Project,
		EnvCredentials + "=" + s.keyFile,
		EnvSSLCertFile + "=" + s.caFile,
	}
}

// MetadataEnv is Env with the metadata server (GCE_METADATA_HOST) in place
// of the key file, as on GKE with Workload Identity.
func (s *Server) MetadataEnv() []string {
	return []string{
		EnvEndpoint + "=" + s.Endpoint(),
		EnvProject + "=" + s.Project,
		EnvMetadataHost + "=" + s.MetadataHost(),
		EnvSSLCertFile + "=" + s.caFile,
	}
}

// WriteKeyFile writes a service account key file for the Server's key
// to a new file and returns its path. fields override the file's fields
// ("project_id", "token_uri", ...); a nil value removes the field.
func (s *Server) WriteKeyFile(fields map[string]any) string {
	m := map[string]any{
		"type":                        "service_account",
		"project_id":                  s.Project,
		"private_key_id":              s.keyID,
		"private_key":                 s.keyPEM,
		"client_email":                s.Email,
		"client_id":                   "104" + s.ProjectNumber,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + s.Email,
		"universe_domain":             "googleapis.com",
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // strings and nils only
	}
	f, err := os.CreateTemp(s.dir, "key-*.json")
	if err != nil {
		panic(fmt.Sprintf("gcptest: %v", err))
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		panic(fmt.Sprintf("gcptest: %v", err))
	}
	return f.Name()
}

// key returns the map key of secret id in project ("" for the Server's).
func (s *Server) secretKey(project, id string) string {
	if project == "" || project == s.ProjectNumber {
		project = s.Project
	}
	return project + "/" + id
}

// PutSecret adds a new enabled version holding value to the secret id of
// the Server's project, creating the secret, and returns the version's
// number (1 for a new secret).
func (s *Server) PutSecret(id, value string) int64 { return s.PutSecretIn("", id, value) }

// PutSecretIn is PutSecret in another project.
func (s *Server) PutSecretIn(project, id, value string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.secretKey(project, id)
	sec, ok := s.secrets[k]
	if !ok {
		sec = &secret{aliases: make(map[string]int64)}
		s.secrets[k] = sec
	}
	sec.versions = append(sec.versions, &version{data: []byte(value), state: secretmanagerpb.SecretVersion_ENABLED})
	return int64(len(sec.versions))
}

// DeleteSecret deletes the secret id of the Server's project with all its
// versions.
func (s *Server) DeleteSecret(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, s.secretKey("", id))
}

// DisableVersion disables version n of the secret id; reading it then
// fails with FAILED_PRECONDITION, as on GCP.
func (s *Server) DisableVersion(id string, n int64) {
	s.setState(id, n, secretmanagerpb.SecretVersion_DISABLED)
}

// EnableVersion enables version n of the secret id again.
func (s *Server) EnableVersion(id string, n int64) {
	s.setState(id, n, secretmanagerpb.SecretVersion_ENABLED)
}

// DestroyVersion destroys version n of the secret id: its data is gone and
// reading it fails with FAILED_PRECONDITION.
func (s *Server) DestroyVersion(id string, n int64) {
	s.setState(id, n, secretmanagerpb.SecretVersion_DESTROYED)
}

func (s *Server) setState(id string, n int64, st secretmanagerpb.SecretVersion_State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.versionLocked(id, n)
	if v.state == secretmanagerpb.SecretVersion_DESTROYED {
		panic(fmt.Sprintf("gcptest: version %d of %q is destroyed", n, id))
	}
	v.state = st
	if st == secretmanagerpb.SecretVersion_DESTROYED {
		v.data = nil
	}
}

// SetAlias points the version alias of the secret id at version n.
func (s *Server) SetAlias(id, alias string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versionLocked(id, n)
	s.secrets[s.secretKey("", id)].aliases[alias] = n
}

// versionLocked returns version n of the secret id of the Server's
// project; it panics if there is none: that is a bug in the test.
func (s *Server) versionLocked(id string, n int64) *version {
	sec, ok := s.secrets[s.secretKey("", id)]
	if !ok || n < 1 || n > int64(len(sec.versions)) {
		panic(fmt.Sprintf("gcptest: no version %d of secret %q", n, id))
	}
	return sec.versions[n-1]
}

// DenyID makes reading the secret id of the Server's project fail with
// PERMISSION_DENIED, as without secretmanager.versions.access on it.
func (s *Server) DenyID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[s.secretKey("", id)] = true
}

// DenyProject makes reading any secret of project fail with
// PERMISSION_DENIED.
func (s *Server) DenyProject(project string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[s.secretKey(project, "")] = true
}

// SetLatency delays every gRPC answer by d (0 for none). A call whose
// client gives up meanwhile fails with the client's deadline.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Throttle makes the next n authenticated calls fail with
// RESOURCE_EXHAUSTED (quota exceeded).
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN = n
}

// SetThrottling throttles every authenticated call while on: a storm of
// RESOURCE_EXHAUSTED.
func (s *Server) SetThrottling(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleAll = on
}

// SetRetryDelay makes RESOURCE_EXHAUSTED answers carry a
// google.rpc.RetryInfo detail with retry_delay d (0 for none, the
// default).
func (s *Server) SetRetryDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryDelay = d
}

// FailNext makes the next n authenticated calls fail with code, with
// GCP's message for it (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ...).
func (s *Server) FailNext(n int, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// DropNext makes the server close the connection of the next n calls
// instead of answering them, as a reset by the network does.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// CorruptNext makes the next n successful answers carry a data_crc32c
// that does not match their data, as a payload corrupted in transit would.
func (s *Server) CorruptNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corruptN = n
}

// SetOmitCRC makes answers carry no data_crc32c at all while on.
func (s *Server) SetOmitCRC(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitCRC = on
}

// RevokeTokens invalidates every access token issued so far: calls
// bearing one fail with UNAUTHENTICATED, and tokens issued afterwards
// work.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetRejectTokens makes every call fail with UNAUTHENTICATED while on,
// whatever its token, as when the credentials' service account was
// deleted after its tokens were issued.
func (s *Server) SetRejectTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectTokens = on
}

// DisableKey makes the token endpoint refuse assertions signed with the
// key file's key (invalid_grant "Invalid JWT Signature."), as after the
// key was deleted or disabled.
func (s *Server) DisableKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyDisabled = true
}

// FailTokenNext makes the next n token requests (token endpoint or
// metadata server) fail with HTTP status.
func (s *Server) FailTokenNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFailN, s.tokenFail = n, status
}

// SetMetadataServiceAccount with false makes the metadata server answer 404
// for the default service account's token, as on a GKE node pool without
// Workload Identity for the pod's Kubernetes service account.
func (s *Server) SetMetadataServiceAccount(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noMetadataSA = !on
}

// Calls returns how many requests of op (an Op constant) arrived.
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

// TotalCalls returns how many gRPC calls arrived (token and metadata
// requests not included).
func (s *Server) TotalCalls() int { return s.Calls(OpAccessSecretVersion) }

// Requested returns the resource name of every AccessSecretVersion, in
// arrival order.
func (s *Server) Requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		if c.Op == OpAccessSecretVersion {
			out = append(out, c.Name)
		}
	}
	return out
}

// CallLog returns every request received, in order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// IssuedTokens returns every access token issued and still valid.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.tokens {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Reset forgets the recorded calls. It keeps the secrets, the rules and
// any fault still pending.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// arrivedLocked records a call as it arrives and returns it, for the
// caller to fill in its outcome under s.mu. The caller holds s.mu.
func (s *Server) arrivedLocked(c Call) *Call {
	c.At = time.Now()
	s.calls = append(s.calls, &c)
	return &c
}

// issueLocked issues an access token for scope; the caller holds s.mu.
func (s *Server) issueLocked(scope, source string) (string, time.Duration) {
	tok := "ya29.gcptest-" + randomHex(24)
	s.tokens[tok] = issuedToken{expires: time.Now().Add(s.tokenLifetime), scope: scope, source: source}
	return tok, s.tokenLifetime
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
