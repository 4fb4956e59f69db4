package omclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults for the zero values of Options.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultRetryMax     = 4
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 15 * time.Second
	DefaultUserAgent    = "omsecrets"
)

// MaxBodySize is the largest response body read, in bytes. A service
// entity is a few kilobytes; a bigger body is ErrBadResponse.
const MaxBodySize = 8 << 20

// maxErrorBody is how much of an error response is read for its message.
const maxErrorBody = 64 << 10

// Operation names passed to Options.Observe.
const (
	OpServiceByID   = "service_by_id"
	OpServiceByName = "service_by_name"
)

// Options configures a Client. Only BaseURL is required.
type Options struct {
	// BaseURL is the server's hostPort, including the API path, e.g.
	// "http://openmetadata:8585/api" (a trailing slash is fine). Its path
	// must end in /api, as openMetadataConnection.json's hostPort
	// description requires, so that a forgotten /api fails here rather than
	// as a 404 that reads like a deleted service. User info, a query and a
	// fragment are refused: credentials belong in the token, not the URL
	// that retryablehttp logs.
	BaseURL string
	// TLS is the client TLS configuration; nil means Go's defaults. See
	// TLSConfig for OpenMetadata's verifySSL modes.
	TLS *tls.Config
	// ExtraHeaders are sent with every request (openMetadataServerConnection
	// extraHeaders); they may replace User-Agent. Authorization, Accept and
	// Host are refused by New rather than silently overridden: the token
	// comes from the caller, the body must be JSON, and Go ignores a Host
	// header. Values may be secrets; they are never logged or quoted in
	// errors.
	ExtraHeaders map[string]string
	// Timeout bounds each HTTP attempt, body included; 0 means
	// DefaultTimeout. The caller's context bounds the whole call.
	Timeout time.Duration
	// RetryMax is the number of retries after the first attempt; 0 means
	// DefaultRetryMax and a negative value disables retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the wait between attempts,
	// Retry-After included; 0 means DefaultRetryWaitMin/Max.
	RetryWaitMin, RetryWaitMax time.Duration
	// Logger receives retryablehttp's request and retry lines (method and
	// URL, never headers or bodies) and this package's debug lines; nil
	// discards them.
	Logger *slog.Logger
	// UserAgent is the User-Agent header; "" means DefaultUserAgent.
	UserAgent string
	// Observe, if set, is called after every HTTP attempt (retries
	// included) with OpServiceByID or OpServiceByName, the status (0 if no
	// response arrived) and the time to the response headers. It must be
	// fast and safe for concurrent use.
	Observe func(op string, status int, d time.Duration)
}

// Client fetches service entities from one OpenMetadata server. It is safe
// for concurrent use and needs no cleanup; the token is passed per call,
// so one Client serves pipelines of different bots.
type Client struct {
	base      string // BaseURL without trailing slashes
	http      *retryablehttp.Client
	extra     http.Header
	userAgent string
	log       *slog.Logger
}

