package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"omsecrets/internal/omclient"
	"omsecrets/internal/render"
	"omsecrets/internal/safefile"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
)

// Layouts: where service connections come from.
const (
	// LayoutAuto uses the connection OpenMetadata returns when it returns
	// one with its fields, and the connection secret when it does not.
	LayoutAuto = "auto"
	// LayoutReferences uses the connection OpenMetadata returns, whose
	// secret fields are secret: references (OpenMetadata 1.x).
	LayoutReferences = "references"
	// LayoutConnectionSecret reads each service's whole connection from
	// the store (OpenMetadata 0.12-0.13, which hid connections from bots).
	LayoutConnectionSecret = "connection-secret"
)

// MaxDefinitionSize bounds a definition file: OpenMetadata's
// IngestionPipeline JSONs and workflow configs are kilobytes.
const MaxDefinitionSize = 4 << 20

// Defaults.
const (
	// DefaultTimeout bounds each stage of a batch.
	DefaultTimeout = time.Minute
	// DefaultWorkers bounds the OpenMetadata requests in flight per host.
	DefaultWorkers = 4
)

// Services fetches service entities from OpenMetadata: *omclient.Pool.
// Errors are omclient's (ErrUnauthorized, ErrForbidden, ErrNotFound,
// ErrUnavailable, ...).
type Services interface {
	Service(ctx context.Context, srv *workflow.Server, token string, ref workflow.ServiceRef) (*omclient.Service, error)
}

// Options configures a Reconciler. Resolver and Providers are required;
// Services is needed for definitions whose service comes from
// OpenMetadata.
type Options struct {
	// Resolver resolves references; its stores are named as Providers
	// names them.
	Resolver *resolver.Resolver
	// Providers maps secretsManagerProvider values to stores.
	Providers Providers
	// Missing maps the name of a store that is not built to why, with
	// what to set: a definition that needs it fails with ErrNoStore and
	// that reason.
	Missing map[string]error
	// Provider, when set, overrides every definition's
	// secretsManagerProvider.
	Provider string
	// Format is the output format (JSON when empty).
	Format render.Format
	// Redact substitutes "[redacted]" for every resolved value in the
	// output. Resolution still happens and still fails closed.
	Redact bool

	// Services fetches services from OpenMetadata.
	Services Services
	// Layout is LayoutAuto (the default), LayoutReferences or
	// LayoutConnectionSecret.
	Layout string
	// JWT, when set, returns the bot JWT that overrides the definitions'
	// (and is written into their outputs). It is called once per batch,
	// so a rotated token file is read anew.
	JWT func() (string, error)
	// HostPort, when set, overrides the definitions' OpenMetadata URL (and
	// is written into their outputs).
	HostPort string
	// Workers bounds the OpenMetadata requests in flight per host.
	Workers int
	// Timeout bounds each stage of a batch: bot JWTs, OpenMetadata
	// fetches, connection secrets, bot secrets, references.
	Timeout time.Duration
	// Routes send ids under a prefix to another store than the
	// definition's provider names (see ParseRoutes).
	Routes []Route
	// Policy is the trust boundary: which references a definition file
	// may hold and where the bot JWT may go.
	Policy Policy
	// EnvPrefix is the prefix of the environment twins the messages name
	// ("OMSECRETS_").
	EnvPrefix string
	// Hints are added to the messages of the sentinel errors they key
	// (ErrNoToken, ErrHiddenConnection): what to set, in the caller's
	// words (flags, variables).
	Hints map[error]string
}

// Reconciler turns definition files into resolved workflow configs. It
// writes nothing. It is safe for concurrent use.
type Reconciler struct {
	opts   Options
	policy *compiled
	// collectOnly stops runs at the references (see CollectOnly).
	collectOnly bool
}

