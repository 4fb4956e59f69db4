package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
)

// Auth methods.
const (
	MethodToken      = "token"
	MethodKubernetes = "kubernetes"
	MethodAppRole    = "approle"
)

// DefaultKubernetesTokenFile is where the kubelet puts a pod's service
// account token.
const DefaultKubernetesTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

const (
	// maxTokenLen bounds a Vault token: service tokens are about 100
	// bytes, batch tokens a few hundred.
	maxTokenLen = 8192
	// maxFileSize bounds the credential files read (token, JWT, role id,
	// secret id).
	maxFileSize = 64 << 10
	// recheckEvery is how often, at most, a 403 makes the Store ask
	// Vault (lookup-self) whether its token is still valid.
	recheckEvery = time.Minute
	// retryGap is how long a failed login is not retried: callers meanwhile
	// get its error, so that a refusing Vault is not asked once per read.
	retryGap = time.Second
	// lookupPath and renewPath are the token endpoints the Store uses.
	lookupPath = "auth/token/lookup-self"
	renewPath  = "auth/token/renew-self"
)

// Auth says how a Store obtains its Vault token.
type Auth struct {
	// Method is MethodToken, MethodKubernetes or MethodAppRole; empty
	// picks token when Token or TokenFile is set, else kubernetes when
	// Role is set, else approle when RoleIDFile is set.
	Method string
	// Token is a token (VAULT_TOKEN); TokenSource names where it came
	// from, for messages ("VAULT_TOKEN").
	Token       string
	TokenSource string
	// TokenFile is a file holding the token, read again whenever it
	// changes (a Vault Agent sink); it wins over Token.
	TokenFile string
	// Mount is the auth mount ("kubernetes" or "approle" if empty).
	Mount string
	// Role is the Kubernetes auth role.
	Role string
	// JWTFile is the service account token presented to Kubernetes auth;
	// DefaultKubernetesTokenFile if empty. It is read at each login.
	JWTFile string
	// RoleIDFile and SecretIDFile hold the AppRole role id and secret id,
	// read at each login; without SecretIDFile the login sends the role
	// id alone (a role with bind_secret_id false).
	RoleIDFile   string
	SecretIDFile string
}

// session is one token and what is known of its lifetime. Sessions are
// immutable: a change makes a new one.
type session struct {
	token  string
	client *api.Client // sends token
	// expiry is when the token expires (zero: never, or unknown).
	expiry time.Time
	// renewAt is when to renew it or obtain another (zero: never).
	renewAt   time.Time
	renewable bool
	// checked is when Vault last confirmed the token (login, lookup).
	checked time.Time
	// file is the token file when it was read (token file auth).
	file os.FileInfo
	// dead says why the token is known to be unusable and cannot be
	// replaced ("" while it may work).
	dead string
}

func (s *session) valid(now time.Time) bool { return s.expiry.IsZero() || now.Before(s.expiry) }

// authenticator owns the Store's token: it logs in, renews the token at
// two thirds of its TTL, obtains a new one when it cannot be renewed or
// Vault says it is no longer valid, and re-reads a token file that
// changed. Refreshes are serialised; reads of the current token are not.
type authenticator struct {
	cfg     Auth
	base    *api.Client // sends no token
	timeout time.Duration
	now     func() time.Time
	logger  *slog.Logger

	sem     chan struct{} // held while refreshing
	changed chan struct{} // signals run that cur changed
	stopped chan struct{} // closed when run returns

	mu      sync.Mutex
	cur     *session
	failErr error     // the last failed login, while recent
	failAt  time.Time // wall clock

	lookupWarned atomic.Bool
}