// New returns a Client for opts. Errors are one line and never quote header
// values or URL credentials.
func New(opts Options) (*Client, error) {
	base, err := parseBaseURL(opts.BaseURL)
	if err != nil {
		return nil, err
	}
	extra, err := extraHeaders(opts.ExtraHeaders)
	if err != nil {
		return nil, err
	}
	timeout := cmpOr(opts.Timeout, DefaultTimeout)
	waitMin := cmpOr(opts.RetryWaitMin, DefaultRetryWaitMin)
	waitMax := cmpOr(opts.RetryWaitMax, DefaultRetryWaitMax)
	if timeout < 0 || waitMin < 0 || waitMax < 0 {
		return nil, errors.New("omclient: negative timeout or retry wait")
	}
	if waitMax < waitMin {
		return nil, fmt.Errorf("omclient: retry wait max %s is less than min %s", waitMax, waitMin)
	}
	retryMax := opts.RetryMax
	switch {
	case retryMax == 0:
		retryMax = DefaultRetryMax
	case retryMax < 0:
		retryMax = 0
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "omclient")

	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.TLS != nil {
		// The clone keeps DefaultTransport's ForceAttemptHTTP2, which a
		// custom TLSClientConfig would otherwise turn off.
		transport.TLSClientConfig = opts.TLS.Clone()
	}
	hc := &http.Client{
		Transport: observer{next: transport, observe: opts.Observe},
		Timeout:   timeout,
		// OpenMetadata does not redirect API calls. Following one could
		// carry the token to another scheme or host, so a 3xx is returned
		// as the response (and fails as an APIError).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rc := &retryablehttp.Client{
		HTTPClient: hc,
		// *slog.Logger is a retryablehttp.LeveledLogger. retryablehttp logs
		// the method, the URL (built here from BaseURL, the collection and
		// the id or name: no credentials) and transport errors; never
		// headers or bodies (client.go v0.7.8, Client.Do and drainBody).
		// It logs every failed attempt at ERROR; attemptLogger lowers
		// those to DEBUG, since the outcome of the whole call is what the
		// caller reports (once) and an operator must act on.
		Logger:       attemptLogger{logger},
		RetryWaitMin: waitMin,
		RetryWaitMax: waitMax,
		RetryMax:     retryMax,
		// Retries connection errors, 429 and 5xx except 501; stops on the
		// caller's context, too many redirects, bad schemes or headers and
		// certificate errors; never retries other 4xx.
		CheckRetry: retryablehttp.DefaultRetryPolicy,
		Backoff:    backoff,
		// Hand back the last response (or error) instead of a generic
		// "giving up" error, so its status and message can be reported.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return &Client{
		base:      base,
		http:      rc,
		extra:     extra,
		userAgent: cmpOr(opts.UserAgent, DefaultUserAgent),
		log:       logger,
	}, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// parseBaseURL validates BaseURL and returns it without trailing slashes.
func parseBaseURL(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("omclient: empty base URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error quotes the URL, which may hold credentials.
		return "", fmt.Errorf("omclient: base URL does not parse: %w", withoutURL(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("omclient: base URL %s: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("omclient: base URL %s has no host", u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("omclient: base URL %s holds user info; credentials go in the token", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("omclient: base URL %s has a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	if !strings.HasSuffix(u.Path, "/api") {
		return "", fmt.Errorf("omclient: base URL %s must end in /api (e.g. http://openmetadata:8585/api)", u.Redacted())
	}
	return u.String(), nil
}

// reservedHeaders may not be set through ExtraHeaders.
var reservedHeaders = []string{"Authorization", "Accept", "Host"}

// extraHeaders validates the extra headers and returns them canonicalised.
func extraHeaders(m map[string]string) (http.Header, error) {
	h := make(http.Header, len(m))
	for k, v := range m {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("omclient: extra header name %q is not a valid HTTP header name", k)
		}
		ck := http.CanonicalHeaderKey(k)
		for _, r := range reservedHeaders {
			if ck == r {
				return nil, fmt.Errorf("omclient: extra header %s is not allowed: omsecrets sets it", ck)
			}
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("omclient: extra header %s: value holds a line break or NUL", ck)
		}
		h.Set(ck, v)
	}
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if unreserved(c) || strings.IndexByte("!#$%&'*+^`|", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// checkToken refuses a token that cannot be sent as "Bearer <token>",
// without quoting it.
func checkToken(token string) error {
	if token == "" {
		return fmt.Errorf("%w: empty token", ErrBadRef)
	}
	for i := range len(token) {
		if c := token[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: token holds white space or control characters", ErrBadRef)
		}
	}
	return nil
}

// Service fetches the service entity ref names, authenticated with token
// (the bot's JWT; sent only as "Authorization: Bearer <token>").
//
// It asks by ID first; when ref has no ID, or the ID lookup is a 404 (the
// service was deleted and re-created under the same name, so it has a new
// id), it asks by FQN, or by Name quoted as OpenMetadata quotes it. The
// returned Service's ID is then the new one.
//
// Errors: ErrBadRef without any request for an unsupported ref.Type, a ref
// with neither ID nor name, or an unsendable token; otherwise an *APIError
// (ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnavailable after
// retries) or ErrBadResponse. A cancelled ctx gives an *APIError that
// unwraps to ctx.Err(). Service only reads; it is safe to call again.
func (c *Client) Service(ctx context.Context, token string, ref ServiceRef) (*Service, error) {
	coll, ok := collections[ref.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported service type %q (supported: %s)",
			ErrBadRef, ref.Type, strings.Join(ServiceTypes(), ", "))
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	fqn := ref.FQN
	if fqn == "" && ref.Name != "" {
		fqn = quoteName(ref.Name)
	}
	if ref.ID == "" && fqn == "" {
		return nil, fmt.Errorf("%w: %s reference has neither id nor name", ErrBadRef, ref.Type)
	}
	prefix := "/v1/services/" + coll + "/"
	if ref.ID != "" {
		svc, err := c.get(ctx, token, OpServiceByID, prefix+escapeSegment(ref.ID), ref.Type)
		if err == nil || fqn == "" || !errors.Is(err, ErrNotFound) {
			return svc, err
		}
		c.log.DebugContext(ctx, "service id not found, asking by name", "type", ref.Type, "id", ref.ID, "fqn", fqn)
	}
	svc, err := c.get(ctx, token, OpServiceByName, prefix+"name/"+escapeSegment(fqn), ref.Type)
	if err != nil {
		return nil, err
	}
	if ref.ID != "" && svc.ID != ref.ID {
		c.log.DebugContext(ctx, "service found by name under a new id", "type", ref.Type, "fqn", fqn, "old_id", ref.ID, "id", svc.ID)
	}
	return svc, nil
}

// callKey keys the *call of a request in its context.
type callKey struct{}

// call is the state of one logical request across its attempts.
type call struct {
	op       string
	attempts atomic.Int32
	body     []byte // the final response's body, read by readBody
	read     bool   // readBody ran for the final response
	tooLarge bool
}

// readBody is the retryablehttp response handler: it reads the final
// response's body (at most MaxBodySize) while the attempt's timeout still
// runs, so that a body cut short is retried like a dropped connection, and
// leaves a replayable body on resp.
func (cl *call) readBody(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	resp.Body.Close()
	if err != nil {
		resp.Body = http.NoBody
		return fmt.Errorf("read response body: %w", err)
	}
	cl.read = true
	cl.tooLarge = len(b) > MaxBodySize
	if cl.tooLarge {
		b = nil
	}
	cl.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

// get makes one logical GET of rel (relative to base) and decodes the
// service entity.
func (c *Client) get(ctx context.Context, token, op, rel, entityType string) (*Service, error) {
	cl := &call{op: op}
	ctx = context.WithValue(ctx, callKey{}, cl)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, c.base+rel+"?include=all", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: build request for %s: %w", ErrBadRef, rel, withoutURL(err))
	}
	req.Header.Set("User-Agent", c.userAgent)
	for k, v := range c.extra {
		req.Header[k] = slices.Clone(v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.SetResponseHandler(cl.readBody)

	path := req.URL.EscapedPath()
	resp, err := c.http.Do(req)
	if resp != nil {
		defer drain(resp.Body)
	}
	if err != nil {
		return nil, &APIError{Method: http.MethodGet, Path: path, Attempts: int(cl.attempts.Load()), Err: withoutURL(err)}
	}
	if resp.StatusCode != http.StatusOK {
		body := cl.body
		if !cl.read {
			// Retries ran out on a 429/5xx: the handler did not run.
			body, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		}
		return nil, &APIError{
			Method:     http.MethodGet,
			Path:       path,
			StatusCode: resp.StatusCode,
			Message:    errorMessage(body, token),
			Attempts:   int(cl.attempts.Load()),
		}
	}
	if cl.tooLarge {
		return nil, fmt.Errorf("GET %s: %w: body exceeds %d bytes", path, ErrBadResponse, MaxBodySize)
	}
	svc, err := decodeService(entityType, cl.body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w: not a service entity: %w", path, ErrBadResponse, err)
	}
	return svc, nil
}

// withoutURL returns the cause of a *url.Error, whose message quotes the
// whole URL (repeating the path, or holding credentials), or err itself.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// drain reads what is left of body (bounded) and closes it, so the
// connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	_ = body.Close()
}

// observer is the Client's http.RoundTripper: it counts attempts for the
// call in the request's context and reports each to Options.Observe.
type observer struct {
	next    http.RoundTripper
	observe func(op string, status int, d time.Duration)
}

// RoundTrip implements http.RoundTripper.
func (o observer) RoundTrip(r *http.Request) (*http.Response, error) {
	cl, _ := r.Context().Value(callKey{}).(*call)
	start := time.Now()
	resp, err := o.next.RoundTrip(r)
	if cl != nil {
		cl.attempts.Add(1)
		if o.observe != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			o.observe(cl.op, status, time.Since(start))
		}
	}
	return resp, err
}

// attemptLogger adapts a *slog.Logger to retryablehttp.LeveledLogger with
// every line at DEBUG: retryablehttp reports each attempt, including
// failed ones that a retry then fixes.
type attemptLogger struct{ l *slog.Logger }

func (a attemptLogger) Error(msg string, kv ...any) { a.l.Debug(msg, kv...) }
func (a attemptLogger) Info(msg string, kv ...any)  { a.l.Debug(msg, kv...) }
func (a attemptLogger) Debug(msg string, kv ...any) { a.l.Debug(msg, kv...) }
func (a attemptLogger) Warn(msg string, kv ...any)  { a.l.Debug(msg, kv...) }
