package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/status"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
	"omsecrets/sink"
)

// Outcome classes of failures that happen before any reference is
// resolved. Reference failures use resolver.Class.
const (
	classInvalid      = "invalid"     // the definition file cannot be used
	classUnsupported  = "unsupported" // a pipeline type omsecrets does not build
	classUnauthorized = "om_unauthorized"
	classForbidden    = "om_forbidden"
	classGone         = "om_not_found" // the service is gone
	classOMDown       = "om_unavailable"
	classOM           = "om_error"
	classHidden       = "connection_hidden"
	classConflict     = "output_conflict"
	classWrite        = "write_failed"
	classCancelled    = "cancelled"
)

// item is one definition on its way through a pass.
type item struct {
	job    Job
	def    *workflow.Definition // as parsed
	server *workflow.Server     // OpenMetadata connection, when the definition needs the API
	store  string               // the store its references resolve in
	token  string               // the bot JWT to call OpenMetadata with
	svc    *workflow.Service    // the service, when fetched
	out    *workflow.Definition // the workflow config to resolve and write
	res    *reconcile.Result
	// needsService is set when the definition's workflow config needs its
	// service from the OpenMetadata API.
	needsService bool
	// fromSecret is set when the service's connection came from its
	// connection secret (OpenMetadata 0.12-0.13): the bot and dbt secrets
	// of that layout then apply too.
	fromSecret bool

	err   error  // one-line failure, nil while all is well
	class string // outcome class of err
}

func (it *item) fail(class string, err error) {
	if it.err == nil {
		it.class, it.err = class, err
	}
}

func (it *item) ok() bool { return it.err == nil }

// runBatch takes jobs through every stage together, so that each stage's
// store calls are planned across all of them. Each stage has its own time
// budget (Options.Timeout), and so has each OpenMetadata fetch: one
// unreachable host or slow store fails only the definitions that need it,
// never the whole batch.
func (d *Daemon) runBatch(ctx context.Context, jobs []Job) {
	var items []*item
	for _, j := range jobs {
		if it := d.load(j); it != nil {
			items = append(items, it)
		}
	}
	d.prepare(items)
	d.stage(ctx, items, d.resolveTokens)
	d.fetchServices(ctx, items)
	d.stage(ctx, items, d.connectionSecrets)
	d.assemble(items)
	d.stage(ctx, items, d.botSecrets)
	d.stage(ctx, items, d.resolveAll)

	if ctx.Err() != nil {
		// Shutting down: outcomes cut short by the cancellation are not
		// failures of the definitions; leave their outputs and status as
		// they are, but finish the writes that are ready.
		for _, it := range items {
			if it.ok() && it.res != nil && it.res.Err == nil {
				d.write(it)
			}
		}
		return
	}
	for _, it := range items {
		if it.ok() {
			d.write(it)
		}
	}
	for _, it := range items {
		d.record(it)
	}
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
}

// stage runs one stage of a batch with its own time budget.
func (d *Daemon) stage(ctx context.Context, items []*item, run func(context.Context, []*item)) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	run(ctx, items)
}

// load reads and parses a job's file. A file that is gone has its output
// removed and returns nil.
func (d *Daemon) load(j Job) *item {
	it := &item{job: j}
	data, err := os.ReadFile(j.Path)
	if errors.Is(err, fs.ErrNotExist) {
		d.forget(j.Path)
		return nil
	}
	// Known from here on, even when unreadable now: it is refreshed, and
	// keeps the output it had.
	d.remember(j.Path)
	if err != nil {
		it.fail(classInvalid, fmt.Errorf("%s: read: %w", j.Path, errors.Unwrap(err)))
		return it
	}
	it.def, err = workflow.Parse(j.Path, data)
	if err != nil {
		it.fail(classInvalid, err)
	}
	return it
}

