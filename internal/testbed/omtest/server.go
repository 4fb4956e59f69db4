package omtest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"omsecrets/internal/testbed/testca"
)

// Mask is what OpenMetadata returns to non-bots in place of a secret
// (PasswordEntityMasker.PASSWORD_MASK).
const Mask = "*********"

// Token kinds recorded in Request.TokenKind.
const (
	TokenNone    = "none"    // no Authorization header, or not "Bearer <token>"
	TokenUnknown = "unknown" // a token this server did not issue
	TokenBot     = "bot"
	TokenUser    = "user"
	TokenExpired = "expired" // issued, then passed to ExpireToken
)

// Hide selects how connections are shown, for modelling OpenMetadata
// 0.12–0.13, which decrypted connections only for admins.
type Hide int

// Hide modes; they apply to every token.
const (
	// HideNone returns connections (masked for non-bots).
	HideNone Hide = iota
	// HideOmit leaves the "connection" key out.
	HideOmit
	// HideNull returns "connection": null.
	HideNull
	// HideSecrets returns the connection without the fields whose stored
	// value is a secret:<id> reference (nullifyRequiredConnectionParameters
	// under NON_NULL serialization).
	HideSecrets
)

// Option configures a Server.
type Option func(*config)

type config struct {
	tls bool
}

// TLS makes the server serve HTTPS with a certificate signed by a CA
// generated for it (valid for 127.0.0.1, ::1 and localhost); CAPEM returns
// the CA certificate.
func TLS() Option { return func(c *config) { c.tls = true } }

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the escaped path as sent, e.g.
	// "/api/v1/services/databaseServices/name/%22my.svc%22".
	Path string
	// Query is the raw query, e.g. "include=all".
	Query string
	// Status is the status answered; 0 if the connection was dropped or the
	// client went away first.
	Status int
	// TokenKind is one of the Token* constants; the token itself is never
	// recorded.
	TokenKind string
}

// principal is the holder of an issued token.
type principal struct {
	name      string
	bot       bool
	expired   bool
	forbidden bool
}

// fault is a queued FailNext answer.
type fault struct {
	status     int
	retryAfter time.Duration
}

// Server is a fake OpenMetadata API server. Create it with New; it stops
// when the test ends. Its methods are safe for concurrent use, also while
// requests are being served.
type Server struct {
	tb    testing.TB
	srv   *httptest.Server
	caPEM []byte
	stop  chan struct{} // closed at cleanup, ends SetLatency waits

	mu          sync.Mutex
	tokens      map[string]*principal
	services    map[string]map[string]map[string]any // entity type → id → entity
	hide        Hide
	latency     time.Duration
	fails       []fault
	drops       int
	down        bool
	requests    []Request
	lastHeaders http.Header
}

// New starts a Server and registers its shutdown with tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		tb:       tb,
		stop:     make(chan struct{}),
		tokens:   map[string]*principal{},
		services: map[string]map[string]map[string]any{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// TLS handshake failures (a client that does not trust the CA) are
	// expected in tests; keep them off stderr.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cfg.tls {
		ca, err := testca.New("omtest")
		if err != nil {
			tb.Fatalf("omtest: generate TLS certificates: %v", err)
		}
		s.caPEM = ca.PEM
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	tb.Cleanup(func() {
		close(s.stop)
		s.srv.Close()
	})
	return s
}

// URL returns the API base, e.g. "http://127.0.0.1:41234/api": what an
// IngestionPipeline's openMetadataServerConnection.hostPort holds.
func (s *Server) URL() string { return s.srv.URL + "/api" }

// CAPEM returns the PEM of the CA that signed the server certificate, or
// nil without the TLS option.
func (s *Server) CAPEM() []byte { return s.caPEM }

// SetLatency delays every answer by d (0 for none). A client that gives up
// meanwhile gets nothing.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n requests, whatever they ask, fail with status
// and an OpenMetadata error body; retryAfter > 0 adds a Retry-After header
// (whole seconds, rounded up). Calls queue up.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, fault{status: status, retryAfter: retryAfter})
	}
}

