package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"omsecrets/resolver"
)

var (
	_ resolver.Getter         = (*Store)(nil)
	_ resolver.KeyedValues    = (*Store)(nil)
	_ resolver.ChangeNotifier = (*Store)(nil)
)

// DefaultKey is the data key a reference without "#key" reads: where
// OpenMetadata's server writes a secret.
const DefaultKey = "value"

// DefaultRequestTimeout bounds one GET, connection and answer included,
// when the caller's context has no sooner deadline.
const DefaultRequestTimeout = 30 * time.Second

// DefaultMaxWatches is how many Secrets the store watches at most: one
// watch per distinct Secret read. 100 workflow definitions of 8
// references each need at most 800.
const DefaultMaxWatches = 1000

// Options configures a Store.
type Options struct {
	// Namespace is the namespace of the Secrets; required.
	Namespace string
	// Logger receives the store's few warnings (a watch refused, the
	// watch limit reached, data that is not text); slog.Default if nil.
	Logger *slog.Logger
	// RequestTimeout bounds one GET; DefaultRequestTimeout if 0.
	RequestTimeout time.Duration
	// MaxWatches bounds the watches; DefaultMaxWatches if 0, none if
	// negative (changes then reach the files by the periodic refresh).
	MaxWatches int
	// Reload, if set, builds the client configuration again (re-reading
	// a token or kubeconfig file) after the API server refused the
	// credentials (401); nil keeps the configuration given.
	Reload func() (*rest.Config, error)
	// Backoff bounds the waits between attempts to open a watch again;
	// the zero value is 200ms to 15s.
	Backoff Backoff
}

// Backoff is the exponential, jittered wait between reconnects.
type Backoff struct {
	Min, Max time.Duration
}

// Store reads Kubernetes Secrets of one namespace: one GET by name per
// Get. It watches each Secret it read once a Notify function is set, until
// the context given to New ends. It is safe for concurrent use.
type Store struct {
	ns         string
	logger     *slog.Logger
	timeout    time.Duration
	maxWatches int
	reload     func() (*rest.Config, error)
	backoff    Backoff
	// life is the context of the watches: the one given to New, canceled
	// by Close (stop). Stored because the watches outlive every call that
	// starts one; running counts their goroutines, for Close.
	life    context.Context
	stop    context.CancelFunc
	running sync.WaitGroup

	client   atomic.Pointer[client]
	reloadMu sync.Mutex // one reload at a time
	notify   atomic.Pointer[func(ids []string)]

	mu      sync.Mutex         // guards watched
	watched map[string]*target // by Secret name

	forbiddenLogged, limitLogged atomic.Bool
	// legacyWatch is set once the API server refused sendInitialEvents
	// (no WatchList feature); see client.watch.
	legacyWatch atomic.Bool
}

var (
	_ resolver.ChangeLister   = (*Store)(nil)
	_ resolver.ChangeNotifier = (*Store)(nil)
	_ resolver.Forgetter      = (*Store)(nil)
)

// client is one generation of the API client: a new one is built when
// the credentials are read again.
type client struct {
	rc rest.Interface
}

// target is a watched Secret and the ids read from it.
type target struct {
	ids []string // distinct, in order of first read; guarded by Store.mu
	// rv is the Secret's resourceVersion as last read or seen in an
	// event, "" once deleted; guarded by Store.mu. Unchanged vouches for
	// a value read at rv while the watch is live.
	rv string
	// live is set while the Secret's watch is open (from a resource
	// version no older than every read of it): every change then reaches
	// Notify, so the value last read is current unless notified.
	live atomic.Bool
	// ctx bounds the target's watch goroutine: canceled (stop) when no
	// id read from the Secret is used any more (Forget), or with the
	// store's life.
	ctx  context.Context
	stop context.CancelFunc
}

// New returns a Store that reads the Secrets of opts.Namespace with
// cfg. Whatever cfg says about rate limits, the client makes one attempt
// per call and has no rate limiter of its own: the resolver retries and
// limits. ctx bounds the store's watches, not its calls.
func New(ctx context.Context, cfg *rest.Config, opts Options) (*Store, error) {
	if opts.Namespace == "" {
		return nil, errors.New("kubernetes store: no namespace")
	}
	if p := labelProblem(opts.Namespace); p != "" {
		return nil, fmt.Errorf("kubernetes store: namespace %q: %s", opts.Namespace, p)
	}
	s := &Store{
		ns:         opts.Namespace,
		logger:     opts.Logger,
		timeout:    opts.RequestTimeout,
		maxWatches: opts.MaxWatches,
		reload:     opts.Reload,
		backoff:    opts.Backoff,
		watched:    make(map[string]*target),
	}
	s.life, s.stop = context.WithCancel(ctx)
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logger = s.logger.With("component", "k8s", "namespace", s.ns)
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.maxWatches == 0 {
		s.maxWatches = DefaultMaxWatches
	}
	if s.backoff.Min <= 0 {
		s.backoff.Min = 200 * time.Millisecond
	}
	if s.backoff.Max < s.backoff.Min {
		s.backoff.Max = max(15*time.Second, s.backoff.Min)
	}
	c, err := newClient(cfg)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.client.Store(c)
	return s, nil
}