func newAuthenticator(cfg Auth, base *api.Client, timeout time.Duration, clock func() time.Time, logger *slog.Logger) (*authenticator, error) {
	if clock == nil {
		clock = time.Now
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if cfg.Method == "" {
		switch {
		case cfg.Token != "" || cfg.TokenFile != "":
			cfg.Method = MethodToken
		case cfg.Role != "":
			cfg.Method = MethodKubernetes
		case cfg.RoleIDFile != "":
			cfg.Method = MethodAppRole
		default:
			return nil, errors.New("no Vault credentials: set VAULT_TOKEN, a token file, a Kubernetes role or an AppRole role id file")
		}
	}
	if cfg.TokenSource == "" {
		cfg.TokenSource = "VAULT_TOKEN"
	}
	switch cfg.Method {
	case MethodToken:
		if cfg.TokenFile == "" {
			if cfg.Token == "" {
				return nil, errors.New("token auth needs VAULT_TOKEN or a token file")
			}
			if err := checkToken(cfg.Token); err != nil {
				return nil, fmt.Errorf("the Vault token from %s %w", cfg.TokenSource, err)
			}
		}
	case MethodKubernetes:
		if cfg.Role == "" {
			return nil, errors.New("kubernetes auth needs a role")
		}
		if cfg.JWTFile == "" {
			cfg.JWTFile = DefaultKubernetesTokenFile
		}
		if cfg.Mount == "" {
			cfg.Mount = MethodKubernetes
		}
	case MethodAppRole:
		if cfg.RoleIDFile == "" {
			return nil, errors.New("approle auth needs a role id file")
		}
		if cfg.Mount == "" {
			cfg.Mount = MethodAppRole
		}
	default:
		return nil, fmt.Errorf("auth method %q: want token, kubernetes or approle", cfg.Method)
	}
	cfg.Mount = strings.Trim(cfg.Mount, "/")
	if cfg.Method != MethodToken {
		if _, err := KVPath(cfg.Mount); err != nil {
			return nil, fmt.Errorf("auth mount %q is not a valid Vault path", cfg.Mount)
		}
	}
	return &authenticator{
		cfg:     cfg,
		base:    base,
		timeout: timeout,
		now:     clock,
		logger:  logger,
		sem:     make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}, nil
}

// canLogin reports whether the method can obtain a new token by itself.
func (a *authenticator) canLogin() bool { return a.cfg.Method != MethodToken }

// loginPath is the login endpoint of the kubernetes and approle methods.
func (a *authenticator) loginPath() string { return "auth/" + a.cfg.Mount + "/login" }

// describe names the credential for messages: the method, its endpoint
// and role, or where the token comes from; never a secret.
func (a *authenticator) describe() string {
	switch a.cfg.Method {
	case MethodKubernetes:
		return fmt.Sprintf("kubernetes login at %s (role %q)", a.loginPath(), a.cfg.Role)
	case MethodAppRole:
		return fmt.Sprintf("approle login at %s (role id from %s)", a.loginPath(), a.cfg.RoleIDFile)
	case MethodToken:
		if a.cfg.TokenFile != "" {
			return "the Vault token in " + a.cfg.TokenFile
		}
	}
	return "the Vault token from " + a.cfg.TokenSource
}

func (a *authenticator) current() *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// set makes s the current session and tells run.
func (a *authenticator) set(s *session) {
	a.mu.Lock()
	a.cur = s
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *authenticator) lock(ctx context.Context) error {
	select {
	case a.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: wait for the Vault token: %v", resolver.ErrUnavailable, ctx.Err())
	}
}

func (a *authenticator) unlock() { <-a.sem }

// bind returns a client that sends token; the base client is shared.
func (a *authenticator) bind(token string) *api.Client {
	return a.base.WithRequestCallbacks(func(r *api.Request) { r.ClientToken = token })
}

// scrubber returns what removes the token r was sent with from a text.
func (a *authenticator) scrubber(r *reply) func(string) string { return scrubAll(r.token) }

// do sends a request with the current token, obtaining or renewing it
// first when due. On a 403 it finds out whether the token is at fault
// (expired, revoked: then it obtains a new one once and retries once) or
// the policy is (then the 403 stands).
func (a *authenticator) do(ctx context.Context, method, path string, body []byte) (*reply, error) {
	s, err := a.session(ctx)
	if err != nil {
		return nil, err
	}
	r, err := a.send(ctx, s, method, path, body)
	if err != nil || r.status != http.StatusForbidden {
		return r, err
	}
	next, hint, err := a.afterForbidden(ctx, s)
	if err != nil {
		return nil, err
	}
	if next == nil {
		r.hint = hint
		return r, nil
	}
	return a.send(ctx, next, method, path, body)
}

// send makes one request with s's token.
func (a *authenticator) send(ctx context.Context, s *session, method, path string, body []byte) (*reply, error) {
	r, err := call(ctx, s.client, method, path, body, a.timeout)
	if err != nil {
		return nil, err
	}
	r.token = s.token
	return r, nil
}

// session returns the token to use now, refreshing it first when due.
func (a *authenticator) session(ctx context.Context) (*session, error) {
	if s := a.current(); s != nil && !a.due(s) {
		return s, nil
	}
	if err := a.lock(ctx); err != nil {
		return nil, err
	}
	defer a.unlock()
	s := a.current()
	if s != nil && !a.due(s) {
		return s, nil
	}
	return a.refresh(ctx, s)
}

// due reports whether s must be refreshed before use: its renewal time
// has come, or its token file changed.
func (a *authenticator) due(s *session) bool {
	if !s.renewAt.IsZero() && !a.now().Before(s.renewAt) {
		return true
	}
	return a.fileChanged(s)
}

// fileChanged reports whether the token file is no longer the one s was
// read from. A file that cannot be stat'ed (being replaced) has not.
func (a *authenticator) fileChanged(s *session) bool {
	if a.cfg.Method != MethodToken || a.cfg.TokenFile == "" || s.file == nil {
		return false
	}
	fi, err := os.Stat(a.cfg.TokenFile)
	if err != nil {
		return false
	}
	return !os.SameFile(fi, s.file) || !fi.ModTime().Equal(s.file.ModTime()) || fi.Size() != s.file.Size()
}

// refresh replaces, renews or keeps s (nil: none yet); a.sem is held.
func (a *authenticator) refresh(ctx context.Context, s *session) (*session, error) {
	now := a.now()
	switch {
	case s == nil, a.fileChanged(s):
		return a.replace(ctx, s, now)
	case s.renewable && s.valid(now):
		next, err := a.renew(ctx, s, now)
		if err == nil {
			a.set(next)
			return next, nil
		}
		a.logger.Warn("renewing the Vault token failed", "auth", a.cfg.Method, "error", err)
		if a.canLogin() {
			return a.replace(ctx, s, now)
		}
		return a.postpone(s, now), nil
	case a.canLogin():
		return a.replace(ctx, s, now)
	}
	// A token that can be neither renewed nor replaced: use it until
	// Vault refuses it.
	next := *s
	next.renewAt = time.Time{}
	a.set(&next)
	return &next, nil
}

// replace obtains a new token in place of s (nil: none yet). When that
// fails and s is still valid, s is kept and tried again later.
func (a *authenticator) replace(ctx context.Context, s *session, now time.Time) (*session, error) {
	a.mu.Lock()
	failErr, failAt := a.failErr, a.failAt
	a.mu.Unlock()
	if failErr != nil && time.Since(failAt) < retryGap {
		if s != nil && s.valid(now) {
			return a.postpone(s, now), nil
		}
		return nil, failErr
	}
	next, err := a.obtain(ctx, now)
	a.mu.Lock()
	switch {
	case err == nil:
		a.failErr = nil
	case ctx.Err() == nil:
		// A failure of the caller's own context is not Vault's answer:
		// the next caller tries again.
		a.failErr, a.failAt = err, time.Now()
	}
	a.mu.Unlock()
	if err != nil {
		if s != nil && s.valid(now) {
			a.logger.Warn("obtaining a new Vault token failed; using the current one meanwhile", "auth", a.cfg.Method, "error", err)
			return a.postpone(s, now), nil
		}
		return nil, err
	}
	a.set(next)
	return next, nil
}

// postpone keeps s and sets its next refresh a little later: a quarter of
// the time left, between 1 and 30 seconds.
func (a *authenticator) postpone(s *session, now time.Time) *session {
	d := 30 * time.Second
	if !s.expiry.IsZero() {
		d = min(d, max(time.Second, s.expiry.Sub(now)/4))
	}
	next := *s
	next.renewAt = now.Add(d)
	a.set(&next)
	return &next
}

// obtain gets a new token: reads it (token auth, then asks Vault its TTL)
// or logs in.
func (a *authenticator) obtain(ctx context.Context, now time.Time) (*session, error) {
	switch a.cfg.Method {
	case MethodKubernetes:
		jwt, _, err := readSecretFile(a.cfg.JWTFile, "Kubernetes service account token")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.describe(), err)
		}
		return a.login(ctx, map[string]string{"role": a.cfg.Role, "jwt": jwt}, now, jwt)
	case MethodAppRole:
		roleID, _, err := readSecretFile(a.cfg.RoleIDFile, "AppRole role id")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.describe(), err)
		}
		body := map[string]string{"role_id": roleID}
		var secretID string
		if a.cfg.SecretIDFile != "" {
			if secretID, _, err = readSecretFile(a.cfg.SecretIDFile, "AppRole secret id"); err != nil {
				return nil, fmt.Errorf("%s: %w", a.describe(), err)
			}
			body["secret_id"] = secretID
		}
		return a.login(ctx, body, now, roleID, secretID)
	}
	tok, fi := a.cfg.Token, os.FileInfo(nil)
	if a.cfg.TokenFile != "" {
		var err error
		if tok, fi, err = readSecretFile(a.cfg.TokenFile, "Vault token"); err != nil {
			return nil, err
		}
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("%w: %s %w", resolver.ErrPermission, a.describe(), err)
		}
	}
	return a.lookup(ctx, &session{token: tok, client: a.bind(tok), file: fi}, now)
}