// prepare works out, per definition, whether it needs the OpenMetadata
// API, with which connection and token, and which store its references
// resolve in.
func (d *Daemon) prepare(items []*item) {
	for _, it := range items {
		if !it.ok() {
			continue
		}
		def := it.def
		provider := cmp.Or(d.opts.Provider, def.Provider(), reconcile.DefaultProvider)
		store, err := reconcile.StoreFor(provider)
		if err != nil {
			it.fail(resolver.Class(err), fmt.Errorf("%s: %w", def.Path, err))
			continue
		}
		it.store = store

		switch def.Kind {
		case workflow.KindIngestionPipeline:
			it.needsService = def.Pipeline.NeedsService()
		case workflow.KindWorkflowConfig:
			_, it.needsService = def.NeedsService()
		}
		overrides := d.opts.HostPort != "" || d.opts.JWTFile != ""
		if !it.needsService && !overrides {
			continue
		}
		srv, err := def.Server()
		if err != nil {
			if it.needsService {
				it.fail(classInvalid, err)
			}
			continue // no server connection to override
		}
		if d.opts.HostPort != "" {
			srv.HostPort = d.opts.HostPort
		}
		it.server = srv
		it.token = srv.JWTToken
		if d.opts.JWTFile != "" {
			tok, err := d.readJWTFile()
			if err != nil {
				it.fail(classInvalid, err)
				continue
			}
			it.token = tok
		}
		if it.token == "" && it.needsService && d.opts.Layout == LayoutReferences {
			it.fail(classInvalid, fmt.Errorf("%s: %s: no bot JWT: set securityConfig.jwtToken or %s", def.Path, serverField(def, "securityConfig.jwtToken"), "OMSECRETS_OM_JWT_FILE"))
		}
		// An empty token outside the references layout is OpenMetadata
		// 0.12-0.13's: resolveTokens reads it from the bot's secret.
	}
}

// serverField names a field of the definition's server connection.
func serverField(def *workflow.Definition, key string) string {
	if def.Kind == workflow.KindIngestionPipeline {
		return strings.Join(append(slices.Clone(workflow.PipelineServerConfigPath), key), ".")
	}
	return strings.Join(append(slices.Clone(workflow.ServerConfigPath), key), ".")
}