// Close implements io.Closer: it ends every watch and returns once their
// goroutines have ended. Gets after Close still work, unwatched.
func (s *Store) Close() error {
	s.mu.Lock()
	s.stop()
	s.mu.Unlock()
	s.running.Wait()
	return nil
}

// NewFromSource is New with the configuration src loads, loaded again
// after a 401.
func NewFromSource(ctx context.Context, src Source, opts Options) (*Store, error) {
	cfg, err := src.Load()
	if err != nil {
		return nil, err
	}
	opts.Reload = src.Load
	return New(ctx, cfg, opts)
}

// newClient builds the core/v1 client of cfg, with client-go's own
// retries and rate limit off (see New).
func newClient(cfg *rest.Config) (*client, error) {
	cfg = rest.CopyConfig(cfg)
	// A negative QPS and no RateLimiter: no token bucket. client-go's
	// default (5 per second) would queue calls the resolver's limit
	// already let through, unseen.
	cfg.QPS = -1
	cfg.RateLimiter = nil
	cfg.UserAgent = "omsecrets"
	cfg.WarningHandler = rest.NoWarnings{}
	// http.Client.Timeout would cut watches: GETs get a context deadline.
	cfg.Timeout = 0
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &client{rc: cs.RESTClient()}, nil
}

// DefaultKey implements resolver.KeyedValues.
func (s *Store) DefaultKey() string { return DefaultKey }

// Namespace is the namespace the store reads.
func (s *Store) Namespace() string { return s.ns }

// Notify implements resolver.ChangeNotifier. The store watches only the
// Secrets read after Notify was called; fn is called with the ids read
// from a Secret when it is added, modified or deleted, and when a watch
// had to start over from a fresh read (its resource version was too old).
func (s *Store) Notify(fn func(ids []string)) {
	if fn == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&fn)
}

// Get implements resolver.Getter with one GET of the Secret id names (see
// SecretName). The value is a JSON object of the Secret's data keys and
// their values as text (base64 decoded); a value that is the literal
// "null" is JSON null, and a key whose value is not UTF-8 text is left
// out (a reference to it fails as not found; the store logs it once).
// Errors name id, the Secret and the namespace; see the package
// documentation for their classes.
func (s *Store) Get(ctx context.Context, id string) (resolver.Secret, error) {
	name, err := SecretName(id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %q: %w", id, err)
	}
	sec, err := s.get(ctx, name)
	notFound := errors.Is(err, resolver.ErrNotFound)
	if err == nil || notFound {
		rv := ""
		if sec != nil {
			rv = sec.ResourceVersion
		}
		s.track(id, name, rv)
	}
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("%s: %w", s.what(id, name), err)
	}
	return resolver.NewSecret(s.encode(name, sec.Data)).WithVersion(sec.ResourceVersion), nil
}

// what names id, and the Secret and namespace it maps to, for errors.
func (s *Store) what(id, name string) string {
	if id == name {
		return fmt.Sprintf("secret %q in namespace %q", id, s.ns)
	}
	return fmt.Sprintf("secret %q (Secret %q in namespace %q)", id, name, s.ns)
}

// get reads the Secret name, reading the credentials again and retrying
// once if the API server refused them.
func (s *Store) get(ctx context.Context, name string) (*corev1.Secret, error) {
	c := s.client.Load()
	sec, err := c.get(ctx, s.ns, name, s.timeout)
	if isUnauthorized(err) && ctx.Err() == nil {
		if c2, rerr := s.reconnect(c); rerr == nil {
			sec, err = c2.get(ctx, s.ns, name, s.timeout)
		} else {
			return nil, fmt.Errorf("%w: the API server refused the credentials (401 Unauthorized) and reading them again failed: %v", resolver.ErrPermission, rerr)
		}
	}
	if err != nil {
		return nil, classify(ctx, err)
	}
	return sec, nil
}

func (c *client) get(ctx context.Context, ns, name string, timeout time.Duration) (*corev1.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sec corev1.Secret
	err := c.rc.Get().Namespace(ns).Resource("secrets").Name(name).MaxRetries(0).Do(ctx).Into(&sec)
	if err != nil {
		return nil, err
	}
	return &sec, nil
}

// watch opens a watch of the Secret name from resource version rv.
//
// A Secret that did not exist (rv "") is watched from the current
// resource version without initial events (sendInitialEvents=false,
// resourceVersionMatch=NotOlderThan); the caller then reads it once, for
// a Secret created between its first read and the watch. Without a
// resource version the API server would default to sendInitialEvents=true
// (the WatchList feature), which it serves only with etcd's
// RequestWatchProgress (etcd 3.4.31 or 3.5.13 and later) and refuses on
// older etcd. An API server without the WatchList feature refuses
// sendInitialEvents; the watch is then opened the old way (resource
// version "": initial ADDED event, then changes), and legacy is set so
// that later watches skip the attempt.
func (c *client) watch(ctx context.Context, ns, name, rv string, timeout time.Duration, legacy *atomic.Bool) (watch.Interface, error) {
	secs := int64(timeout / time.Second)
	opts := metav1.ListOptions{
		Watch:               true,
		FieldSelector:       "metadata.name=" + name,
		ResourceVersion:     rv,
		AllowWatchBookmarks: true,
		TimeoutSeconds:      &secs,
	}
	open := func() (watch.Interface, error) {
		return c.rc.Get().Namespace(ns).Resource("secrets").
			VersionedParams(&opts, scheme.ParameterCodec).
			MaxRetries(0).Watch(ctx)
	}
	if rv != "" || legacy.Load() {
		return open()
	}
	no := false
	opts.SendInitialEvents = &no
	opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	w, err := open()
	if apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) {
		legacy.Store(true)
		opts.SendInitialEvents, opts.ResourceVersionMatch = nil, ""
		return open()
	}
	return w, err
}

