package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"omsecrets/internal/config"
	"omsecrets/internal/logging"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
	"omsecrets/resolver/db"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/file"
)

// session is what resolve and check share: the logger, the stores and the
// reconciler built from one validated config.
type session struct {
	cfg    config.Config
	logger *slog.Logger
	recon  *reconcile.Reconciler
}

func newSession(cfg config.Config, environ []string, stderr io.Writer, format render.Format, redact bool) (*session, error) {
	level, _ := cfg.Level() // validated
	logger, err := logging.New(stderr, cfg.LogFormat, level)
	if err != nil {
		return nil, &usageError{err}
	}
	if cfg.Provider != "" {
		if _, err := reconcile.StoreFor(cfg.Provider); err != nil {
			return nil, usagef("--provider / %sPROVIDER: %w", config.Prefix, err)
		}
		if cfg.Provider == "file" && cfg.FileDir == "" {
			return nil, usagef("--provider file needs --file-dir / %sFILE_DIR", config.Prefix)
		}
	}
	logger.Debug("configuration", "config", cfg)
	stores, err := buildStores(cfg, environ)
	if err != nil {
		return nil, &usageError{err}
	}
	res := resolver.New(resolver.Options{Stores: stores, Logger: logger.With("component", "resolver")})
	return &session{
		cfg:    cfg,
		logger: logger,
		recon: reconcile.New(reconcile.Options{
			Resolver: res,
			Provider: cfg.Provider,
			Format:   format,
			Redact:   redact,
		}),
	}, nil
}

// buildStores builds the stores this configuration enables. The env
// store reads environ, not the live process environment, so a test can
// hand it one.
func buildStores(cfg config.Config, environ []string) (map[string]resolver.Getter, error) {
	vars := config.EnvMap(environ)
	stores := map[string]resolver.Getter{
		"db": db.New(),
		"env": envvar.New(cfg.EnvPrefix, func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		}),
	}
	if cfg.FileDir != "" {
		fs, err := file.New(cfg.FileDir)
		if err != nil {
			return nil, fmt.Errorf("--file-dir / %sFILE_DIR: %w", config.Prefix, err)
		}
		stores["file"] = fs
	}
	return stores, nil
}

// loaded is one definition file after reading and parsing: Def, or Err.
type loaded struct {
	Path string
	Def  *workflow.Definition
	Err  error
}

// load reads and parses every path. A file that fails is reported in its
// entry; the others go on.
func load(paths []string) []loaded {
	out := make([]loaded, len(paths))
	for i, p := range paths {
		out[i].Path = p
		data, err := os.ReadFile(p)
		if err != nil {
			out[i].Err = fmt.Errorf("read definition: %w", err)
			continue
		}
		out[i].Def, out[i].Err = workflow.Parse(p, data)
	}
	return out
}

// reconcile resolves every parsed definition with a timeout. Results are
// in the order of the parsed definitions in ls.
func (s *session) reconcile(ctx context.Context, ls []loaded) []*reconcile.Result {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var defs []*workflow.Definition
	for _, l := range ls {
		if l.Err == nil {
			defs = append(defs, l.Def)
		}
	}
	return s.recon.Reconcile(ctx, defs)
}

// reportFailure logs one definition's failure: one line per problem, then
// nothing else; the caller decides the exit code.
func (s *session) reportFailure(path string, err error) {
	var de *reconcile.DefinitionError
	if !errors.As(err, &de) {
		s.logger.Error("definition failed", "definition", path, "error", err.Error())
		return
	}
	for _, f := range de.Failures {
		attrs := []any{"definition", path, "class", f.Class()}
		if f.Field != "" {
			attrs = append(attrs, "field", f.Field)
		}
		if f.Ref != "" {
			attrs = append(attrs, "reference", f.Ref, "store", f.Store)
		}
		attrs = append(attrs, "error", f.Error())
		s.logger.Error("definition not resolved", attrs...)
	}
}