// readJWTFile reads the JWT file anew on every use, so a rotated token is
// picked up without a restart.
func (d *Daemon) readJWTFile() (string, error) {
	data, err := os.ReadFile(d.opts.JWTFile)
	if err != nil {
		return "", fmt.Errorf("OMSECRETS_OM_JWT_FILE: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("OMSECRETS_OM_JWT_FILE %s: empty", d.opts.JWTFile)
	}
	return tok, nil
}

// resolveTokens resolves the bot JWTs that are secret: references, all in
// one resolver call.
func (d *Daemon) resolveTokens(ctx context.Context, items []*item) {
	type want struct {
		it  *item
		ref resolver.StoreRef
	}
	var wants []want
	for _, it := range items {
		if !it.ok() || !it.needsService || it.server == nil {
			continue
		}
		if it.token == "" {
			// OpenMetadata 0.12-0.13 kept the bot's security config, JWT
			// included, in the store (add_auth_provider_security_config).
			id := workflow.BotSecretID(it.server.ClusterName, workflow.DefaultBot)
			wants = append(wants, want{it, resolver.StoreRef{Store: it.store, Ref: resolver.Ref{ID: id, Key: "jwtToken"}}})
			continue
		}
		if !resolver.IsRef(it.token) {
			continue
		}
		ref, err := resolver.ParseRef(it.token)
		if err != nil {
			it.fail(resolver.Class(err), fmt.Errorf("%s: %s: %w", it.def.Path, serverField(it.def, "securityConfig.jwtToken"), err))
			continue
		}
		wants = append(wants, want{it, resolver.StoreRef{Store: it.store, Ref: ref}})
	}
	if len(wants) == 0 {
		return
	}
	refs := make([]resolver.StoreRef, len(wants))
	fresh := false
	for i, w := range wants {
		refs[i] = w.ref
		fresh = fresh || w.it.job.Fresh
	}
	vals, err := d.resolve(ctx, fresh, refs)
	errs := resolver.RefErrors(err)
	for _, w := range wants {
		v, ok := vals[w.ref]
		if !ok || v.IsNull() || v.Value() == "" {
			e := cmp.Or(errs[w.ref], error(fmt.Errorf("%w: empty", resolver.ErrBadRef)))
			w.it.fail(resolver.Class(e), fmt.Errorf("%s: bot JWT %s: %w", w.it.def.Path, d.opts.Resolver.Label(w.ref.Store, w.ref.Ref), unwrapRef(e)))
			continue
		}
		w.it.token = v.Value()
	}
}

func (d *Daemon) resolve(ctx context.Context, fresh bool, refs []resolver.StoreRef) (map[resolver.StoreRef]resolver.Secret, error) {
	if fresh {
		return d.opts.Resolver.Refresh(ctx, refs)
	}
	return d.opts.Resolver.Resolve(ctx, refs)
}

// unwrapRef drops the reference a RefError adds, for messages that name
// it themselves.
func unwrapRef(err error) error {
	var re *resolver.RefError
	if errors.As(err, &re) {
		return re.Err
	}
	return err
}

// fetchKey identifies one service fetch; the token is hashed so that the
// key can be kept without keeping the token.
type fetchKey struct {
	base, typ, id, name, fqn, token string
}

// fetchServices asks OpenMetadata for every service the batch needs, each
// once, a bounded number at a time.
func (d *Daemon) fetchServices(ctx context.Context, items []*item) {
	type fetch struct {
		ref   omclient.ServiceRef
		srv   *workflow.Server
		token string
		items []*item
		svc   *omclient.Service
		err   error
	}
	fetches := make(map[fetchKey]*fetch)
	var order []fetchKey
	for _, it := range items {
		if !it.ok() || !it.needsService || it.server == nil {
			continue
		}
		var ref omclient.ServiceRef
		if it.def.Kind == workflow.KindIngestionPipeline {
			s := it.def.Pipeline.Service()
			ref = omclient.ServiceRef{ID: s.ID, Type: s.Type, Name: s.Name, FQN: s.FQN}
		} else {
			s, _ := it.def.NeedsService()
			ref = omclient.ServiceRef{Type: s.Type, Name: s.Name}
		}
		sum := sha256.Sum256([]byte(it.token))
		k := fetchKey{base: it.server.HostPort, typ: ref.Type, id: ref.ID, name: ref.Name, fqn: ref.FQN, token: hex.EncodeToString(sum[:8])}
		f, ok := fetches[k]
		if !ok {
			f = &fetch{ref: ref, srv: it.server, token: it.token}
			fetches[k] = f
			order = append(order, k)
		}
		f.items = append(f.items, it)
	}
	// The stage has one time budget. Each OpenMetadata host gets its own
	// pool of Workers fetches, so a hung host cannot hold the others'
	// fetches back; and once one fetch from a host ran out of time, the
	// rest of that host's fail at once instead of each waiting in turn.
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	byHost := make(map[string][]*fetch)
	var hosts []string
	for _, k := range order {
		if _, ok := byHost[k.base]; !ok {
			hosts = append(hosts, k.base)
		}
		byHost[k.base] = append(byHost[k.base], fetches[k])
	}
	var all sync.WaitGroup
	for _, host := range hosts {
		all.Go(func() {
			var timedOut atomic.Bool
			var g errgroup.Group
			g.SetLimit(d.opts.Workers)
			for _, f := range byHost[host] {
				g.Go(func() error {
					if timedOut.Load() {
						f.err = fmt.Errorf("%w: an earlier request to %s in this batch timed out", omclient.ErrUnavailable, host)
						return nil
					}
					c, err := d.client(f.srv)
					if err != nil {
						f.err = err
						return nil
					}
					f.svc, f.err = c.Service(ctx, f.token, f.ref)
					if errors.Is(f.err, context.DeadlineExceeded) {
						timedOut.Store(true)
					}
					return nil
				})
			}
			_ = g.Wait()
		})
	}
	all.Wait()
	for _, k := range order {
		f := fetches[k]
		for _, it := range f.items {
			if f.err != nil {
				it.fail(omClass(f.err), fmt.Errorf("%s: %s: %s %q: %w", it.def.Path, describe(it.def), f.ref.Type, cmp.Or(f.ref.FQN, f.ref.Name, f.ref.ID), omMessage(f.err)))
				continue
			}
			if f.svc.Deleted {
				it.fail(classGone, fmt.Errorf("%s: %s: %s %q is deleted in OpenMetadata", it.def.Path, describe(it.def), f.ref.Type, f.svc.FQN))
				continue
			}
			it.svc = &workflow.Service{
				EntityType: f.svc.EntityType, ID: f.svc.ID, Name: f.svc.Name, FQN: f.svc.FQN,
				ServiceType: f.svc.ServiceType, Connection: f.svc.Connection,
			}
		}
	}
}

// describe names a definition for messages: the pipeline, or the workflow.
func describe(def *workflow.Definition) string {
	if def.Kind == workflow.KindIngestionPipeline {
		return fmt.Sprintf("pipeline %q", def.Pipeline.Name())
	}
	return fmt.Sprintf("workflow %q", def.Name)
}

// omClass maps an OpenMetadata client error to an outcome class.
func omClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return classCancelled
	case errors.Is(err, context.DeadlineExceeded):
		return classOMDown
	case errors.Is(err, omclient.ErrUnauthorized):
		return classUnauthorized
	case errors.Is(err, omclient.ErrForbidden):
		return classForbidden
	case errors.Is(err, omclient.ErrNotFound):
		return classGone
	case errors.Is(err, omclient.ErrUnavailable):
		return classOMDown
	}
	return classOM
}

