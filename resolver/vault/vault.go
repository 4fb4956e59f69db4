package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"omsecrets/resolver"
)

var (
	_ resolver.Getter      = (*Store)(nil)
	_ resolver.KeyedValues = (*Store)(nil)
)

// DefaultMount is the KV mount read when none is set, the one `vault
// server -dev` and OpenBao's dev server create.
const DefaultMount = "secret"

// DefaultField is the field a reference without "#field" reads: the
// field OpenMetadata's proposed OpenBao provider (PR #31984) writes.
const DefaultField = "value"

// DefaultTimeout bounds one HTTP request to Vault, connection and answer
// included. Callers' contexts usually end sooner.
const DefaultTimeout = 30 * time.Second

// MaxIDLen is the longest id accepted, in bytes. Vault sets no limit of
// its own below its request size; OpenMetadata's ids are a few hundred
// bytes at most.
const MaxIDLen = 2048

// maxResponse bounds the body of one Vault answer read: a KV secret is
// kilobytes, Vault's default max request size 32 MiB.
const maxResponse = 4 << 20

// Options configures a Store.
type Options struct {
	// Address is Vault's (or OpenBao's) URL, "https://vault.example:8200".
	Address string
	// Namespace, if set, is sent as X-Vault-Namespace on every request,
	// logins included (Vault Enterprise, HCP Vault, OpenBao namespaces).
	Namespace string
	// Mount is the path of the KV mount; DefaultMount if empty.
	Mount string
	// KVVersion is the mount's KV version, 1 or 2; 0 detects it from
	// sys/internal/ui/mounts or sys/mounts on first use.
	KVVersion int
	// Auth says how the Store gets its token.
	Auth Auth
	// HTTPClient carries the requests (its transport holds the TLS
	// configuration); nil means a client that trusts the system roots.
	// Its CheckRedirect should refuse redirects (http.ErrUseLastResponse),
	// as the client Spec.Open builds does: the Store does not follow them
	// either, so the token goes to Address only.
	HTTPClient *http.Client
	// Timeout bounds one request; DefaultTimeout if 0.
	Timeout time.Duration
	// Logger receives the one-time warnings (KV version not detectable,
	// token not renewable) and renewal failures; slog.Default if nil.
	Logger *slog.Logger
	// Clock is the time token lifetimes are measured against; time.Now if
	// nil. Tests set it.
	Clock func() time.Time
}

// Store reads secrets from one KV mount of Vault. It is safe for
// concurrent use. Its token is renewed or obtained again on the call path
// when it is due, and by one goroutine that ends with the context given
// to New.
type Store struct {
	// stop ends the goroutine that renews the token (Close).
	stop    context.CancelFunc
	auth    *authenticator
	mount   string
	logger  *slog.Logger
	version atomic.Int32 // 0 until known
	// detect serialises KV version detection, so that concurrent first
	// calls make one.
	detect chan struct{}
	// detectWarned is set once detection's refusal has been logged.
	detectWarned atomic.Bool
	// typeWarned is set once a mount that is not KV has been logged.
	typeWarned atomic.Bool
}

// New returns a Store for opts. It makes no call: the first Get logs in
// (or reads the token) and, when opts.KVVersion is 0, detects the KV
// version. The goroutine that renews the token ends with Close (or when
// ctx ends); until then the Store keeps its token alive even between
// Gets.
func New(ctx context.Context, opts Options) (*Store, error) {
	addr, err := checkAddress(opts.Address)
	if err != nil {
		return nil, err
	}
	mount := strings.Trim(opts.Mount, "/")
	if mount == "" {
		mount = DefaultMount
	}
	if err := checkMount(mount); err != nil {
		return nil, err
	}
	if opts.KVVersion != 0 && opts.KVVersion != 1 && opts.KVVersion != 2 {
		return nil, fmt.Errorf("KV version %d: want 1, 2 or auto", opts.KVVersion)
	}
	if err := checkNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "vault")
	client, err := newClient(addr, opts)
	if err != nil {
		return nil, err
	}
	a, err := newAuthenticator(opts.Auth, client, opts.Timeout, opts.Clock, logger)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	s := &Store{stop: stop, auth: a, mount: mount, logger: logger, detect: make(chan struct{}, 1)}
	s.version.Store(int32(opts.KVVersion))
	go a.run(ctx)
	return s, nil
}

// Close implements io.Closer: it ends the goroutine that renews the
// token and returns once it has ended. Gets after Close still work,
// logging in again when the token expires.
func (s *Store) Close() error {
	s.stop()
	<-s.auth.stopped
	return nil
}