// New returns a Reconciler for opts.
func New(opts Options) (*Reconciler, error) {
	if opts.Resolver == nil {
		return nil, errors.New("reconcile: Resolver is required")
	}
	opts.Format = cmp.Or(opts.Format, render.JSON)
	opts.Layout = cmp.Or(opts.Layout, LayoutAuto)
	switch opts.Layout {
	case LayoutAuto, LayoutReferences, LayoutConnectionSecret:
	default:
		return nil, fmt.Errorf("reconcile: unknown layout %q", opts.Layout)
	}
	opts.Workers = cmp.Or(max(opts.Workers, 0), DefaultWorkers)
	opts.Timeout = cmp.Or(max(opts.Timeout, 0), DefaultTimeout)
	opts.EnvPrefix = cmp.Or(opts.EnvPrefix, "OMSECRETS_")
	policy, err := compilePolicy(opts.Policy)
	if err != nil {
		return nil, err // names the pattern or host
	}
	return &Reconciler{opts: opts, policy: policy}, nil
}

// Format is the output format.
func (r *Reconciler) Format() render.Format { return r.opts.Format }

// CollectOnly returns a Reconciler like r whose runs stop at the
// references: the stages before them run as usual (bot JWTs, services,
// connection and bot secrets are read: no config is assembled without
// them), then each definition's references are collected, held to the
// policy and recorded in Refs and Uses, but none is fetched, Outcomes
// stay empty and no Output is rendered. It is for counting what a pass
// would fetch (omsecrets plan) without spending the store's quota.
func (r *Reconciler) CollectOnly() *Reconciler {
	c := *r
	c.collectOnly = true
	return &c
}

// Job is one definition file to reconcile.
type Job struct {
	Path string
	// Fresh asks for every value to be fetched now rather than served
	// from the resolver's cache (the periodic refresh).
	Fresh bool
}

// Result is the outcome for one definition file.
type Result struct {
	// Path is the definition file.
	Path string
	// Gone is set when the file does not exist; nothing else is.
	Gone bool
	// Digest is the SHA-256 of the bytes read, in hex ("" if unreadable).
	Digest string
	// Def is the definition as parsed; nil when it could not be.
	Def *workflow.Definition
	// Out is the workflow config that was resolved: Def itself, or what
	// Def's pipeline assembled to; nil when it was not built.
	Out *workflow.Definition
	// Provider and Store are what the references resolve in.
	Provider, Store string
	// Refs are the references found in Out, in document order.
	Refs []render.Occurrence
	// Outcomes maps each reference to its error (nil when it resolved).
	Outcomes map[resolver.Ref]error
	// HideIDs is set when the store's ids are values (the db store): print
	// references with Label, never Ref.String.
	HideIDs bool
	// Output is the resolved document; nil unless Err is nil.
	Output []byte
	// ReportServer is, for an ingestion pipeline whose bot JWT resolved
	// and whose server connection passed the trust boundary, that
	// connection as a resolved output's
	// workflowConfig.openMetadataServerConfig holds it (JWT in, provider
	// db), in JSON; nil otherwise. It is set whether or not the rest of
	// the definition resolved: the ingestion task reports a run that
	// failed closed with it. It holds the bot JWT and no other value.
	ReportServer []byte
	// Err is nil on success, else an *Error or a *DefinitionError (see
	// ClassOf).
	Err error
	// Uses are the secrets the definition read or tried to read, each
	// once, sorted: the daemon re-resolves it when a store reports one of
	// them changed (resolver.ChangeNotifier).
	Uses []SecretID
	// fresh, token, server and the rest are the pipeline's working state.
	fresh        bool
	server       *workflow.Server
	token        string
	svc          *workflow.Service
	needsService bool
	fromSecret   bool
	uses         map[SecretID]bool
	// stores maps each reference of Refs to the store it was routed to,
	// and hides says which of those stores' ids are values.
	stores    map[resolver.Ref]string
	fallbacks map[resolver.Ref]string
	hides     map[string]bool
}

// StoreOf returns the store ref of Refs was resolved in: the
// definition's Store unless a route sent it elsewhere; "store|fallback"
// for a route with a fallback.
func (res *Result) StoreOf(ref resolver.Ref) string {
	st, ok := res.stores[ref]
	if !ok {
		return res.Store
	}
	if fb := res.fallbacks[ref]; fb != "" {
		return st + "|" + fb
	}
	return st
}

// SecretID names a secret in a store.
type SecretID struct{ Store, ID string }

