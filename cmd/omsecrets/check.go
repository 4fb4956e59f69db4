package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"omsecrets/internal/daemon"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/status"
	"omsecrets/resolver"
)

// runCheck resolves every reference of every definition and prints one line
// per reference: definition, field, reference, store and outcome class. It
// writes nothing and prints no value.
func runCheck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, paths, err := parseCommand("check", args, environ, stderr, commonFlags, omFlags)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("check needs at least one DEFINITION")
	}
	// Redact: the values are fetched (that is the check) but never kept in
	// an output.
	s, err := newSession(cfg, environ, stderr, render.JSON, true)
	if err != nil {
		return err
	}
	// IngestionPipelines, and workflow configs whose connection comes from
	// the OpenMetadata API, are resolved the way run resolves them, with
	// nothing written.
	var ls []loaded
	var viaAPI []string
	for _, l := range load(paths) {
		if l.Err == nil && needsDaemon(l.Def) != nil {
			viaAPI = append(viaAPI, l.Path)
			continue
		}
		ls = append(ls, l)
	}
	results := s.reconcile(ctx, ls)
	board := status.New()
	if len(viaAPI) > 0 {
		d, err := newDaemon(cfg, s, daemon.Options{DryRun: true, Board: board})
		if err != nil {
			return err
		}
		d.Once(ctx, viaAPI)
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEFINITION\tFIELD\tREFERENCE\tSTORE\tOUTCOME")
	refs := 0
	// Failures are logged after the table is flushed, so the two streams
	// do not interleave on a terminal.
	type failure struct {
		path string
		err  error
	}
	var failures []failure
	for _, l := range ls {
		if l.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", l.Path, "invalid")
			failures = append(failures, failure{l.Path, l.Err})
		}
	}
	for _, r := range results {
		for _, o := range r.Refs {
			refs++
			class := resolver.Class(r.Outcomes[o.Ref])
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Def.Path, o.Path, r.Label(o.Ref), r.Store, class)
		}
		if r.Err != nil {
			// A definition stopped before any store call has no reference
			// lines: list its problems instead.
			var de *reconcile.DefinitionError
			if len(r.Refs) == 0 && errors.As(r.Err, &de) {
				for _, f := range de.Failures {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Def.Path, orDash(f.Field), orDash(f.Ref), orDash(r.Store), f.Class())
				}
			}
			failures = append(failures, failure{r.Def.Path, r.Err})
		}
	}
	apiFailed := 0
	for _, path := range viaAPI {
		st, _ := board.Get(path)
		for _, r := range st.Refs {
			refs++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", path, r.Field, r.Ref, r.Store, r.Outcome)
		}
		if !st.OK {
			apiFailed++ // the daemon logged it, once
			if len(st.Refs) == 0 {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", path, orDash(st.Class))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	for _, f := range failures {
		s.reportFailure(f.path, f.err)
	}
	s.logger.Info("check done", "definitions", len(paths), "references", refs, "failed_definitions", len(failures)+apiFailed)
	if len(failures)+apiFailed > 0 {
		return errFailed
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
