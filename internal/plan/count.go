package plan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/status"
	"omsecrets/resolver"
)

// Where a plan's ids come from.
const (
	SourceDefinitions = "definitions"
	SourceStatus      = "status"
)

// maxStatusBody bounds a /status document: a sidecar with a thousand
// definitions of twenty references each serves about 6 MiB.
const maxStatusBody = 16 << 20

// IDs maps each store to the set of its unique secret ids (the fetch
// unit). The ids of stores whose ids are values are kept here to be
// counted, and never printed.
type IDs map[string]map[string]bool

// Add records id in store.
func (p IDs) Add(store, id string) {
	if p[store] == nil {
		p[store] = make(map[string]bool)
	}
	p[store][id] = true
}

// Counted is what a plan is made from: the ids and where they come from.
type Counted struct {
	IDs IDs
	// Source is SourceDefinitions or SourceStatus.
	Source string
	// Definitions is the number of definitions read, counted or not.
	Definitions int
	// SkippedRefs counts /status references that named no known store or
	// did not parse.
	SkippedRefs int
	// NotCounted are the definitions whose references could not be
	// counted, each with why.
	NotCounted []NotCounted
}

// NotCounted is a definition whose references a plan leaves out, and why:
// its first problem, as check and the log word it.
type NotCounted struct {
	Definition string `json:"definition"`
	// Field is the field of the first problem, "" for the whole file.
	Field string `json:"field,omitempty"`
	Class string `json:"class"`
	// Error is the first problem in one line: field, reference, class
	// and reason; never a value.
	Error string `json:"error"`
	// Problems is the number of problems found (at least 1).
	Problems int `json:"problems"`
}

// FromResults counts the secret ids that results read or would read:
// their Uses (one per secret whatever its #keys, in the stores routes
// send them to, fallbacks included), and the references of stores whose
// ids are values, which Uses leave out. A result that failed is listed in
// NotCounted; what it read before failing (a bot JWT) is still counted.
func FromResults(results []*reconcile.Result, hidesIDs func(store string) bool) Counted {
	c := Counted{IDs: make(IDs), Source: SourceDefinitions, Definitions: len(results)}
	for _, r := range results {
		for _, u := range r.Uses {
			c.IDs.Add(u.Store, u.ID)
		}
		for _, o := range r.Refs {
			for st := range strings.SplitSeq(r.StoreOf(o.Ref), "|") {
				if hidesIDs(st) {
					c.IDs.Add(st, o.Ref.ID)
				}
			}
		}
		if r.Err != nil {
			c.NotCounted = append(c.NotCounted, notCounted(r.Path, r.Err))
		}
	}
	return c
}

// notCounted words a definition's failure for the plan.
func notCounted(path string, err error) NotCounted {
	class := reconcile.ClassOf(err)
	// The other errors start with the path, which the line gives first.
	reason := strings.TrimPrefix(err.Error(), path+": ")
	n := NotCounted{Definition: printable(resolver.Clip(path)), Class: class, Error: printable(problemLine(class + ": " + reason)), Problems: 1}
	var de *reconcile.DefinitionError
	if errors.As(err, &de) && len(de.Failures) > 0 {
		f := de.Failures[0]
		n.Field = printable(resolver.Clip(f.Field))
		n.Class = f.Class()
		n.Error = printable(problemLine(f.Error()))
		n.Problems = len(de.Failures)
	}
	return n
}

// FromStatus reads a running sidecar's /status at u and counts the ids
// of the references it lists. The document is not trusted: its size is
// bounded, the request timed, and references that name no store of
// stores or do not parse are skipped and counted. Errors are one line
// without the URL (the caller names it as it may print it).
func FromStatus(ctx context.Context, u *url.URL, timeout time.Duration, stores []resolver.Spec) (Counted, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Counted{}, errors.New("not a URL")
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{
		// A redirect is not followed: /status answers itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return Counted{}, requestError(ctx, err, timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counted{}, fmt.Errorf("answered %d %s, want 200", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody+1))
	if err != nil {
		return Counted{}, requestError(ctx, err, timeout)
	}
	if len(data) > maxStatusBody {
		return Counted{}, fmt.Errorf("the document is larger than %d MiB", maxStatusBody>>20)
	}
	var snap status.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return Counted{}, fmt.Errorf("not a /status document: %s", jsonProblem(err))
	}
	return fromSnapshot(snap, stores), nil
}

// fromSnapshot counts the ids of a /status document's references.
func fromSnapshot(snap status.Snapshot, stores []resolver.Spec) Counted {
	known := make(map[string]bool, len(stores))
	for _, s := range stores {
		known[s.Name] = true
	}
	c := Counted{IDs: make(IDs), Source: SourceStatus, Definitions: len(snap.Definitions)}
	for _, d := range snap.Definitions {
		for _, r := range d.Refs {
			names := strings.Split(r.Store, "|")
			ref, err := resolver.ParseRef(r.Ref)
			if err != nil || len(names) > 2 || !allKnown(names, known) {
				c.SkippedRefs++
				continue
			}
			for _, st := range names {
				id := ref.ID
				if id == resolver.Redacted {
					// The store's ids are values, printed redacted: count
					// each reference.
					id = d.Path + "\x00" + r.Field
				}
				c.IDs.Add(st, id)
			}
		}
	}
	return c
}

func allKnown(stores []string, known map[string]bool) bool {
	for _, s := range stores {
		if !known[s] {
			return false
		}
	}
	return true
}

// requestError words a failed request in one line, without the URL the
// net/http error repeats (and its query).
func requestError(ctx context.Context, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s (--timeout)", timeout)
	}
	return errors.New(oneLine(err.Error()))
}

// jsonProblem words a decoding error without quoting the document.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("a JSON %s where %s wants a %s", te.Value, cmp.Or(te.Field, "the document"), te.Type)
	}
	return oneLine(err.Error())
}

// oneLine clips s and folds it onto one line.
func oneLine(s string) string {
	return resolver.Clip(strings.Join(strings.Fields(s), " "))
}

// maxProblem bounds the problem a plan quotes for a definition it could
// not count; the pipeline's messages clip the ids and fields they name,
// so this is only a backstop.
const maxProblem = 2048

// problemLine folds a problem onto one line, clipped at maxProblem.
func problemLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxProblem {
		cut := maxProblem
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s…[%d bytes]", s[:cut], len(s))
	}
	return s
}

// printable returns s as a line of a report may show it: as it is, or
// quoted (Go syntax) when it holds a character that is not printable (a
// file name in a definitions directory may hold a newline or a terminal
// escape).
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