// omMessage adds what an operator should do to the client's error.
func omMessage(err error) error {
	switch {
	case errors.Is(err, omclient.ErrUnauthorized):
		return fmt.Errorf("%w (is the bot JWT expired or revoked?)", err)
	case errors.Is(err, omclient.ErrForbidden):
		return fmt.Errorf("%w (the token must be the ingestion bot's)", err)
	case errors.Is(err, omclient.ErrNotFound):
		return fmt.Errorf("%w (the service was deleted or renamed in OpenMetadata)", err)
	}
	return err
}

// client returns the OpenMetadata client for a server connection, built
// once per distinct connection.
func (d *Daemon) client(srv *workflow.Server) (*omclient.Client, error) {
	ca, err := d.caPEM(srv)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", srv.HostPort, srv.VerifySSL, ca)
	for _, k := range slices.Sorted(maps.Keys(srv.ExtraHeaders)) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, srv.ExtraHeaders[k])
	}
	key := hex.EncodeToString(h.Sum(nil))

	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[key]; ok {
		return c, nil
	}
	verify := srv.VerifySSL
	if verify == "" && len(d.opts.CAPEM) > 0 {
		verify = "validate"
	}
	tlsConf, err := omclient.TLSConfig(verify, ca, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("verifySSL/sslConfig: %w", err)
	}
	c, err := omclient.New(omclient.Options{
		BaseURL:      srv.HostPort,
		TLS:          tlsConf,
		ExtraHeaders: srv.ExtraHeaders,
		Timeout:      d.opts.OMTimeout,
		RetryMax:     d.opts.OMRetryMax,
		RetryWaitMin: d.opts.OMRetryWaitMin,
		RetryWaitMax: d.opts.OMRetryWaitMax,
		Logger:       d.logger.With("component", "omclient"),
		Observe:      d.opts.Metrics.OMRequest,
	})
	if err != nil {
		return nil, err
	}
	d.clients[key] = c
	return c, nil
}