// use records that the definition reads sr. Ids that are values (the db
// store's) are not kept: no store reports changes to them.
func (res *Result) use(sr resolver.StoreRef) {
	if res.HideIDs {
		return
	}
	if res.uses == nil {
		res.uses = make(map[SecretID]bool)
	}
	res.uses[SecretID{sr.Store, sr.Ref.ID}] = true
}

// Name is the raw name the definition's output is named after (see
// sink.Name): the pipeline's or workflow's, or, for a file that cannot be
// parsed, its base name without extension (OpenMetadata names the file
// after the dag_id).
func (res *Result) Name() string {
	switch {
	case res.Out != nil:
		return res.Out.Name
	case res.Def != nil:
		return res.Def.Name
	}
	base := filepath.Base(res.Path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// Class is the outcome class of the result: "ok", or its failure's.
func (res *Result) Class() string { return ClassOf(res.Err) }

// Transient reports whether the result failed for a reason worth trying
// again soon (see Transient).
func (res *Result) Transient() bool { return Transient(res.Err) }

// Label returns ref as it may be printed: with its id redacted when the
// store's ids are values.
func (res *Result) Label(ref resolver.Ref) string {
	if st, ok := res.stores[ref]; ok {
		return ref.Label(res.hides[st])
	}
	return ref.Label(res.HideIDs)
}

// Fresh reports whether the job asked for fresh values (a refresh).
func (res *Result) Fresh() bool { return res.fresh }

func (res *Result) ok() bool { return res.Err == nil }

// fail records the first failure of the definition.
func (res *Result) fail(class string, err error) {
	if res.Err == nil {
		res.Err = &Error{Class: class, Err: err}
	}
}

// Reconcile takes every job through every stage together, so that each
// stage's store calls are planned across all of them: each secret is
// fetched once however many definitions name it. Each stage has its own
// time budget (Options.Timeout), so one unreachable host or slow store
// fails only the definitions that need it. Results are in job order; a
// definition with any failure gets no Output. When ctx is cancelled, the
// results of definitions cut short carry ClassCancelled.
func (r *Reconciler) Reconcile(ctx context.Context, jobs []Job) []*Result {
	results := make([]*Result, len(jobs))
	var live []*Result
	for i, j := range jobs {
		results[i] = r.load(j)
		if !results[i].Gone {
			live = append(live, results[i])
		}
	}
	r.prepare(live)
	r.stage(ctx, live, r.resolveTokens)
	r.reportServers(live)
	r.fetchServices(ctx, live)
	r.stage(ctx, live, r.connectionSecrets)
	r.assemble(live)
	r.stage(ctx, live, r.botSecrets)
	r.stage(ctx, live, r.resolveRefs)
	for _, res := range live {
		for id := range res.uses {
			res.Uses = append(res.Uses, id)
		}
		slices.SortFunc(res.Uses, func(a, b SecretID) int {
			return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.ID, b.ID))
		})
	}
	if ctx.Err() != nil {
		for _, res := range live {
			if !res.ok() && errors.Is(res.Err, context.Canceled) {
				res.Err = &Error{Class: ClassCancelled, Err: res.Err}
			}
		}
	}
	return results
}

// stage runs one stage of a batch with its own time budget.
func (r *Reconciler) stage(ctx context.Context, results []*Result, run func(context.Context, []*Result)) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	run(ctx, results)
}

// load reads and parses a job's file.
func (r *Reconciler) load(j Job) *Result {
	res := &Result{Path: j.Path, fresh: j.Fresh, Outcomes: make(map[resolver.Ref]error)}
	data, err := safefile.Read(j.Path, MaxDefinitionSize)
	if errors.Is(err, fs.ErrNotExist) {
		res.Gone = true
		return res
	}
	if err != nil {
		res.fail(ClassInvalid, fmt.Errorf("%s: read: %w", j.Path, err))
		return res
	}
	sum := sha256.Sum256(data)
	res.Digest = hex.EncodeToString(sum[:])
	res.Def, err = workflow.Parse(j.Path, data)
	if err != nil {
		res.fail(ClassInvalid, err)
	}
	return res
}

// hint adds the caller's hint for sentinel to a message.
func (r *Reconciler) hint(sentinel error) string {
	if h := r.opts.Hints[sentinel]; h != "" {
		return " (" + h + ")"
	}
	return ""
}