// DropNext makes the next n requests end with the connection closed and no
// response.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

// Down drops every request while on, as DropNext does: clients see the
// connection closed without a response.
func (s *Server) Down(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = on
}

// HideConnections switches between HideOmit (on) and HideNone (off).
func (s *Server) HideConnections(on bool) {
	if on {
		s.SetHide(HideOmit)
	} else {
		s.SetHide(HideNone)
	}
}

// SetHide sets how connections are shown.
func (s *Server) SetHide(h Hide) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hide = h
}

// Requests returns the requests answered, dropped or abandoned so far, in
// that order. A request is recorded before its answer is sent.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Count returns how many requests had the escaped path, e.g.
// "/api/v1/services/databaseServices/<id>".
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == path {
			n++
		}
	}
	return n
}

// LastHeaders returns the headers of the last request received, with any
// Authorization value replaced by "[redacted]"; nil before the first.
func (s *Server) LastHeaders() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeaders.Clone()
}

// record appends a finished request.
func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// serve is the HTTP handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery}
	p, kind := s.authenticate(r)
	rec.TokenKind = kind

	hdr := r.Header.Clone()
	if hdr.Get("Authorization") != "" {
		hdr.Set("Authorization", "[redacted]")
	}
	s.mu.Lock()
	s.lastHeaders = hdr
	drop := s.down
	if !drop && s.drops > 0 {
		s.drops--
		drop = true
	}
	var f *fault
	if !drop && len(s.fails) > 0 {
		f = &fault{}
		*f = s.fails[0]
		s.fails = s.fails[1:]
	}
	latency := s.latency
	s.mu.Unlock()

	if drop {
		s.record(rec)
		hijackClose(w)
		return
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.record(rec)
			return
		case <-s.stop:
			t.Stop()
			s.record(rec)
			hijackClose(w)
			return
		}
	}
	rw := &recorder{ResponseWriter: w, s: s, rec: rec}
	if f != nil {
		writeError(rw, f.status, defaultMessage(f.status), f.retryAfter)
	} else {
		s.answer(rw, r, p, kind)
	}
}

// recorder records the request when the status is written, before any of
// the response reaches the client, so that a client that got its answer
// always finds its request in Requests.
type recorder struct {
	http.ResponseWriter
	s        *Server
	rec      Request
	recorded bool
}

// WriteHeader records the request with status, then writes the header.
func (r *recorder) WriteHeader(status int) {
	if !r.recorded {
		r.recorded = true
		r.rec.Status = status
		r.s.record(r.rec)
	}
	r.ResponseWriter.WriteHeader(status)
}