// caPEM returns the CA certificates to trust for srv: its sslConfig's
// caCertificate (PEM text, or the path of a PEM file in older payloads)
// and the sidecar's own CA file.
func (d *Daemon) caPEM(srv *workflow.Server) ([]byte, error) {
	var out []byte
	switch ca := srv.CACertificate; {
	case ca == "":
	case strings.Contains(ca, "-----BEGIN"):
		out = append(out, ca...)
	default:
		data, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("sslConfig certificate file: %w", err)
		}
		out = append(out, data...)
	}
	if len(d.opts.CAPEM) > 0 {
		out = append(append(out, '\n'), d.opts.CAPEM...)
	}
	return out, nil
}

// useConnectionSecret decides the layout for one service.
func (d *Daemon) useConnectionSecret(svc *workflow.Service) bool {
	switch d.opts.Layout {
	case LayoutConnectionSecret:
		return true
	case LayoutReferences:
		return false
	}
	return !svc.HasConnection()
}

// connectionSecrets fills in, in the connection-secret layout, each
// service's connection from the store: one resolver call for the batch.
func (d *Daemon) connectionSecrets(ctx context.Context, items []*item) {
	wants := make(map[*item]resolver.StoreRef)
	var refs []resolver.StoreRef
	fresh := false
	for _, it := range items {
		if !it.ok() || it.svc == nil {
			continue
		}
		if !d.useConnectionSecret(it.svc) {
			if !it.svc.HasConnection() {
				it.fail(classHidden, fmt.Errorf("%s: %s: OpenMetadata returned %s %q without its connection to this token; for OpenMetadata 0.12-0.13, which keeps whole connections in the secrets manager, set OMSECRETS_OM_LAYOUT=connection-secret (or auto)", it.def.Path, describe(it.def), it.svc.EntityType, it.svc.Name))
			}
			continue
		}
		id, err := workflow.ConnectionSecretID(it.server.ClusterName, it.svc.EntityType, it.svc.ServiceType, it.svc.Name)
		if err != nil {
			it.fail(classInvalid, fmt.Errorf("%s: %w", it.def.Path, err))
			continue
		}
		sr := resolver.StoreRef{Store: it.store, Ref: resolver.Ref{ID: id}}
		wants[it] = sr
		refs = append(refs, sr)
		fresh = fresh || it.job.Fresh
	}
	if len(refs) == 0 {
		return
	}
	vals, err := d.resolve(ctx, fresh, refs)
	errs := resolver.RefErrors(err)
	for it, sr := range wants {
		v, ok := vals[sr]
		if !ok || v.IsNull() {
			e := cmp.Or(errs[sr], error(fmt.Errorf("%w: the secret is null", resolver.ErrNotFound)))
			it.fail(resolver.Class(e), fmt.Errorf("%s: connection secret %s of %s %q: %w", it.def.Path, sr.Ref.ID, it.svc.EntityType, it.svc.Name, unwrapRef(e)))
			continue
		}
		if err := it.svc.WithConnectionSecret([]byte(v.Value())); err != nil {
			it.fail(classInvalid, fmt.Errorf("%s: connection secret %s: %w", it.def.Path, sr.Ref.ID, err))
			continue
		}
		it.fromSecret = true
	}
}

// assemble builds the workflow config each definition resolves to.
func (d *Daemon) assemble(items []*item) {
	for _, it := range items {
		if !it.ok() {
			continue
		}
		switch {
		case it.def.Kind == workflow.KindIngestionPipeline:
			out, err := it.def.Pipeline.Assemble(it.svc)
			if err != nil {
				class := classInvalid
				if errors.Is(err, workflow.ErrUnsupportedPipeline) {
					class = classUnsupported
				}
				it.fail(class, err)
				continue
			}
			it.out = out
		case it.svc != nil:
			if err := it.def.CompleteService(it.svc); err != nil {
				it.fail(classInvalid, err)
				continue
			}
			it.out = it.def
		default:
			it.out = it.def
		}
		if it.server != nil {
			d.overrideServer(it)
		}
	}
}

