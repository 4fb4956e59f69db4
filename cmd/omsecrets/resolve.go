package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"omsecrets/internal/config"
	"omsecrets/internal/render"
	"omsecrets/sink"
)

// output is where one resolved definition goes.
type output struct {
	sink *sink.File // nil for standard output
	name string
}

func runResolve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, paths, err := parseCommand("resolve", args, environ, stderr, commonFlags, outputFlags)
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
	var dirSink *sink.File
	var single output
	switch {
	case cfg.OutputFile == "-":
	case cfg.OutputFile != "":
		f, err := newSink(cfg, filepath.Dir(cfg.OutputFile))
		if err != nil {
			return err
		}
		single = output{sink: f, name: filepath.Base(cfg.OutputFile)}
	default:
		if dirSink, err = newSink(cfg, cfg.OutputDir); err != nil {
			return err
		}
	}

	s, err := newSession(cfg, environ, stderr, format, cfg.Redact)
	if err != nil {
		return err
	}
	for _, f := range []*sink.File{dirSink, single.sink} {
		if f != nil {
			s.sweep(f)
		}
	}
	ls := load(paths)
	for i, l := range ls {
		if l.Err == nil {
			if err := needsDaemon(l.Def); err != nil {
				ls[i].Def, ls[i].Err = nil, err
			}
		}
	}
	results := s.reconcile(ctx, ls)

	failed := 0
	for _, l := range ls {
		if l.Err != nil {
			s.reportFailure(l.Path, l.Err)
			failed++
		}
	}
	// Two definitions must not silently overwrite one output, and neither
	// has a better claim: all that share a name are refused.
	claimants := make(map[string][]string)
	if dirSink != nil {
		for _, r := range results {
			if r.Err == nil {
				name := sink.Name(r.Def.Name, "."+string(format))
				claimants[name] = append(claimants[name], r.Def.Path)
			}
		}
	}
	for _, r := range results {
		if r.Err != nil {
			s.reportFailure(r.Def.Path, r.Err)
			failed++
			continue
		}
		out := single
		if dirSink != nil {
			out = output{sink: dirSink, name: sink.Name(r.Def.Name, "."+string(format))}
		}
		if c := claimants[out.name]; len(c) > 1 {
			s.reportFailure(r.Def.Path, fmt.Errorf("%s: output name %s is shared by %s; rename all but one", r.Def.Path, out.name, strings.Join(c, ", ")))
			failed++
			continue
		}
		if out.sink == nil {
			if _, err := stdout.Write(r.Output); err != nil {
				return fmt.Errorf("write standard output: %w", err)
			}
			continue
		}
		changed, err := out.sink.Write(out.name, r.Output)
		if err != nil {
			s.reportFailure(r.Def.Path, err)
			failed++
			continue
		}
		s.logger.Info("resolved", "definition", r.Def.Path, "output", filepath.Join(out.sink.Dir(), out.name),
			"references", len(r.Refs), "store", r.Store, "changed", changed)
	}
	if failed > 0 {
		s.logger.Error("resolution failed", "failed", failed, "definitions", len(paths))
		return errFailed
	}
	return nil
}

// staleTempAge is how old a temporary file must be before resolve treats it
// as left by a crashed write; writes take microseconds, so a younger one may
// belong to another omsecrets writing to the same directory.
const staleTempAge = time.Minute

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
