package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"omsecrets/internal/render"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
)

// DefaultProvider is used when neither the caller nor the definition names
// one; it is OpenMetadata's own default.
const DefaultProvider = "db"

// Options configures a Reconciler.
type Options struct {
	// Resolver resolves references; its store names are those StoreFor
	// returns.
	Resolver *resolver.Resolver
	// Provider, when set, overrides every definition's
	// secretsManagerProvider.
	Provider string
	// Format is the output format.
	Format render.Format
	// Redact substitutes "[redacted]" for every resolved value in the
	// output. Resolution still happens and still fails closed.
	Redact bool
}

// Reconciler turns definitions into outputs. It is safe for concurrent use.
type Reconciler struct {
	opts Options
}

// New returns a Reconciler.
func New(opts Options) *Reconciler {
	if opts.Format == "" {
		opts.Format = render.JSON
	}
	return &Reconciler{opts: opts}
}

// Result is the outcome for one definition.
type Result struct {
	Def *workflow.Definition
	// Provider and Store are what the definition's references resolve in.
	Provider, Store string
	// Refs are the references found, in document order.
	Refs []render.Occurrence
	// Outcomes maps each reference to its error (nil when it resolved).
	Outcomes map[resolver.Ref]error
	// HideIDs is set when the store's ids are values (the db store): print
	// references with Label, never Ref.String.
	HideIDs bool
	// Output is the resolved document; nil unless Err is nil.
	Output []byte
	// Err is nil on success, else a *DefinitionError.
	Err error
}

// Label returns ref as it may be printed: with its id redacted when the
// store's ids are values.
func (res *Result) Label(ref resolver.Ref) string {
	if res.HideIDs {
		return ref.Redacted()
	}
	return ref.String()
}

// Failure is one problem in a definition: a reference that did not
// resolve, or a field that is wrong in itself.
type Failure struct {
	Field string // path in the document; "" for the whole definition
	Ref   string // the reference, if the problem is one
	Store string
	Err   error
}

// Class names the failure's error class (see resolver.Class).
func (f Failure) Class() string { return resolver.Class(f.Err) }

func (f Failure) Error() string {
	var b strings.Builder
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	if f.Ref != "" {
		fmt.Fprintf(&b, "%s (store %s): ", f.Ref, f.Store)
	}
	b.WriteString(f.Class() + ": " + reason(f.Err))
	return b.String()
}

// reason is the innermost message, without the reference a RefError adds.
func reason(err error) string {
	var re *resolver.RefError
	if errors.As(err, &re) {
		return re.Err.Error()
	}
	var fe *render.FieldError
	if errors.As(err, &fe) {
		return fe.Err.Error()
	}
	return err.Error()
}

// DefinitionError lists every failure of one definition. Its message is
// one line naming the file.
type DefinitionError struct {
	Path     string
	Failures []Failure
}

func (e *DefinitionError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Error()
	}
	noun := "problems"
	if len(parts) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%s: %d %s: %s", e.Path, len(parts), noun, strings.Join(parts, "; "))
}

// Unwrap returns the failures' errors, so errors.Is finds their classes.
func (e *DefinitionError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}

// Reconcile resolves all defs together: each secret is fetched once however
// many definitions name it. Every definition gets a Result, in order; a
// definition with any failure gets no Output. Reconcile changes the
// definitions' documents.
func (r *Reconciler) Reconcile(ctx context.Context, defs []*workflow.Definition) []*Result {
	return r.reconcile(ctx, defs, r.opts.Resolver.Resolve)
}

// Refresh is Reconcile with every value fetched now rather than served
// from the resolver's cache (see resolver.Resolver.Refresh): the periodic
// refresh that carries rotated secrets into outputs.
func (r *Reconciler) Refresh(ctx context.Context, defs []*workflow.Definition) []*Result {
	return r.reconcile(ctx, defs, r.opts.Resolver.Refresh)
}