// newClient builds the vault/api client: its address, HTTP client and
// namespace from opts only. api.NewClient reads VAULT_TOKEN,
// VAULT_NAMESPACE and VAULT_HEADERS from the process environment; all
// three are overridden here, and the wrapping TTL (VAULT_WRAP_TTL) is
// turned off, so that the process environment changes nothing.
func newClient(addr string, opts Options) (*api.Client, error) {
	hc := opts.HTTPClient
	if hc == nil {
		var err error
		if hc, err = NewHTTPClient(nil, TLS{}); err != nil {
			return nil, err
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg := &api.Config{
		Address:    addr,
		HttpClient: hc,
		Timeout:    timeout,
		// One attempt per call: the resolver retries with its own
		// policy and rate limit.
		MaxRetries: 0,
		// Vault redirects from a standby node; the token is not sent
		// anywhere but Address.
		DisableRedirects: true,
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	client.ClearToken()
	client.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	if opts.Namespace != "" {
		client.SetNamespace(strings.Trim(opts.Namespace, "/"))
	}
	client.SetWrappingLookupFunc(func(string, string) string { return "" })
	client.SetMaxRetries(0)
	return client, nil
}

// DefaultKey implements resolver.KeyedValues: a reference without
// "#field" reads DefaultField.
func (s *Store) DefaultKey() string { return DefaultField }

// Get implements resolver.Getter: it reads the path id names in the KV
// mount and returns all its fields as one JSON object (see the package
// documentation). Its errors name id and the mount, never a value or the
// token.
func (s *Store) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := s.get(ctx, id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %q: %w", id, err)
	}
	return v, nil
}

func (s *Store) get(ctx context.Context, id string) (resolver.Secret, error) {
	p, err := KVPath(id)
	if err != nil {
		return resolver.Secret{}, err
	}
	version, err := s.kvVersion(ctx)
	if err != nil {
		return resolver.Secret{}, err
	}
	apiPath := s.mount + "/" + p
	if version == 2 {
		apiPath = s.mount + "/data/" + p
	}
	r, err := s.auth.do(ctx, http.MethodGet, apiPath, nil)
	if err != nil {
		return resolver.Secret{}, err
	}
	return s.secret(r, apiPath, version)
}

// KVPath returns the path in the mount that id names: id without one
// leading "/". It refuses, as resolver.ErrBadRef, an empty id or path, an
// id longer than MaxIDLen, one that is not UTF-8 or has a control or
// unprintable character, one with "?", "#", "%" or "\" (which proxies and
// Vault's router may read as something else than a path), and a path with
// an empty, "." or ".." segment.
func KVPath(id string) (string, error) {
	switch {
	case id == "":
		return "", fmt.Errorf("%w: empty secret id", resolver.ErrBadRef)
	case len(id) > MaxIDLen:
		return "", fmt.Errorf("%w: secret id longer than %d bytes", resolver.ErrBadRef, MaxIDLen)
	case !utf8.ValidString(id):
		return "", fmt.Errorf("%w: secret id is not valid UTF-8", resolver.ErrBadRef)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(id[i:])
		return "", fmt.Errorf("%w: secret id has the control or unprintable character %U", resolver.ErrBadRef, r)
	}
	if i := strings.IndexAny(id, `?#%\`); i >= 0 {
		return "", fmt.Errorf("%w: secret id has %q, which a Vault path may not have here", resolver.ErrBadRef, id[i])
	}
	p := strings.TrimPrefix(id, "/")
	if p == "" {
		return "", fmt.Errorf("%w: secret id names no path", resolver.ErrBadRef)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("%w: secret id has an empty path segment (\"//\" or a trailing \"/\")", resolver.ErrBadRef)
		case ".", "..":
			return "", fmt.Errorf("%w: secret id has a %q path segment", resolver.ErrBadRef, seg)
		}
	}
	return p, nil
}

// checkAddress validates Vault's address: an http or https URL with a
// host and nothing after the path. Its errors do not quote the address,
// which could hold credentials.
func checkAddress(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("no Vault address")
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return "", errors.New("the Vault address is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("the Vault address must start with https:// or http://")
	case u.Host == "":
		return "", errors.New("the Vault address has no host")
	case u.User != nil:
		return "", errors.New("the Vault address must not hold a user or password")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("the Vault address must not have a query or fragment")
	}
	return strings.TrimRight(addr, "/"), nil
}

// checkMount validates a KV mount path: segments as in KVPath.
func checkMount(mount string) error {
	if _, err := KVPath(mount); err != nil {
		return fmt.Errorf("KV mount %q is not a valid Vault path", mount)
	}
	return nil
}

// checkNamespace validates a namespace: a path, as Vault's namespaces
// are, without the characters KVPath refuses.
func checkNamespace(ns string) error {
	ns = strings.Trim(ns, "/")
	if ns == "" {
		return nil
	}
	if _, err := KVPath(ns); err != nil {
		return fmt.Errorf("namespace %q is not a valid Vault namespace path", ns)
	}
	return nil
}