// reconnect builds a new client from s.reload, unless another call
// already replaced old; it returns the current client.
func (s *Store) reconnect(old *client) (*client, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if cur := s.client.Load(); cur != old {
		return cur, nil
	}
	if s.reload == nil {
		return old, nil
	}
	cfg, err := s.reload()
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	s.client.Store(c)
	return c, nil
}

// encode returns data as the JSON object KeyedValues promises.
func (s *Store) encode(name string, data map[string][]byte) string {
	obj := make(map[string]any, len(data))
	for k, v := range data {
		switch {
		case !utf8.Valid(v):
			// Not text (a keystore, say): marked, so that a reference to
			// it is bad_ref saying so (resolver.KeyedValues).
			obj[k] = false
		case string(v) == "null":
			obj[k] = nil // JSON null, as the KeyedValues contract asks
		default:
			obj[k] = string(v)
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		// A map of strings always marshals.
		panic("k8s: marshal secret data: " + err.Error())
	}
	return string(b)
}

// track records that id was read from the Secret name at resource version
// rv ("" for a Secret that does not exist), and starts watching name if
// nobody does and a Notify function is set.
func (s *Store) track(id, name, rv string) {
	if s.notify.Load() == nil || s.maxWatches < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Err() != nil {
		return // Close (under s.mu) or the context ended: no new watch
	}
	t := s.watched[name]
	if t == nil {
		if len(s.watched) >= s.maxWatches {
			if s.limitLogged.CompareAndSwap(false, true) {
				s.logger.Warn("watch limit reached: Secrets read from now on are not watched, their changes reach the files with the periodic refresh",
					"watches", s.maxWatches)
			}
			return
		}
		t = &target{rv: rv}
		t.ctx, t.stop = context.WithCancel(s.life)
		s.watched[name] = t
		s.running.Go(func() { s.watchLoop(t, name, rv) })
	}
	if !slices.Contains(t.ids, id) {
		t.ids = append(t.ids, id)
	}
}

// changed calls the Notify function with the ids read from t's Secret.
func (s *Store) changed(t *target) {
	fn := s.notify.Load()
	if fn == nil {
		return
	}
	s.mu.Lock()
	ids := slices.Clone(t.ids)
	s.mu.Unlock()
	if len(ids) > 0 {
		(*fn)(ids)
	}
}

// Unchanged implements resolver.ChangeLister without a call: a held value
// is unchanged while the watch of its Secret is open and the Secret's
// resourceVersion, as the watch last saw it, is the value's version (any
// change since was an event). Secrets not watched (RBAC refused the
// watch, the watch limit, the API server unreachable) are not vouched
// for: the periodic refresh reads them.
func (s *Store) Unchanged(_ context.Context, held []resolver.Held, _ resolver.Pacer) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, h := range held {
		name, err := SecretName(h.ID)
		if err != nil || h.Version == "" {
			continue
		}
		t := s.watched[name]
		if t != nil && t.live.Load() && t.rv == h.Version && slices.Contains(t.ids, h.ID) {
			out = append(out, h.ID)
		}
	}
	return out, nil
}

// seen records rv, the resourceVersion t's watch saw ("" for deleted).
func (s *Store) seen(t *target, rv string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.rv = rv
}

// Forget implements resolver.Forgetter: the ids are no longer read from
// their Secrets, and a Secret none of whose ids is read any more is no
// longer watched (its goroutine ends). Ids the store never read are
// ignored.
func (s *Store) Forget(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		name, err := SecretName(id)
		if err != nil {
			continue
		}
		t := s.watched[name]
		if t == nil {
			continue
		}
		t.ids = slices.DeleteFunc(t.ids, func(x string) bool { return x == id })
		if len(t.ids) == 0 {
			delete(s.watched, name)
			t.live.Store(false)
			t.stop()
		}
	}
}

// FullReadCalls implements resolver.ChangeLister: one GET per Secret.
func (s *Store) FullReadCalls(n int) int { return n }

// setLive marks t's watch open or not. A target Forget removed is never
// live again.
func (s *Store) setLive(t *target, on bool) {
	t.live.Store(on && t.ctx.Err() == nil)
}

// Watches returns the number of Secrets the store watches.
func (s *Store) Watches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watched)
}

// resourceVersion returns the resource version of a watch event's
// object, or "".
func resourceVersion(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetResourceVersion()
	}
	return ""
}
