package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/safefile"
	"omsecrets/sink"
)

// StatusExt is the extension of the freshness file written next to each
// output: <dag_id>.status beside <dag_id>.json. A dag_id never contains a
// dot, so the two cannot clash.
const StatusExt = ".status"

// ReportExt is the extension of the report file written next to the
// output of an ingestion pipeline: <dag_id>.report.json. It holds the
// bot's OpenMetadata connection (JWT resolved) and nothing else, so that
// the ingestion task can report a run that failed closed even when there
// is no output to take it from.
const ReportExt = ".report.json"

// Report is the content of a <dag_id>.report.json file.
type Report struct {
	// Version is 1.
	Version int `json:"omsecretsReport"`
	// DagID is the output's name without its extension.
	DagID string `json:"dagId"`
	// FQN is the pipeline's fullyQualifiedName.
	FQN string `json:"ingestionPipelineFQN"`
	// Server is the pipeline's openMetadataServerConnection as a resolved
	// output's workflowConfig.openMetadataServerConfig holds it.
	Server json.RawMessage `json:"openMetadataServerConfig"`
}

// Freshness is the content of a <dag_id>.status file: what the ingestion
// task checks before it trusts <dag_id>.json. It holds no value.
type Freshness struct {
	// Version is 1.
	Version int `json:"omsecretsStatus"`
	// DagID is the output's name without its extension.
	DagID string `json:"dagId"`
	// Definition is the definition file.
	Definition string `json:"definition"`
	// DefinitionSHA256 is the digest of the definition file's bytes the
	// current output was resolved from; empty without an output.
	DefinitionSHA256 string `json:"definitionSHA256,omitempty"`
	// Output is the output's file name in the same directory; empty when
	// there is none.
	Output string `json:"output,omitempty"`
	// State is "current" (the last attempt succeeded), "stale" (it failed;
	// Output is the last good one) or "failed" (no output).
	State string `json:"state"`
	// Outcome is "ok" or the outcome class of the last attempt; Error is
	// its one-line message.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// ResolvedAt is when the output's content was last confirmed by a
	// successful resolution; CheckedAt when the last attempt ended;
	// FreshUntil is after which the output counts as stale even if the
	// sidecar says nothing more (it stopped refreshing).
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
	CheckedAt  time.Time  `json:"checkedAt"`
	FreshUntil *time.Time `json:"freshUntil,omitempty"`
	// Mode is "run" or "once".
	Mode string `json:"mode"`
}

// Freshness states.
const (
	StateCurrent = "current"
	StateStale   = "stale"
	StateFailed  = "failed"
)

// good is what is known of an output that was written: which definition
// bytes it came from and when it was last confirmed.
type good struct {
	digest     string
	resolvedAt time.Time
}

// outputs owns the output directory: which definition owns which output
// name, claims, removal with the definition, adoption of a previous run's
// outputs, and the freshness files. Two definitions never share an output:
// the first to claim a name keeps it, the other fails with
// output_conflict until the name is free again. It is safe for concurrent
// use; all its state is under mu.
type outputs struct {
	sink   *sink.File
	ext    string
	logger *slog.Logger

	mu          sync.Mutex
	defs        map[string]string // known definition path -> its output name ("" if none)
	owners      map[string]string // output name -> definition path
	blocked     map[string]string // definition path -> output name it could not claim
	expected    map[string]string // failing definition path -> the output name it would write
	goods       map[string]good   // output name -> what it holds
	preexisting map[string]bool   // outputs found at start, until the first pass is over
	pregoods    map[string]good   // what their status files said at start
	removeLater map[string]bool   // outputs whose removal failed, tried again later
	reports     map[string]string // definition path -> its report file name
}

func newOutputs(snk *sink.File, ext string, logger *slog.Logger) *outputs {
	return &outputs{
		sink: snk, ext: ext, logger: logger,
		defs:        make(map[string]string),
		owners:      make(map[string]string),
		blocked:     make(map[string]string),
		expected:    make(map[string]string),
		goods:       make(map[string]good),
		removeLater: make(map[string]bool),
		reports:     make(map[string]string),
	}
}

