package vaulttest

import (
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of a Server.
const (
	// DefaultMount is the KV version 2 mount every Server has, in the root
	// namespace, as `vault server -dev` has.
	DefaultMount = "secret"
)

// Error texts Vault answers with.
const (
	ErrPermissionDenied = "permission denied"
	ErrSealed           = "Vault is sealed"
	ErrStandby          = "Vault is in standby mode"
)

// Server is a fake Vault. All its methods are safe for concurrent use,
// including while requests are served. Create it with New; it is closed
// when the test ends.
type Server struct {
	// Token is a token with no expiry valid in every namespace, the one
	// Env returns.
	Token string

	srv     *httptest.Server
	tls     bool
	caFile  string
	clockMu sync.Mutex
	clock   func() time.Time

	mu        sync.Mutex
	mounts    map[string]map[string]*mount // namespace -> mount path -> mount
	tokens    map[string]*token            // by id
	k8sRoles  map[string]KubernetesRole    // by namespace, mount and role
	appRoles  map[string]AppRole           // by namespace, mount and role id
	denied    []string                     // path patterns
	sealed    bool
	standby   bool
	latency   time.Duration
	failN     int
	failCode  int
	pathFails []pathFault
	throttleN int
	retryIn   time.Duration
	dropN     int
	calls     []Call
	logins    []Login
}

// Call is one request the Server received.
type Call struct {
	// Method is the HTTP method.
	Method string
	// Path is the API path without "/v1/" ("secret/data/db"), unescaped.
	Path string
	// Namespace is the X-Vault-Namespace header, normalised ("" for root).
	Namespace string
	// Status is the status code answered (0 for a dropped connection).
	Status int
	// Header is the request's header without X-Vault-Token.
	Header http.Header
	// At is when the request arrived.
	At time.Time
}

// Login is one successful login.
type Login struct {
	// Method is "kubernetes" or "approle".
	Method string
	// Mount is the auth mount ("kubernetes").
	Mount string
	// Role is the Kubernetes role or the AppRole role id.
	Role string
	// Token is the token issued.
	Token string
}

// Option configures a Server.
type Option func(*Server)

// WithHTTP makes the Server speak plain HTTP instead of TLS.
func WithHTTP() Option { return func(s *Server) { s.tls = false } }

// WithClock makes the Server read the time from clock (for token expiry)
// instead of time.Now; see also SetClock.
func WithClock(clock func() time.Time) Option { return func(s *Server) { s.clock = clock } }

// New starts a TLS Server (plain HTTP with WithHTTP) with a KV version 2
// mount DefaultMount in the root namespace; it is closed on tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		tls:      true,
		clock:    time.Now,
		mounts:   map[string]map[string]*mount{"": {DefaultMount: newMount(2)}},
		tokens:   make(map[string]*token),
		k8sRoles: make(map[string]KubernetesRole),
		appRoles: make(map[string]AppRole),
	}
	for _, o := range opts {
		o(s)
	}
	s.Token = s.issue(TokenOptions{Policies: []string{"root"}, AllNamespaces: true}, "token", "")
	s.srv = httptest.NewUnstartedServer(s)
	// Refused handshakes (a client that does not trust the Server, on
	// purpose) are not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if s.tls {
		s.srv.StartTLS()
		s.caFile = filepath.Join(tb.TempDir(), "vaulttest-ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		if err := os.WriteFile(s.caFile, pemBytes, 0o600); err != nil {
			tb.Fatalf("vaulttest: write CA: %v", err)
		}
	} else {
		s.srv.Start()
	}
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the Server's address, for VAULT_ADDR.
func (s *Server) URL() string { return s.srv.URL }

// TLS reports whether the Server speaks TLS.
func (s *Server) TLS() bool { return s.tls }

// CACertFile returns the PEM file of the certificate the TLS Server
// presents (its own CA), for SSL_CERT_FILE or VAULT_CACERT; "" for an HTTP
// Server.
func (s *Server) CACertFile() string { return s.caFile }