// overrideServer carries the sidecar's OpenMetadata overrides (host and
// JWT file) into the output: the ingestion task runs in the same pod and
// reaches OpenMetadata the same way.
func (d *Daemon) overrideServer(it *item) {
	path := workflow.ServerConfigPath
	if d.opts.HostPort != "" {
		it.out.Doc.SetString(path, "hostPort", d.opts.HostPort)
	}
	if d.opts.JWTFile != "" {
		if !it.out.Doc.SetString(append(slices.Clone(path), "securityConfig"), "jwtToken", it.token) {
			// Marshalled by encoding/json: the token is a JSON string.
			_ = it.out.Doc.SetJSON(path, "securityConfig", jsonObject("jwtToken", it.token))
		}
	}
}

// botSecrets applies, in the connection-secret layout, the bot's auth
// provider and security config from the store where a config lacks them,
// and the dbt source configs the server kept there.
func (d *Daemon) botSecrets(ctx context.Context, items []*item) {
	type want struct {
		it            *item
		auth, sec, db resolver.StoreRef
	}
	var wants []want
	var refs []resolver.StoreRef
	fresh := false
	for _, it := range items {
		if !it.ok() || it.out == nil || !it.fromSecret {
			continue
		}
		w := want{it: it}
		cluster := it.server.ClusterName
		if it.out.NeedsBotSecrets() {
			w.auth = resolver.StoreRef{Store: it.store, Ref: resolver.Ref{ID: workflow.BotAuthProviderSecretID(cluster, workflow.DefaultBot)}}
			w.sec = resolver.StoreRef{Store: it.store, Ref: resolver.Ref{ID: workflow.BotSecretID(cluster, workflow.DefaultBot)}}
			refs = append(refs, w.auth, w.sec)
		}
		if name, ok := it.out.DbtServiceName(); ok {
			w.db = resolver.StoreRef{Store: it.store, Ref: resolver.Ref{ID: workflow.DbtSecretID(cluster, name)}}
			refs = append(refs, w.db)
		}
		if w.auth.Ref.ID != "" || w.db.Ref.ID != "" {
			wants = append(wants, w)
			fresh = fresh || it.job.Fresh
		}
	}
	if len(refs) == 0 {
		return
	}
	vals, err := d.resolve(ctx, fresh, refs)
	errs := resolver.RefErrors(err)
	for _, w := range wants {
		it := w.it
		if w.auth.Ref.ID != "" {
			a, okA := vals[w.auth]
			s, okS := vals[w.sec]
			if !okA || !okS {
				sr := w.auth
				if okA {
					sr = w.sec
				}
				e := cmp.Or(errs[sr], error(resolver.ErrNotFound))
				it.fail(resolver.Class(e), fmt.Errorf("%s: bot secret %s: %w", it.def.Path, sr.Ref.ID, unwrapRef(e)))
				continue
			}
			if err := it.out.ApplyBotSecrets([]byte(a.Value()), []byte(s.Value())); err != nil {
				it.fail(classInvalid, err)
				continue
			}
		}
		if w.db.Ref.ID != "" {
			v, ok := vals[w.db]
			switch {
			case !ok && errors.Is(errs[w.db], resolver.ErrNotFound):
				// No dbt secret: the service has no dbt config.
			case !ok:
				e := cmp.Or(errs[w.db], error(resolver.ErrNotFound))
				it.fail(resolver.Class(e), fmt.Errorf("%s: dbt secret %s: %w", it.def.Path, w.db.Ref.ID, unwrapRef(e)))
			case v.IsNull():
			default:
				if err := it.out.ApplyDbtSecret([]byte(v.Value())); err != nil {
					it.fail(classInvalid, err)
				}
			}
		}
	}
}

