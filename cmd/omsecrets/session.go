package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"omsecrets/internal/awsconfig"
	"omsecrets/internal/config"
	"omsecrets/internal/logging"
	"omsecrets/internal/metrics"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/db"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/file"
)

// session is what resolve and check share: the logger, the stores and the
// reconciler built from one validated config.
type session struct {
	cfg    config.Config
	logger *slog.Logger
	res    *resolver.Resolver
	recon  *reconcile.Reconciler
}

func newSession(cfg config.Config, environ []string, stderr io.Writer, format render.Format, redact bool) (*session, error) {
	return newSessionWith(cfg, environ, stderr, format, redact, nil)
}

// newSessionWith is newSession with a metrics recorder (nil for none)
// observing the resolver.
func newSessionWith(cfg config.Config, environ []string, stderr io.Writer, format render.Format, redact bool, rec *metrics.Recorder) (*session, error) {
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
	stores, err := buildStores(context.Background(), cfg, environ, logger)
	if err != nil {
		return nil, &usageError{err}
	}
	limits, _ := cfg.Limits() // validated
	ropts := resolver.Options{
		Stores:      stores,
		Logger:      logger.With("component", "resolver"),
		CacheTTL:    cfg.CacheTTL,
		Concurrency: cfg.Concurrency,
		Limits:      make(map[string]resolver.Limit, len(limits)),
	}
	for store, l := range limits {
		ropts.Limits[store] = resolver.Limit{Rate: l.Rate, Burst: l.Burst}
	}
	if rec != nil {
		ropts.Observer = rec
	}
	res := resolver.New(ropts)
	return &session{
		cfg:    cfg,
		logger: logger,
		res:    res,
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
func buildStores(ctx context.Context, cfg config.Config, environ []string, logger *slog.Logger) (map[string]resolver.Getter, error) {
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
	// AWS: built when a region is configured; the credentials come from the
	// SDK's default chain unless given in the environment. Without a
	// region they are left out, and a definition that needs them says so;
	// --provider aws or aws-ssm makes a missing region an error at once.
	awsCfg, ep, err := awsconfig.Load(ctx, vars)
	switch {
	case err == nil:
		stores["aws"] = awssm.New(awsCfg, awssm.Options{Endpoint: ep.SecretsManager, Logger: logger.With("store", "aws")})
		stores["aws-ssm"] = awsssm.New(awsCfg, awsssm.Options{Endpoint: ep.SSM, Logger: logger.With("store", "aws-ssm")})
		logger.Debug("aws stores configured", "region", awsCfg.Region, "credentials", awsconfig.CredentialSource(vars))
	case errors.Is(err, awsconfig.ErrNoRegion) && !wantsAWS(cfg.Provider):
	default:
		return nil, fmt.Errorf("aws: %w", err)
	}
	return stores, nil
}

// wantsAWS reports whether provider names an AWS store.
func wantsAWS(provider string) bool {
	store, err := reconcile.StoreFor(provider)
	return err == nil && (store == "aws" || store == "aws-ssm")
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

// needsDaemon refuses, in resolve, a definition that needs the
// OpenMetadata API to become a workflow config: `run` handles those, and
// check resolves them the way run does.
func needsDaemon(def *workflow.Definition) error {
	switch {
	case def.Kind == workflow.KindIngestionPipeline:
		return fmt.Errorf("%s: an IngestionPipeline needs its service from the OpenMetadata API: use omsecrets run --once --watch-dirs %s --out-dir DIR", def.Path, filepath.Dir(def.Path))
	case def.Kind != workflow.KindWorkflowConfig:
		return fmt.Errorf("%s: a %s cannot be resolved by this command", def.Path, def.Kind)
	}
	if ref, ok := def.NeedsService(); ok {
		return fmt.Errorf("%s: source.serviceConnection is missing: the connection of %s %q comes from the OpenMetadata API: use omsecrets run --once --watch-dirs %s --out-dir DIR", def.Path, ref.Type, ref.Name, filepath.Dir(def.Path))
	}
	return nil
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