// answer routes, authenticates and looks up one request, and returns the
// status written.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, p *principal, kind string) int {
	entityType, byName, key, ok := route(r.URL.EscapedPath())
	if !ok {
		return writeError(w, http.StatusNotFound, "HTTP 404 Not Found", 0)
	}
	if r.Method != http.MethodGet {
		return writeError(w, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed", 0)
	}
	switch kind {
	case TokenNone:
		return writeError(w, http.StatusUnauthorized, "Not Authorized! Token not present", 0)
	case TokenUnknown:
		return writeError(w, http.StatusUnauthorized, invalidTokenMessage(r), 0)
	case TokenExpired:
		return writeError(w, http.StatusUnauthorized, "Expired token!", 0)
	}
	if p.forbidden {
		return writeError(w, http.StatusForbidden, forbiddenMessage(p.name), 0)
	}
	include := r.URL.Query().Get("include")
	switch include {
	case "":
		include = "non-deleted"
	case "non-deleted", "deleted", "all":
	default:
		// JAX-RS answers a query parameter it cannot convert with 404.
		return writeError(w, http.StatusNotFound, "HTTP 404 Not Found", 0)
	}
	if !byName && !isUUID(key) {
		// Likewise for a path parameter that is not a UUID.
		return writeError(w, http.StatusNotFound, "HTTP 404 Not Found", 0)
	}

	body := s.lookup(entityType, byName, key, include, p.bot)
	if body == nil {
		return writeError(w, http.StatusNotFound, entityType+" instance for "+key+" not found", 0)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

// lookup returns the JSON the server shows for the entity, or nil if there
// is none for include.
func (s *Server) lookup(entityType string, byName bool, key, include string, bot bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var doc map[string]any
	if byName {
		for _, d := range s.services[entityType] {
			if d["fullyQualifiedName"] == key {
				doc = d
				break
			}
		}
	} else {
		doc = s.services[entityType][key]
	}
	if doc == nil {
		return nil
	}
	deleted, _ := doc["deleted"].(bool)
	switch {
	case include == "non-deleted" && deleted, include == "deleted" && !deleted:
		return nil
	}
	out := clone(doc)
	switch s.hide {
	case HideOmit:
		delete(out, "connection")
	case HideNull:
		out["connection"] = nil
	case HideSecrets:
		out["connection"] = dropSecrets(out["connection"])
	}
	if !bot {
		if c, ok := out["connection"]; ok {
			out["connection"] = mask(c)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err) // stored entities are JSON values
	}
	return b
}

// route parses /api/v1/services/{collection}/{id} and
// /api/v1/services/{collection}/name/{fqn}, unescaping the last segment.
func route(escaped string) (entityType string, byName bool, key string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/api/v1/services/")
	if !found {
		return "", false, "", false
	}
	segs := strings.Split(rest, "/")
	entityType, ok = entityTypes[segs[0]]
	if !ok {
		return "", false, "", false
	}
	var raw string
	switch {
	case len(segs) == 2 && segs[1] != "":
		raw = segs[1]
	case len(segs) == 3 && segs[1] == "name" && segs[2] != "":
		byName, raw = true, segs[2]
	default:
		return "", false, "", false
	}
	key, err := url.PathUnescape(raw)
	if err != nil {
		return "", false, "", false
	}
	return entityType, byName, key, true
}

// authenticate identifies the bearer token's holder and kind.
func (s *Server) authenticate(r *http.Request) (*principal, string) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, TokenNone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.tokens[tok]
	switch {
	case p == nil:
		return nil, TokenUnknown
	case p.expired:
		cp := *p
		return &cp, TokenExpired
	case p.bot:
		cp := *p
		return &cp, TokenBot
	default:
		cp := *p
		return &cp, TokenUser
	}
}

// invalidTokenMessage is JwtFilter's 401 message for a token it did not
// issue: JWT.decode failing, or a signature that does not verify.
func invalidTokenMessage(r *http.Request) string {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if parts := strings.Split(tok, "."); len(parts) == 3 && strings.HasPrefix(tok, "eyJ") {
		return "Not Authorized! Invalid token. Token verification failed. Public key mismatch. due to " +
			"com.auth0.jwt.exceptions.SignatureVerificationException: The Token's Signature resulted " +
			"invalid when verified using the Algorithm: SHA256withRSA"
	}
	return "Not Authorized! Invalid token."
}

// forbiddenMessage is CatalogExceptionMessage.permissionNotAllowed.
func forbiddenMessage(name string) string {
	return "Principal: CatalogPrincipal{name='" + name + "'} operations [ViewBasic] not allowed"
}

// defaultMessage is the message FailNext answers with.
func defaultMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Not Authorized! Invalid token."
	case http.StatusForbidden:
		return forbiddenMessage("omtest")
	case http.StatusNotFound:
		return "HTTP 404 Not Found"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP " + strconv.Itoa(status)
}

// writeError writes an OpenMetadata error body and returns status.
func writeError(w http.ResponseWriter, status int, message string, retryAfter time.Duration) int {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		// CatalogGenericExceptionMapper.getResponse(Status, String) adds it.
		h.Set("WWW-Authenticate", "om-auth")
	}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{status, message})
	_, _ = w.Write(b)
	return status
}

// hijackClose closes the request's connection without writing anything.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("omtest: response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