// name is the output name of a raw pipeline or workflow name.
func (o *outputs) name(raw string) string { return sink.Name(raw, o.ext) }

// statusName is the freshness file of output name.
func statusName(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name)) + StatusExt
}

// reportName is the report file of output name.
func reportName(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name)) + ReportExt
}

// isReport reports whether a file name in the directory is a report file.
func isReport(name string) bool { return strings.HasSuffix(name, ReportExt) }

// path is the output file name in the directory.
func (o *outputs) path(name string) string { return filepath.Join(o.sink.Dir(), name) }

// start notes the outputs a previous run left; they are adopted or swept
// once the first pass is over (sweep).
func (o *outputs) start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.preexisting = o.listLocked()
	// Read now: the first pass rewrites the status files.
	o.pregoods = make(map[string]good)
	for name := range o.preexisting {
		if !strings.HasSuffix(name, StatusExt) && !isReport(name) {
			o.pregoods[name] = o.readGood(name)
		}
	}
}

// known returns the definition paths seen and not removed.
func (o *outputs) known() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(maps.Keys(o.defs))
}

// remember records path as a known definition: it is refreshed, and keeps
// its output while it fails.
func (o *outputs) remember(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.defs[path]; !ok {
		o.defs[path] = ""
	}
}

// outputOf returns the output name of path, if it has one.
func (o *outputs) outputOf(path string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	name := o.defs[path]
	return name, name != ""
}

// lastGood returns what output name holds.
func (o *outputs) lastGood(name string) (good, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	g, ok := o.goods[name]
	return g, ok
}

// forget handles a definition file that is gone: its output is removed.
// It returns the output removed ("" for none), whether path was known, and
// the definitions that were refused that name and may claim it now.
func (o *outputs) forget(path string) (removed string, known bool, retry []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, known = o.defs[path]
	delete(o.defs, path)
	delete(o.blocked, path)
	o.dropReportLocked(path)
	if want, ok := o.expected[path]; ok {
		delete(o.expected, path)
		// A definition that never wrote an output still left a status
		// file saying why; it goes too, unless another owns the name.
		if _, owned := o.owners[want]; !owned {
			if err := o.sink.Remove(statusName(want)); err != nil {
				o.logger.Warn("status file not removed", "output", o.path(statusName(want)), "error", err.Error())
			}
		}
	}
	var names []string
	for n, owner := range o.owners {
		if owner == path {
			// Removed while the name is still held, so that no other
			// definition can have written it in between.
			o.removeLocked(n, path)
			delete(o.owners, n)
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		removed = names[0]
	}
	return removed, known, o.unblockLocked(names)
}

// unblockLocked returns the definitions refused one of names, now free.
func (o *outputs) unblockLocked(names []string) []string {
	var out []string
	for p, n := range o.blocked {
		if slices.Contains(names, n) {
			out = append(out, p)
			delete(o.blocked, p)
		}
	}
	return out
}

// write writes path's output under name, claiming the name first. It
// returns whether the bytes changed and the definitions that may now claim
// a name path gave up (a renamed pipeline's old name, or a claim released
// after a failed first write). Errors are *reconcile.Error of
// ClassConflict or ClassWrite.
func (o *outputs) write(path, name, digest string, data []byte, now time.Time) (changed bool, retry []string, err error) {
	o.mu.Lock()
	owner, claimed := o.owners[name]
	if claimed && owner != path {
		o.blocked[path] = name
		o.mu.Unlock()
		return false, nil, reconcile.Failf(reconcile.ClassConflict, "%s: %w: output %s is already written for %s; rename one of the two", path, reconcile.ErrOutputConflict, name, owner)
	}
	o.owners[name] = path
	delete(o.blocked, path)
	o.mu.Unlock()

	changed, werr := o.sink.Write(name, data)

	o.mu.Lock()
	defer o.mu.Unlock()
	if werr != nil {
		if !claimed {
			delete(o.owners, name) // never written: the claim goes
			retry = o.unblockLocked([]string{name})
		}
		return false, retry, reconcile.Failf(reconcile.ClassWrite, "%s: write %s: %w", path, name, werr)
	}
	o.goods[name] = good{digest: digest, resolvedAt: now}
	old := o.defs[path]
	o.defs[path] = name
	if old != "" && old != name && o.owners[old] == path {
		// The definition's output name changed (a renamed pipeline): its
		// old output goes, while the old name is still held.
		o.removeLocked(old, path)
		delete(o.owners, old)
		retry = o.unblockLocked([]string{old})
	}
	return changed, retry, nil
}

// writeStatus writes the freshness file of output name. A failure is
// logged, not returned: the task then sees an older status, which is at
// worst stale, never falsely current for new bytes (the output was
// written first, and the digest ties it to its definition).
//
// Only the definition that owns the output name, or any while nobody does,
// writes its status file: one refused the name (output_conflict) must not
// overwrite the owner's.
func (o *outputs) writeStatus(path, name string, f Freshness) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		o.logger.Error("status file not written", "output", o.path(name), "error", err.Error())
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if owner, owned := o.owners[name]; owned && owner != path {
		return
	}
	_, err = o.sink.Write(statusName(name), append(data, '\n'))
	if err != nil {
		o.logger.Error("status file not written", "output", o.path(name), "error", err.Error())
		if f.State != StateCurrent {
			// The old file may still say current (a full tmpfs refuses
			// the new one): a task must not trust the output on its
			// word. Removing a file needs no space.
			if rerr := o.sink.Remove(statusName(name)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				o.logger.Error("stale status file not removed", "output", o.path(name), "error", rerr.Error())
			}
		}
	}
}

