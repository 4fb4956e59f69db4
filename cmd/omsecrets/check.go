package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/resolver"
)

// runCheck resolves every reference of every definition, of either kind,
// named or in the directories named (definitionFiles), the way run does,
// and prints one line per reference: definition, field, reference, store
// and outcome class. It writes nothing and prints no value.
func runCheck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, sv, paths, err := parseCommand("check", args, environ, stderr)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("check needs at least one DEFINITION")
	}
	// Redact: the values are fetched (that is the check) but never kept in
	// an output.
	s, err := newSession(ctx, cfg, sv, stderr, sessionOptions{format: render.JSON, redact: true})
	if err != nil {
		return err
	}
	// A directory is read as run --once reads it.
	if paths, err = s.definitions(paths); err != nil {
		return err
	}
	results := s.reconcile(ctx, paths)

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEFINITION\tFIELD\tREFERENCE\tSTORE\tOUTCOME")
	refs, failed := 0, 0
	// Cells are clipped (resolver.Clip) so that a definition with a huge
	// key or id does not make the table pad every row to it; the loop
	// stops when the command is cancelled (SIGTERM).
	for _, r := range results {
		if ctx.Err() != nil {
			break
		}
		for _, o := range r.Refs {
			refs++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(resolver.Clip(r.Path)), printable(resolver.Clip(o.Path)), r.Label(o.Ref), r.StoreOf(o.Ref), reconcile.ClassOf(r.Outcomes[o.Ref]))
		}
		if r.Err == nil || len(r.Refs) > 0 {
			continue
		}
		// A definition stopped before any store call has no reference
		// lines: list its problems instead.
		var de *reconcile.DefinitionError
		if errors.As(r.Err, &de) {
			for _, f := range de.Failures {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(resolver.Clip(r.Path)), orDash(printable(resolver.Clip(f.Field))), orDash(f.Ref), orDash(r.Store), f.Class())
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", printable(resolver.Clip(r.Path)), r.Class())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	// Failures are logged after the table is flushed, so the two streams
	// do not interleave on a terminal.
	for _, r := range results {
		if r.Err != nil {
			failed++
			s.reportFailure(r.Path, r.Err)
		}
	}
	s.logger.Info("check done", "definitions", len(paths), "references", refs, "failed_definitions", failed)
	if failed > 0 {
		return errFailed
	}
	return nil
}

// printable returns a cell as the table may show it: as it is, or quoted
// (Go syntax) when it holds a character that is not printable: a file
// name in a definitions directory may hold a tab, a newline or a
// terminal escape.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
