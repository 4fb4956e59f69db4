package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"omsecrets/internal/config"
	"omsecrets/internal/daemon"
	"omsecrets/internal/metrics"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/status"
	"omsecrets/resolver"
	"omsecrets/sink"
)

// runResolve is `omsecrets resolve`: resolve every definition, of either
// kind, named or in the directories named (definitionFiles), and write
// each to --out (one definition) or --out-dir (one <dag_id> file per
// definition, the first of two with one name keeping it, as run does).
func runResolve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, sv, paths, err := parseCommand("resolve", args, environ, stderr)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("resolve needs at least one DEFINITION")
	}
	if cfg.OutputFile == "" && cfg.OutputDir == "" {
		return usagef("resolve needs --out FILE, --out-dir DIR or --out - (values go to standard output only with an explicit --out -)")
	}
	if cfg.OutputFile != "" && len(paths) > 1 {
		return usagef("--out takes one DEFINITION; use --out-dir for %d", len(paths))
	}
	format, err := outputFormat(cfg)
	if err != nil {
		return err
	}

	// Open the sink before fetching anything: a refused output directory
	// should not cost store calls.
	var out *sink.File
	switch {
	case cfg.OutputFile == "-":
	case cfg.OutputFile != "":
		out, err = newSink(cfg, filepath.Dir(cfg.OutputFile))
	default:
		out, err = newSink(cfg, cfg.OutputDir)
	}
	if err != nil {
		return err
	}

	s, err := newSession(ctx, cfg, sv, stderr, sessionOptions{format: format, redact: cfg.Redact})
	if err != nil {
		return err
	}
	// A directory is read as run --once reads it.
	named := paths
	if paths, err = s.definitions(named); err != nil {
		return err
	}
	if cfg.OutputFile != "" && len(paths) > 1 {
		return usagef("--out takes one DEFINITION, and %s holds %d: use --out-dir", printable(resolver.Clip(named[0])), len(paths))
	}
	if out != nil {
		s.sweep(out)
	}
	if cfg.OutputDir != "" {
		// One output per definition, named after its dag_id: the daemon's
		// one pass, with its output-name policy and freshness files.
		return s.once(ctx, out, paths, status.New(), nil)
	}

	r := s.reconcile(ctx, paths)[0]
	if r.Err != nil {
		s.reportFailure(r.Path, r.Err)
		s.logger.Error("resolution failed", "failed", 1, "definitions", 1)
		return errFailed
	}
	if out == nil {
		if _, err := stdout.Write(r.Output); err != nil {
			return fmt.Errorf("write standard output: %w", err)
		}
		return nil
	}
	name := filepath.Base(cfg.OutputFile)
	changed, err := out.Write(name, r.Output)
	if err != nil {
		s.reportFailure(r.Path, reconcile.Failf(reconcile.ClassWrite, "%s: write %s: %w", r.Path, name, err))
		return errFailed
	}
	s.logger.Info("resolved", "definition", r.Path, "output", filepath.Join(out.Dir(), name),
		"references", len(r.Refs), "store", r.Store, "changed", changed)
	return nil
}

// once resolves paths in one pass of the daemon into out, and returns
// errFailed if any failed.
func (s *session) once(ctx context.Context, out *sink.File, paths []string, board *status.Board, rec *metrics.Recorder) error {
	d, err := daemon.New(daemon.Options{
		Reconciler: s.recon,
		Sink:       out,
		Workers:    s.cfg.Workers,
		Refresh:    s.cfg.RefreshInterval,
		FreshFor:   s.cfg.FreshFor,
		Once:       true,
		Logger:     s.logger.With("component", "daemon"),
		Metrics:    rec,
		Board:      board,
	})
	if err != nil {
		return &usageError{err}
	}
	failed := d.Once(ctx, paths)
	s.logger.Info("one pass done", "definitions", len(paths), "failed", failed, "output_dir", out.Dir())
	if failed > 0 {
		return errFailed
	}
	return nil
}

// staleTempAge is how old a temporary file must be before resolve treats it
// as left by a crashed write; writes take microseconds, so a younger one may
// belong to another omsecrets writing to the same directory.
const staleTempAge = time.Minute

// idleAfter is how long run waits, after its last batch, before it gives
// the pages of its binary back to the kernel (internal/pageout).
const idleAfter = 15 * time.Second

// sweepEvery is how often run sweeps the output directory for temporary
// files older than staleTempAge (one directory listing).
const sweepEvery = 3 * time.Second

// sweep removes temporary files (which hold secrets) that an interrupted
// write left in the output directory.
func (s *session) sweep(f *sink.File) {
	n, err := f.Sweep(staleTempAge)
	if n > 0 {
		s.logger.Warn("removed temporary files left by an interrupted write", "dir", f.Dir(), "files", n)
	}
	if err != nil {
		s.logger.Warn("sweep output directory", "dir", f.Dir(), "error", err.Error())
	}
}

// outputFormat is --format, else what the --out name implies, else JSON.
func outputFormat(cfg config.Config) (render.Format, error) {
	if cfg.Format != "" {
		f, err := render.ParseFormat(cfg.Format)
		if err != nil {
			return "", &usageError{err}
		}
		return f, nil
	}
	if f := render.FormatOf(cfg.OutputFile); f != "" {
		return f, nil
	}
	return render.JSON, nil
}

func newSink(cfg config.Config, dir string) (*sink.File, error) {
	gid, _ := cfg.GroupID() // validated
	f, err := sink.New(sink.Options{Dir: dir, Group: gid, AllowDisk: cfg.AllowDisk})
	if err != nil {
		return nil, &usageError{err}
	}
	return f, nil
}