// writeReport writes the report file of path, whose output name is name,
// holding data. Like its status file, only the definition that owns the
// output name, or any while nobody does, writes it. A failure is logged,
// not returned: the report is best-effort, the output is not.
func (o *outputs) writeReport(path, name string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if owner, owned := o.owners[name]; owned && owner != path {
		return
	}
	rn := reportName(name)
	if old, ok := o.reports[path]; ok && old != rn {
		o.dropReportLocked(path) // a renamed pipeline: its old report goes
	}
	if _, err := o.sink.Write(rn, data); err != nil {
		o.logger.Error("report file not written", "output", o.path(rn), "error", err.Error())
		// An older one may hold a JWT since rotated: better none.
		if rerr := o.sink.Remove(rn); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			o.logger.Error("old report file not removed", "output", o.path(rn), "error", rerr.Error())
		}
		return
	}
	o.reports[path] = rn
}

// dropReport removes the report file path wrote, if any.
func (o *outputs) dropReport(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropReportLocked(path)
}

func (o *outputs) dropReportLocked(path string) {
	rn, ok := o.reports[path]
	if !ok {
		return
	}
	delete(o.reports, path)
	delete(o.preexisting, rn)
	if err := o.sink.Remove(rn); err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.logger.Warn("report file not removed", "output", o.path(rn), "error", err.Error())
	}
}

// adoption is an output of a previous run given to a failing definition.
type adoption struct{ path, name string }

// sweep runs once the first pass is over. An output a previous run of
// omsecrets left (the output directory, a memory-backed emptyDir, outlives
// a container restart) that no definition wrote in this pass either goes
// to the failing definition that would write it (kept as its last good
// output, stale) or, when no definition would, is removed with its status
// file: its definition was deleted while omsecrets was not running, and it
// holds secrets. Deciding only now, after every definition has had its
// turn, lets one that resolves win a name over one that fails.
//
// With remove false (a one-shot run, which may share the directory with
// other runs), outputs are only adopted, never removed.
func (o *outputs) sweep(remove bool) []adoption {
	o.mu.Lock()
	defer o.mu.Unlock()
	var adopted []adoption
	for _, name := range slices.Sorted(maps.Keys(o.preexisting)) {
		if strings.HasSuffix(name, StatusExt) || isReport(name) {
			continue
		}
		if _, owned := o.owners[name]; owned {
			continue
		}
		var heir string
		for path, want := range o.expected {
			if want == name && o.defs[path] == "" && (heir == "" || path < heir) {
				heir = path
			}
		}
		if heir != "" {
			o.owners[name] = heir
			o.defs[heir] = name
			o.goods[name] = o.pregoods[name]
			adopted = append(adopted, adoption{heir, name})
			continue
		}
		if !remove {
			continue
		}
		o.removeLocked(name, "")
		if !o.removeLater[name] {
			o.logger.Info("removed an output whose definition is gone", "output", o.path(name))
		}
	}
	// Status files of outputs nobody owns (a definition that never
	// resolved and is gone) go too.
	for name := range o.preexisting {
		if !remove || !strings.HasSuffix(name, StatusExt) {
			continue
		}
		if !o.statusOwnedLocked(name) {
			_ = o.sink.Remove(name)
		}
	}
	// Report files no definition wrote in this pass hold a bot JWT for a
	// definition that is gone (or no longer has one): they go.
	for name := range o.preexisting {
		if !remove || !isReport(name) {
			continue
		}
		if !slices.Contains(slices.Collect(maps.Values(o.reports)), name) {
			if err := o.sink.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				o.logger.Warn("report file not removed", "output", o.path(name), "error", err.Error())
			}
		}
	}
	o.preexisting, o.pregoods = nil, nil
	return adopted
}