// login logs in at the method's endpoint with body; secrets are scrubbed
// from any message.
func (a *authenticator) login(ctx context.Context, body map[string]string, now time.Time, secrets ...string) (*session, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.describe(), err)
	}
	r, err := call(ctx, a.base, http.MethodPut, a.loginPath(), b, a.timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.describe(), err)
	}
	scrub := scrubAll(secrets...)
	if r.status != http.StatusOK {
		err := classify(a.describe(), r, scrub)
		if resolver.Transient(err) {
			return nil, err
		}
		// Whatever Vault said (400 invalid role or secret id, 403 a JWT
		// it does not accept, 404 no such auth mount), the credentials
		// do not get a token.
		return nil, fmt.Errorf("%w: %s refused (HTTP %d)%s", resolver.ErrPermission, a.describe(), r.status, vaultErrors(r.body, scrub))
	}
	var out struct {
		Auth *authInfo `json:"auth"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Auth == nil || out.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%w: %s: the answer holds no token", resolver.ErrUnavailable, a.describe())
	}
	if err := checkToken(out.Auth.ClientToken); err != nil {
		return nil, fmt.Errorf("%w: %s: the token issued %w", resolver.ErrUnavailable, a.describe(), err)
	}
	tok := out.Auth.ClientToken
	return a.newSession(tok, a.bind(tok), out.Auth.ttl(), out.Auth.Renewable, now, nil), nil
}

// authInfo is the "auth" object of a login or renewal answer.
type authInfo struct {
	ClientToken   string      `json:"client_token"`
	LeaseDuration json.Number `json:"lease_duration"`
	Renewable     bool        `json:"renewable"`
}

func (i *authInfo) ttl() time.Duration { return seconds(i.LeaseDuration) }

// seconds reads a TTL in seconds; anything not a positive number is 0.
func seconds(n json.Number) time.Duration {
	v, err := n.Int64()
	if err != nil || v <= 0 || v > int64(100*365*24*time.Hour/time.Second) {
		return 0
	}
	return time.Duration(v) * time.Second
}

// newSession describes a token granted for ttl (0: no expiry) at now: it
// is due for renewal, or replacement, at two thirds of the TTL, when
// either is possible.
func (a *authenticator) newSession(tok string, client *api.Client, ttl time.Duration, renewable bool, now time.Time, fi os.FileInfo) *session {
	s := &session{token: tok, client: client, renewable: renewable, checked: now, file: fi}
	if ttl > 0 {
		s.expiry = now.Add(ttl)
		if renewable || a.canLogin() {
			s.renewAt = now.Add(ttl * 2 / 3)
		}
	}
	return s
}

// lookup asks Vault the TTL of the token of s (token auth). When Vault
// refuses to say, the token is used with no known expiry and not
// renewed; that is logged once.
func (a *authenticator) lookup(ctx context.Context, s *session, now time.Time) (*session, error) {
	r, err := a.send(ctx, s, http.MethodGet, lookupPath, nil)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", a.describe(), err)
	}
	if r.status == http.StatusOK {
		var out struct {
			Data *struct {
				TTL       json.Number `json:"ttl"`
				Renewable bool        `json:"renewable"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil || out.Data == nil {
			return nil, fmt.Errorf("%w: look up %s: malformed answer", resolver.ErrUnavailable, a.describe())
		}
		return a.newSession(s.token, s.client, seconds(out.Data.TTL), out.Data.Renewable, now, s.file), nil
	}
	err = classify("look up "+a.describe(), r, a.scrubber(r))
	if resolver.Transient(err) {
		return nil, err
	}
	if a.lookupWarned.CompareAndSwap(false, true) {
		a.logger.Warn("cannot look up the Vault token, so its expiry is unknown and it is not renewed (Vault's default policy allows auth/token/lookup-self)",
			"auth", a.cfg.Method, "error", err)
	}
	// Not confirmed: a 403 on a read asks again.
	return &session{token: s.token, client: s.client, file: s.file}, nil
}