// Client returns an *http.Client that trusts the Server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Env returns the environment that points a Vault client at the Server:
// VAULT_ADDR, VAULT_TOKEN (Token) and, for a TLS Server, SSL_CERT_FILE
// naming its CA. The store's mount setting defaults to DefaultMount.
func (s *Server) Env() []string {
	env := []string{"VAULT_ADDR=" + s.URL(), "VAULT_TOKEN=" + s.Token}
	if s.tls {
		env = append(env, "SSL_CERT_FILE="+s.caFile)
	}
	return env
}

// EnvMap is Env as a map, for resolver.StoreConfig.Env.
func (s *Server) EnvMap() map[string]string {
	m := make(map[string]string)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// SetClock makes the Server read the time from clock (nil: time.Now).
func (s *Server) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	s.clock = clock
}

func (s *Server) now() time.Time {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	return s.clock()
}

// DenyPath makes every request whose API path (without "/v1/") matches
// pattern fail with 403 permission denied, as when no policy of the token
// grants it. A pattern ending in "*" matches every path with that prefix,
// as in a Vault policy; others match exactly.
func (s *Server) DenyPath(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = append(s.denied, pattern)
}

// AllowPath undoes DenyPath(pattern).
func (s *Server) AllowPath(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.denied {
		if p == pattern {
			s.denied = append(s.denied[:i], s.denied[i+1:]...)
			return
		}
	}
}

func (s *Server) deniedLocked(path string) bool {
	for _, p := range s.denied {
		if matchPath(p, path) {
			return true
		}
	}
	return false
}

// matchPath reports whether path matches a policy-style pattern: a
// prefix when it ends in "*", else the whole path.
func matchPath(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return pattern == path
}

// Seal makes the Server answer every request with 503 "Vault is sealed"
// while on.
func (s *Server) Seal(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed = on
}

// Standby makes the Server answer every request with 503 "Vault is in
// standby mode" while on, as a standby node that cannot forward.
func (s *Server) Standby(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.standby = on
}

// SetLatency delays every answer by d (0 for none). A request whose client
// gives up meanwhile gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n requests fail with HTTP status code and
// {"errors":["internal error"]} (for 503 too; use Seal or Standby for
// their messages).
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// FailNextOn makes the next n requests whose API path matches pattern
// (as in DenyPath) fail with HTTP status code and {"errors":["internal
// error"]}, whatever FailNext says.
func (s *Server) FailNextOn(pattern string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pathFails = append(s.pathFails, pathFault{pattern: pattern, n: n, code: code})
}

// pathFault is a pending FailNextOn.
type pathFault struct {
	pattern string
	n, code int
}

// Throttle makes the next n requests fail with 429 as a rate limit quota
// does, with a Retry-After header of retryAfter in whole seconds rounded
// up (none if 0).
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.retryIn = n, retryAfter
}

// DropNext makes the Server close the connection of the next n requests
// without answering. net/http sends an idempotent request again, once,
// when a reused connection drops: a client sees a failure for 2.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// Calls returns how many requests for the API path (without "/v1/") the
// Server received, whatever their outcome.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Path == path {
			n++
		}
	}
	return n
}

// CallsWithPrefix returns how many requests for API paths starting with
// prefix the Server received.
func (s *Server) CallsWithPrefix(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if strings.HasPrefix(c.Path, prefix) {
			n++
		}
	}
	return n
}

// TotalCalls returns how many requests the Server received.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// CallLog returns every request received, in order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Logins returns the successful logins, in order.
func (s *Server) Logins() []Login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Login(nil), s.logins...)
}

// Reset forgets the recorded calls and logins and the pending faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.logins = nil, nil
	s.failN, s.throttleN, s.dropN, s.pathFails = 0, 0, 0, nil
}

// normNamespace is how Vault reads X-Vault-Namespace: surrounding slashes
// and spaces do not count, and "root" is the root namespace.
func normNamespace(ns string) string {
	ns = strings.Trim(strings.TrimSpace(ns), "/")
	if ns == "root" {
		return ""
	}
	return ns
}

// randomID returns n random characters of Vault's token alphabet.
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("vaulttest: %v", err)) // crypto/rand does not fail
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