type resolveFunc func(context.Context, []resolver.StoreRef) (map[resolver.StoreRef]resolver.Secret, error)

func (r *Reconciler) reconcile(ctx context.Context, defs []*workflow.Definition, resolve resolveFunc) []*Result {
	results := make([]*Result, len(defs))
	var all []resolver.StoreRef
	for i, def := range defs {
		res := r.plan(def)
		results[i] = res
		for _, o := range res.Refs {
			all = append(all, resolver.StoreRef{Store: res.Store, Ref: o.Ref})
		}
	}

	values, err := resolve(ctx, all)
	refErrs := resolver.RefErrors(err)

	for _, res := range results {
		r.finish(res, values, refErrs)
	}
	return results
}

// plan chooses the store and collects references; problems found here are
// recorded in res.Err and stop the definition before any store call.
func (r *Reconciler) plan(def *workflow.Definition) *Result {
	res := &Result{Def: def, Outcomes: make(map[resolver.Ref]error)}
	var failures []Failure

	res.Provider = cmp.Or(r.opts.Provider, def.Provider(), DefaultProvider)
	store, err := StoreFor(res.Provider)
	if err == nil && !r.opts.Resolver.Has(store) {
		err = fmt.Errorf("%w %q: the %s store is not available in this build or not configured%s", ErrNoStore, res.Provider, store, storeHints[store])
	}
	if err != nil {
		field := ""
		if r.opts.Provider == "" {
			field = strings.Join(append(slices.Clone(workflow.ServerConfigPath), workflow.ProviderKey), ".")
		}
		failures = append(failures, Failure{Field: field, Err: err})
	}
	res.Store = store
	res.HideIDs = r.opts.Resolver.HidesIDs(store)

	occ, err := def.Doc.Refs()
	for _, e := range resolver.Unjoin(err) {
		var fe *render.FieldError
		if errors.As(e, &fe) {
			failures = append(failures, Failure{Field: fe.Path, Err: fe.Err})
		} else {
			failures = append(failures, Failure{Err: e})
		}
	}
	if len(failures) > 0 {
		res.Err = &DefinitionError{Path: def.Path, Failures: failures}
		return res
	}
	res.Refs = occ
	return res
}

func (r *Reconciler) finish(res *Result, values map[resolver.StoreRef]resolver.Secret, refErrs map[resolver.StoreRef]error) {
	if res.Err != nil {
		return
	}
	var failures []Failure
	mine := make(map[resolver.Ref]resolver.Secret, len(res.Refs))
	for _, o := range res.Refs {
		sr := resolver.StoreRef{Store: res.Store, Ref: o.Ref}
		if err := refErrs[sr]; err != nil {
			res.Outcomes[o.Ref] = err
			failures = append(failures, Failure{Field: o.Path, Ref: res.Label(o.Ref), Store: res.Store, Err: err})
			continue
		}
		res.Outcomes[o.Ref] = nil
		v := values[sr]
		if r.opts.Redact {
			v = resolver.NewSecret(resolver.Redacted)
		}
		mine[o.Ref] = v
	}
	if len(failures) > 0 {
		res.Err = &DefinitionError{Path: res.Def.Path, Failures: failures}
		return
	}
	if err := res.Def.Doc.Apply(res.Refs, mine); err != nil {
		res.Err = &DefinitionError{Path: res.Def.Path, Failures: []Failure{{Err: err}}}
		return
	}
	res.Def.MarkResolved()
	out, err := res.Def.Doc.Marshal(r.opts.Format)
	if err != nil {
		res.Err = &DefinitionError{Path: res.Def.Path, Failures: []Failure{fieldFailure(err)}}
		return
	}
	res.Output = out
}

func fieldFailure(err error) Failure {
	var fe *render.FieldError
	if errors.As(err, &fe) {
		return Failure{Field: fe.Path, Err: fe.Err}
	}
	return Failure{Err: err}
}
