package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"omsecrets/internal/config"
	"omsecrets/internal/daemon"
	"omsecrets/internal/metrics"
	"omsecrets/internal/pageout"
	"omsecrets/internal/plan"
	"omsecrets/internal/status"
	"omsecrets/internal/watch"
	"omsecrets/resolver"
)

// runDaemon is `omsecrets run`: keep one resolved workflow config per
// definition in the watch dirs, current as files change and secrets rotate.
// With --once it resolves what is there and exits: 0 only if every
// definition resolved.
func runDaemon(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, sv, pos, err := parseCommand("run", args, environ, stderr)
	if err != nil {
		return err
	}
	cfg.WatchDirs = append(cfg.WatchDirs, pos...) // DIR... as positional arguments too
	if len(cfg.WatchDirs) == 0 {
		return usagef("run needs --watch-dirs / %sWATCH_DIRS (or DIR arguments): where OpenMetadata deploys definitions, e.g. $AIRFLOW_HOME/dag_generated_configs", config.Prefix)
	}
	if cfg.OutputDir == "" {
		return usagef("run needs --out-dir / %sOUTPUT_DIR: a tmpfs directory the ingestion task reads", config.Prefix)
	}
	for _, dir := range cfg.WatchDirs {
		abs, _ := filepath.Abs(dir)
		out, _ := filepath.Abs(cfg.OutputDir)
		if abs == out {
			return usagef("--out-dir %s is also a watch dir: outputs would be read back as definitions", cfg.OutputDir)
		}
	}
	format, err := outputFormat(cfg)
	if err != nil {
		return err
	}
	out, err := newSink(cfg, cfg.OutputDir)
	if err != nil {
		return err
	}
	rec := metrics.New()
	// Stores that report changes (the Kubernetes store's watches) reach
	// the daemon, built after the session, through changed.
	var changed atomic.Pointer[daemon.Daemon]
	onChange := func(store string, ids []string) {
		if d := changed.Load(); d != nil {
			d.Changed(store, ids)
		}
	}
	so := sessionOptions{format: format, metrics: rec}
	if !cfg.Once {
		so.onChange = onChange // a one pass has nothing to follow: no watches
		if cfg.ChangeDetection {
			// Held values outlive the cache TTL until the next refresh can
			// have the store vouch for them.
			so.changeCheck = resolver.ChangeCheck{Keep: 2 * cfg.RefreshInterval, MaxAge: cfg.ChangeMaxAge}
		}
	}
	s, err := newSession(ctx, cfg, sv, stderr, so)
	if err != nil {
		return err
	}
	s.sweep(out)
	// The stores' published quotas, beside their call rates: a fleet's
	// dashboard compares the sum of its sidecars' rates with them.
	for _, st := range storeTable {
		if q, ok := plan.PublishedQuota(st); ok {
			rec.StoreQuota(st.Name, q)
		}
	}

	board := status.New()
	if cfg.Once {
		paths, err := s.definitions(cfg.WatchDirs)
		if err != nil {
			return err
		}
		return s.once(ctx, out, paths, board, rec)
	}
	d, err := daemon.New(daemon.Options{
		Reconciler: s.recon,
		Sink:       out,
		Workers:    cfg.Workers,
		Refresh:    cfg.RefreshInterval,
		FreshFor:   cfg.FreshFor,
		Logger:     s.logger.With("component", "daemon"),
		Metrics:    rec,
		Board:      board,
		// Secrets no definition reads any more: their cached values and
		// the stores' state for them (Kubernetes watches) go.
		Forget: s.res.Forget,
		// Start-up and each pass leave pages of the binary (its five SDKs'
		// initialisation, the code of a pass) resident that the idle
		// sidecar does not touch: give them back (internal/pageout).
		OnIdle: func() {
			// The pass's garbage too: collected and returned now rather
			// than at the runtime's leisure.
			debug.FreeOSMemory()
			s.logger.Debug("idle: gave back the binary's resident pages and the heap's free ones", "mappings", pageout.Text())
		},
		IdleAfter:   idleAfter,
		StartJitter: cfg.StartJitter,
	})
	if err != nil {
		return &usageError{err}
	}
	changed.Store(d)

	for _, dir := range cfg.WatchDirs {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return usagef("watch dir %s is a file: run watches directories (with --once it also takes files)", dir)
		}
	}
	w, err := watch.New(watch.Options{
		Dirs:    cfg.WatchDirs,
		Quiet:   cfg.WatchQuiet,
		MaxWait: cfg.WatchMaxWait,
		Rescan:  cfg.RescanInterval,
		Logger:  s.logger.With("component", "watch"),
		Observe: rec.WatchEvent,
	})
	if err != nil {
		return &usageError{err}
	}
	var ln net.Listener
	if cfg.HTTPAddr != "off" && cfg.HTTPAddr != "" {
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return usagef("--http-addr / %sHTTP_ADDR: %w", config.Prefix, err)
		}
	}
	s.logger.Info("omsecrets running", "version", buildVersion(), "watch_dirs", strings.Join(cfg.WatchDirs, ","),
		"output_dir", cfg.OutputDir, "http", httpAddr(ln), "refresh", cfg.RefreshInterval, "layout", cfg.OMLayout)

	if len(cfg.AllowIDs) == 0 {
		s.logger.Warn("no --allow-ids / " + config.Prefix + "ALLOW_IDS: self-contained workflow configs in the watch dirs may reference any secret the stores can read (IngestionPipeline files are held to their own pipeline's and bot's secrets)")
	}

	// The watcher, the daemon and the HTTP server run until ctx is done
	// (SIGTERM or SIGINT); a failing watcher stops all of them.
	g, gctx := errgroup.WithContext(ctx)
	events := make(chan watch.Event, 64)
	g.Go(func() error {
		if err := w.Run(gctx, events); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		d.Run(gctx, events, w.Synced())
		return nil
	})
	// Temporary files a killed write left behind hold secrets: those
	// younger than staleTempAge at start-up go once they are that old.
	g.Go(func() error {
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				s.sweep(out)
			}
		}
	})
	if ln != nil {
		srv := &http.Server{Handler: board.Handler(rec.Handler()), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			shut, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shut)
		})
	}
	err = g.Wait()
	if err != nil {
		return err
	}
	s.logger.Info("omsecrets stopped")
	return nil
}

func httpAddr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// daemonOutputFlags are the output flags run accepts: one file per
// definition, so no --out.
var daemonOutputFlags = slices.DeleteFunc(slices.Clone(outputFlags), func(f flagSpec) bool {
	return f.name == "out" || f.name == "redact"
})