// statusOwnedLocked reports whether status file name belongs to an output
// a definition owns or would write.
func (o *outputs) statusOwnedLocked(name string) bool {
	for n := range o.owners {
		if statusName(n) == name {
			return true
		}
	}
	for _, n := range o.expected {
		if statusName(n) == name {
			return true
		}
	}
	return false
}

// readGood reads what the freshness file of an adopted output says it
// holds; without one the output counts as from unknown bytes, so a task
// checking the digest never takes it as current.
func (o *outputs) readGood(name string) good {
	// A FIFO or a device planted under the name must not hang start-up.
	data, err := safefile.Read(o.path(statusName(name)), maxStatusSize)
	if err != nil {
		return good{}
	}
	return parseGood(data)
}

// maxStatusSize bounds a freshness file read back; ours are a few hundred
// bytes.
const maxStatusSize = 64 << 10

// parseGood reads what a freshness file says its output holds: nothing
// unless it is a version 1 file of ours with a resolution time and a
// digest of the form we write.
func parseGood(data []byte) good {
	if len(data) > maxStatusSize {
		return good{}
	}
	var f Freshness
	if json.Unmarshal(data, &f) != nil || f.Version != 1 || f.ResolvedAt == nil || f.ResolvedAt.IsZero() || !isDigest(f.DefinitionSHA256) {
		return good{}
	}
	return good{digest: f.DefinitionSHA256, resolvedAt: f.ResolvedAt.UTC()}
}

// isDigest reports whether s is a SHA-256 in lower-case hex.
func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// expect records, for a definition that failed, the output name it would
// write; "" (success) forgets it.
func (o *outputs) expect(path, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if name == "" {
		delete(o.expected, path)
		return
	}
	o.expected[path] = name
}

// retryRemovals tries again to remove outputs a failed removal left.
func (o *outputs) retryRemovals() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for name := range o.removeLater {
		o.removeLocked(name, "")
	}
}

// listLocked returns the output and status files in the directory. Files
// of every output format count, so that outputs of an earlier run in the
// other format are swept too.
func (o *outputs) listLocked() map[string]bool {
	entries, err := os.ReadDir(o.sink.Dir())
	if err != nil {
		return nil
	}
	out := make(map[string]bool)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		switch filepath.Ext(name) {
		case ".json", ".yaml", StatusExt:
			out[name] = true
		}
	}
	return out
}

// removeLocked removes output name, which path owned ("" for none), and
// its status file, and forgets it was there at start. A removal that fails
// is retried with the retries, so no output holding secrets is left
// unowned for good.
func (o *outputs) removeLocked(name, path string) {
	delete(o.preexisting, name)
	delete(o.goods, name)
	if err := o.sink.Remove(name); err != nil {
		if !o.removeLater[name] {
			o.logger.Error("output not removed; will try again", "definition", path, "output", name, "error", err.Error())
		}
		o.removeLater[name] = true
		return
	}
	delete(o.removeLater, name)
	st := statusName(name)
	delete(o.preexisting, st)
	if err := o.sink.Remove(st); err != nil {
		o.logger.Warn("status file not removed", "output", o.path(st), "error", fmt.Sprint(err))
	}
}
