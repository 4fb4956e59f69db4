package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"k8s.io/klog/v2"

	"omsecrets/internal/config"
	"omsecrets/internal/logging"
	"omsecrets/internal/metrics"
	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/safefile"
	"omsecrets/resolver"
)

// klogOnce sets klog's logger once per process.
var klogOnce sync.Once

// session is what every command shares: the logger, the stores, the
// resolver and the reconciler built from one validated configuration.
type session struct {
	cfg    config.Config
	logger *slog.Logger
	res    *resolver.Resolver
	recon  *reconcile.Reconciler
}

// sessionOptions is what differs between the commands' sessions.
type sessionOptions struct {
	format  render.Format
	redact  bool
	metrics *metrics.Recorder // nil for none
	// onChange receives the ids a store reports changed (run's daemon
	// re-resolves what used them); nil for none.
	onChange func(store string, ids []string)
	// changeCheck turns change-detecting refresh on (run's daemon).
	changeCheck resolver.ChangeCheck
	// countOnly is plan's session: the stores the settings leave off are
	// stand-ins (stores.countOnly), --provider may name one, and the
	// reconciler stops at the references (CollectOnly).
	countOnly bool
}

// newSession builds the session of cfg and the store settings sv.
func newSession(ctx context.Context, cfg config.Config, sv *storeValues, stderr io.Writer, so sessionOptions) (_ *session, err error) {
	level, _ := cfg.Level() // validated
	logger, err := logging.New(stderr, cfg.LogFormat, level)
	if err != nil {
		return nil, &usageError{err}
	}
	logger.Debug("configuration", "config", cfg)
	// client-go (the kubernetes store) logs through klog, to stderr by
	// default: through the session's logger instead, in its format. klog
	// is process-wide, and a process has one session.
	klogOnce.Do(func() { klog.SetSlogLogger(logger.With("component", "client-go")) })
	lims, err := limits(cfg)
	if err != nil {
		return nil, err
	}
	provider := cfg.Provider
	if so.countOnly {
		if _, err := providers.StoreFor(provider); provider != "" && err != nil {
			return nil, usagef("--provider / %sPROVIDER: %w", config.Prefix, err)
		}
		provider = "" // its store is counted whether it is configured or not
	}
	st, err := buildStores(ctx, provider, sv, logger)
	if err != nil {
		return nil, err
	}
	// The stores live as long as the session: closed when its context is
	// done, or now if the rest of the set-up fails.
	stopClose := context.AfterFunc(ctx, st.close)
	defer func() {
		if err != nil && stopClose() {
			st.close()
		}
	}()
	if so.countOnly {
		st.countOnly()
	}
	ropts := resolver.Options{
		Stores:      st.getters,
		Logger:      logger.With("component", "resolver"),
		CacheTTL:    cfg.CacheTTL,
		Concurrency: cfg.Concurrency,
		Limits:      lims,
		OnChange:    so.onChange,
		ChangeCheck: so.changeCheck,
	}
	if so.metrics != nil {
		ropts.Observer = so.metrics
	}
	res := resolver.New(ropts)

	popts := omclient.PoolOptions{
		Timeout: cfg.OMTimeout,
		Logger:  logger.With("component", "omclient"),
	}
	if so.metrics != nil {
		popts.Observe = so.metrics.OMRequest
	}
	if cfg.OMCAFile != "" {
		ca, err := safefile.Read(cfg.OMCAFile, maxCAFile)
		if err != nil {
			return nil, usagef("--om-ca-file / %sOM_CA_FILE: %w", config.Prefix, err)
		}
		popts.CAPEM = ca
	}
	routes, err := reconcile.ParseRoutes(cfg.Routes, providers.Stores(), res.HidesIDs)
	if err != nil {
		return nil, usagef("--routes / %sROUTES: %w", config.Prefix, err)
	}
	for _, rt := range routes {
		for _, name := range []string{rt.Store, rt.Fallback} {
			if err := st.missing[name]; err != nil {
				return nil, usagef("--routes / %sROUTES: route %s: %w", config.Prefix, rt.Prefix, err)
			}
		}
	}
	for _, h := range cfg.OMHosts {
		if _, err := reconcile.ParseHost(h); err != nil {
			return nil, usagef("--om-hosts / %sOM_HOSTS: %w", config.Prefix, err)
		}
	}
	ropt := reconcile.Options{
		Policy: reconcile.Policy{
			AllowIDs:      cfg.AllowIDs,
			RestrictHosts: true,
			Hosts:         cfg.OMHosts,
			Cluster:       cfg.OMCluster,
		},
		EnvPrefix: config.Prefix,
		Routes:    routes,
		Resolver:  res,
		Providers: providers,
		Missing:   st.missing,
		Provider:  cfg.Provider,
		Format:    so.format,
		Redact:    so.redact,
		Services:  omclient.NewPool(popts),
		Layout:    cfg.OMLayout,
		HostPort:  cfg.OMHostPort,
		Workers:   cfg.Workers,
		Timeout:   cfg.Timeout,
		Hints: map[error]string{
			reconcile.ErrNoToken:          "set securityConfig.jwtToken, or --om-jwt-file / " + config.Prefix + "OM_JWT_FILE",
			reconcile.ErrHiddenConnection: "for OpenMetadata 0.12-0.13 set --om-layout / " + config.Prefix + "OM_LAYOUT to connection-secret or auto",
		},
	}
	if cfg.OMJWTFile != "" {
		ropt.JWT = jwtFile(cfg.OMJWTFile)
	}
	recon, err := reconcile.New(ropt)
	if err != nil {
		return nil, usagef("--allow-ids / %sALLOW_IDS: %w", config.Prefix, err)
	}
	if so.countOnly {
		recon = recon.CollectOnly()
	}
	return &session{cfg: cfg, logger: logger, res: res, recon: recon}, nil
}

// Bounds of the files the settings name.
const (
	maxJWTFile = 64 << 10 // a JWT is a few kilobytes
	maxCAFile  = 4 << 20  // Debian's whole CA bundle is about 200 KiB
)

// jwtFile returns a function reading the bot JWT from path anew on every
// call, so a rotated token is picked up without a restart.
func jwtFile(path string) func() (string, error) {
	return func() (string, error) {
		data, err := safefile.Read(path, maxJWTFile)
		if err != nil {
			return "", fmt.Errorf("--om-jwt-file / %sOM_JWT_FILE %s: %w", config.Prefix, path, err)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("--om-jwt-file / %sOM_JWT_FILE %s: empty", config.Prefix, path)
		}
		return tok, nil
	}
}

// jobs turns paths into reconcile jobs.
func jobs(paths []string) []reconcile.Job {
	out := make([]reconcile.Job, len(paths))
	for i, p := range paths {
		out[i] = reconcile.Job{Path: p}
	}
	return out
}

// reconcile runs every path through the pipeline. A path that does not
// exist gets ClassInvalid.
func (s *session) reconcile(ctx context.Context, paths []string) []*reconcile.Result {
	results := s.recon.Reconcile(ctx, jobs(paths))
	for _, r := range results {
		if r.Gone {
			r.Err = reconcile.ErrGone(r.Path)
		}
	}
	return results
}

// reportFailure logs one definition's failure: one line per problem, then
// nothing else; the caller decides the exit code.
func (s *session) reportFailure(path string, err error) {
	reconcile.LogFailure(s.logger, path, err)
}
