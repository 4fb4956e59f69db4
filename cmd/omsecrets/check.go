package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/resolver"
)

// runCheck resolves every reference of every definition and prints one line
// per reference: definition, field, reference, store and outcome class. It
// writes nothing and prints no value.
func runCheck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, paths, err := parseCommand("check", args, environ, stderr, commonFlags)
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
	ls := load(paths)
	results := s.reconcile(ctx, ls)

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
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	for _, f := range failures {
		s.reportFailure(f.path, f.err)
	}
	s.logger.Info("check done", "definitions", len(paths), "references", refs, "failed_definitions", len(failures))
	if len(failures) > 0 {
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