// renew renews the token of s with renew-self. A renewal that does not
// extend the token's life (its max TTL is reached) makes it not
// renewable, so that it is replaced when due, if it can be.
func (a *authenticator) renew(ctx context.Context, s *session, now time.Time) (*session, error) {
	r, err := a.send(ctx, s, http.MethodPut, renewPath, []byte("{}"))
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, classify("renew "+a.describe(), r, a.scrubber(r))
	}
	var out struct {
		Auth *authInfo `json:"auth"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Auth == nil {
		return nil, fmt.Errorf("%w: renew %s: malformed answer", resolver.ErrUnavailable, a.describe())
	}
	ttl, renewable := out.Auth.ttl(), out.Auth.Renewable
	if ttl > 0 && !s.expiry.IsZero() && !now.Add(ttl).After(s.expiry.Add(time.Second)) {
		renewable = false
	}
	return a.newSession(s.token, s.client, ttl, renewable, now, s.file), nil
}

// afterForbidden handles a 403 to a request made with used. It returns
// the session to retry with, if the token was at fault and could be
// replaced; else a hint when the token is known to be at fault.
func (a *authenticator) afterForbidden(ctx context.Context, used *session) (*session, string, error) {
	if err := a.lock(ctx); err != nil {
		return nil, "", err
	}
	defer a.unlock()
	if cur := a.current(); cur != nil && cur != used {
		if cur.token != used.token {
			// Replaced meanwhile: retry with the new token.
			return cur, "", nil
		}
		used = cur
	}
	now := a.now()
	dead := used.dead
	switch {
	case dead != "":
		return nil, dead, nil
	case !used.valid(now):
		dead = "the token has expired"
	case a.fileChanged(used):
		next, err := a.replace(ctx, used, now)
		if err != nil || next.token == used.token {
			return nil, "", err
		}
		return next, "", nil
	case now.Sub(used.checked) >= recheckEvery:
		r, err := a.send(ctx, used, http.MethodGet, lookupPath, nil)
		if err != nil {
			return nil, "", nil // cannot tell; the 403 stands
		}
		switch r.status {
		case http.StatusOK:
			// The token is fine: a policy refused the request.
			next := *used
			next.checked = now
			a.set(&next)
			return nil, "", nil
		case http.StatusUnauthorized, http.StatusForbidden:
			dead = "the token is no longer valid: expired or revoked"
		default:
			return nil, "", nil
		}
	default:
		return nil, "", nil
	}
	if a.canLogin() {
		// Mark the token expired: until a login succeeds, calls log in
		// first (at most once per retryGap) instead of sending it.
		gone := *used
		gone.expiry, gone.renewAt = now, now
		a.set(&gone)
		next, err := a.replace(ctx, &gone, now)
		if err != nil {
			return nil, "", err
		}
		return next, "", nil
	}
	if a.cfg.TokenFile != "" {
		if next, err := a.obtain(ctx, now); err == nil && next.token != used.token {
			a.set(next)
			return next, "", nil
		}
		dead += "; write a valid token to " + a.cfg.TokenFile
	} else {
		dead += "; give omsecrets a new one in " + a.cfg.TokenSource + ", or use a renewable or periodic token, Kubernetes or AppRole auth"
	}
	next := *used
	next.dead, next.checked, next.renewAt = dead, now, time.Time{}
	a.set(&next)
	return nil, dead, nil
}

// run refreshes the token when its renewal time comes, so that it stays
// valid while no Get needs it. It returns when ctx ends.
func (a *authenticator) run(ctx context.Context) {
	defer close(a.stopped)
	backoff := time.Second
	for {
		var timer *time.Timer
		var fire <-chan time.Time
		if s := a.current(); s != nil && !s.renewAt.IsZero() {
			timer = time.NewTimer(max(0, s.renewAt.Sub(a.now())))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			stopTimer(timer)
			return
		case <-a.changed:
			stopTimer(timer)
			continue
		case <-fire:
		}
		if _, err := a.session(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.logger.Warn("refreshing the Vault token failed; retrying", "auth", a.cfg.Method, "retry_in", backoff, "error", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// call sends one request with cl and reads the whole answer. Any status
// is a reply; only a failure to get one (network, timeout, canceled
// context) is an error, classed resolver.ErrUnavailable.
func call(ctx context.Context, cl *api.Client, method, path string, body []byte, timeout time.Duration) (*reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var resp *api.Response
	var err error
	if method == http.MethodGet {
		resp, err = cl.Logical().ReadRawWithContext(ctx, path)
	} else {
		resp, err = cl.Logical().WriteRawWithContext(ctx, path, body)
	}
	var respErr *api.ResponseError
	if resp == nil || (err != nil && !errors.As(err, &respErr)) {
		if resp != nil {
			resp.Body.Close()
		}
		if err == nil {
			err = errors.New("no answer")
		}
		return nil, fmt.Errorf("%w: %s: %v", resolver.ErrUnavailable, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read the answer: %v", resolver.ErrUnavailable, path, err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("%w: %s: the answer is larger than %d bytes", resolver.ErrBadRef, path, maxResponse)
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// readSecretFile reads a small credential file (token, JWT, role or
// secret id), trimmed of surrounding white space. Its errors name the file
// and what it should hold, never its content; they are
// resolver.ErrPermission: without the credential there is no access.
func readSecretFile(path, what string) (string, os.FileInfo, error) {
	b, fi, err := safefile.ReadInfo(path, maxFileSize)
	switch {
	case errors.Is(err, safefile.ErrNotRegular):
		return "", nil, fmt.Errorf("%w: the %s file %s is %v", resolver.ErrPermission, what, path, err)
	case errors.Is(err, safefile.ErrTooLarge):
		return "", nil, fmt.Errorf("%w: the %s file %s is larger than %d bytes", resolver.ErrPermission, what, path, maxFileSize)
	case err != nil:
		return "", nil, fmt.Errorf("%w: read the %s file %s: %v", resolver.ErrPermission, what, path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", nil, fmt.Errorf("%w: the %s file %s is empty", resolver.ErrPermission, what, path)
	}
	return v, fi, nil
}

// checkToken refuses what cannot be a Vault token (and could not be sent
// in a header): empty, too long, or with a character outside printable
// ASCII. Its message never quotes the token.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("is empty")
	case len(tok) > maxTokenLen:
		return fmt.Errorf("is longer than %d bytes", maxTokenLen)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }):
		return errors.New("has a character outside printable ASCII")
	}
	return nil
}
