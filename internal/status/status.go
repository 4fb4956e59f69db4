package status

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Ref is the outcome of one reference of a definition.
type Ref struct {
	// Field is the reference's path in the resolved document.
	Field string `json:"field"`
	// Ref is the reference as it may be printed (its id redacted where the
	// store's ids are values).
	Ref string `json:"ref"`
	// Store is the store it resolves in.
	Store string `json:"store"`
	// Outcome is "ok" or the error class (resolver.Class).
	Outcome string `json:"outcome"`
}

// Definition is the status of one definition file.
type Definition struct {
	// Path is the definition file.
	Path string `json:"path"`
	// Name is the pipeline or workflow name its output is named after.
	Name string `json:"name,omitempty"`
	// Kind is the definition's shape (ingestion-pipeline, workflow-config).
	Kind string `json:"kind,omitempty"`
	// Output is the output file, once one was written.
	Output string `json:"output,omitempty"`
	// LastAttempt and LastSuccess are when the definition was last
	// resolved, and last resolved successfully.
	LastAttempt time.Time  `json:"lastAttempt"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	// OK reports whether the last attempt succeeded.
	OK bool `json:"ok"`
	// Stale is set when the last attempt failed but an earlier good output
	// is still kept.
	Stale bool `json:"stale"`
	// Class is the outcome class of the last attempt ("ok" on success).
	Class string `json:"class"`
	// Error is the one-line error of the last attempt.
	Error string `json:"error,omitempty"`
	// Refs are the references of the last attempt and their outcomes.
	Refs []Ref `json:"refs,omitempty"`
}

// Board holds the status of every definition and the readiness flag. It
// is safe for concurrent use.
type Board struct {
	mu    sync.Mutex
	defs  map[string]Definition
	ready bool
	start time.Time
}

// New returns an empty, not yet ready Board.
func New() *Board {
	return &Board{defs: make(map[string]Definition), start: time.Now()}
}

// Set records d, replacing the entry for d.Path.
func (b *Board) Set(d Definition) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.defs[d.Path] = d
}

// Get returns the entry for path.
func (b *Board) Get(path string) (Definition, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.defs[path]
	return d, ok
}

// Delete forgets path.
func (b *Board) Delete(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.defs, path)
}

// SetReady records readiness.
func (b *Board) SetReady(ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready = ready
}

// Ready reports readiness.
func (b *Board) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready
}

// Counts returns the number of definitions, of outputs kept, and of
// outputs that are stale.
func (b *Board) Counts() (defs, outputs, stale int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.defs {
		if d.Output != "" {
			outputs++
		}
		if d.Stale {
			stale++
		}
	}
	return len(b.defs), outputs, stale
}

// Snapshot is the /status document.
type Snapshot struct {
	Ready       bool         `json:"ready"`
	Started     time.Time    `json:"started"`
	Definitions []Definition `json:"definitions"`
}

// Snapshot returns every entry, sorted by path.
func (b *Board) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Snapshot{Ready: b.ready, Started: b.start, Definitions: make([]Definition, 0, len(b.defs))}
	for _, d := range b.defs {
		s.Definitions = append(s.Definitions, d)
	}
	slices.SortFunc(s.Definitions, func(a, b Definition) int { return cmp.Compare(a.Path, b.Path) })
	return s
}

// Handler returns the HTTP handler for /healthz, /readyz, /status and,
// when metrics is not nil, /metrics.
func (b *Board) Handler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !b.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: the first pass over the definitions has not finished\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(b.Snapshot())
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}