// resolveAll resolves every reference of every assembled config: one
// resolver call for the definitions queued fresh (the refresh) and one for
// the others.
func (d *Daemon) resolveAll(ctx context.Context, items []*item) {
	var fresh, cached []*item
	for _, it := range items {
		if !it.ok() {
			continue
		}
		if it.job.Fresh {
			fresh = append(fresh, it)
		} else {
			cached = append(cached, it)
		}
	}
	for _, group := range []struct {
		items []*item
		run   func(context.Context, []*workflow.Definition) []*reconcile.Result
	}{{fresh, d.recon.Refresh}, {cached, d.recon.Reconcile}} {
		if len(group.items) == 0 {
			continue
		}
		defs := make([]*workflow.Definition, len(group.items))
		for i, it := range group.items {
			defs[i] = it.out
		}
		for i, res := range group.run(ctx, defs) {
			it := group.items[i]
			it.res = res
			if res.Err != nil {
				it.fail(resultClass(res.Err), res.Err)
			}
		}
	}
}

// resultClass is the class of a reconcile failure: its first failure's.
func resultClass(err error) string {
	var de *reconcile.DefinitionError
	if errors.As(err, &de) && len(de.Failures) > 0 {
		return de.Failures[0].Class()
	}
	return resolver.Class(err)
}

// record puts the item's outcome on the status board and in the metrics,
// and logs a failure once.
func (d *Daemon) record(it *item) {
	now := time.Now().UTC()
	prev, _ := d.opts.Board.Get(it.job.Path)
	st := status.Definition{
		Path:        it.job.Path,
		LastAttempt: now,
		LastSuccess: prev.LastSuccess,
		Output:      prev.Output,
		OK:          it.ok(),
		Class:       "ok",
	}
	if it.def != nil {
		st.Name = it.def.Name
		st.Kind = string(it.def.Kind)
	}
	if it.res != nil {
		for _, o := range it.res.Refs {
			st.Refs = append(st.Refs, status.Ref{
				Field: o.Path, Ref: it.res.Label(o.Ref), Store: it.res.Store,
				Outcome: resolver.Class(it.res.Outcomes[o.Ref]),
			})
		}
	}
	if it.ok() {
		d.expect(it.job.Path, "")
	} else {
		d.expect(it.job.Path, d.expectedOutput(it))
	}
	d.scheduleRetry(it.job, it.class, it.ok())
	if out, ok := d.outputOf(it.job.Path); ok {
		st.Output = out
	}
	if it.ok() {
		st.LastSuccess = &now
		d.opts.Metrics.Resolution("ok")
	} else {
		st.Class, st.Error = it.class, it.err.Error()
		st.Stale = st.Output != ""
		d.opts.Metrics.Resolution(it.class)
		attrs := []any{"definition", it.job.Path, "class", it.class, "error", it.err.Error()}
		if st.Stale {
			attrs = append(attrs, "kept", st.Output)
		}
		d.logger.Error("definition not resolved", attrs...)
	}
	d.opts.Board.Set(st)
}

// jsonObject returns {"key": value} as JSON.
func jsonObject(key, value string) []byte {
	b, _ := json.Marshal(map[string]string{key: value}) // cannot fail for strings
	return b
}

// expectedOutput is the output name a definition writes when it resolves:
// from its pipeline or workflow name, or, when it cannot be parsed, from
// its file name (OpenMetadata names the file after the dag_id).
func (d *Daemon) expectedOutput(it *item) string {
	switch {
	case it.out != nil:
		return sink.Name(it.out.Name, d.ext())
	case it.def != nil:
		return sink.Name(it.def.Name, d.ext())
	}
	base := filepath.Base(it.job.Path)
	return sink.Name(strings.TrimSuffix(base, filepath.Ext(base)), d.ext())
}
