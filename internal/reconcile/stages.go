package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"omsecrets/internal/omclient"
	"omsecrets/internal/render"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
)

// The stages of a batch, in the order Reconcile runs them. Each takes the
// results still in play and skips those that already failed; each store
// stage makes one resolver call for the whole batch.

// prepare chooses each definition's store and works out whether it needs
// the OpenMetadata API, with which connection and token.
func (r *Reconciler) prepare(results []*Result) {
	var jwt string
	var jwtErr error
	jwtRead := false
	for _, res := range results {
		if !res.ok() {
			continue
		}
		def := res.Def
		res.Provider = cmp.Or(r.opts.Provider, def.Provider(), DefaultProvider)
		store, err := r.opts.Providers.StoreFor(res.Provider)
		if err == nil && r.opts.Missing[store] != nil {
			err = fmt.Errorf("%w %q: %w", ErrNoStore, res.Provider, r.opts.Missing[store])
		}
		if err != nil {
			field := ""
			if r.opts.Provider == "" {
				field = serverField(def, workflow.ProviderKey)
			}
			res.Err = &DefinitionError{Path: def.Path, Failures: []Failure{{Field: field, Err: err}}}
			continue
		}
		res.Store = store
		res.HideIDs = r.opts.Resolver.HidesIDs(store)

		switch def.Kind {
		case workflow.KindIngestionPipeline:
			res.needsService = def.Pipeline.NeedsService()
		case workflow.KindWorkflowConfig:
			_, res.needsService = def.NeedsService()
		}
		overrides := r.opts.HostPort != "" || r.opts.JWT != nil
		// The sidecar sends a bot JWT to the server connection's host when
		// it calls the API, and hands one to the ingestion task (which
		// sends it there) when it resolved or supplied it. A literal
		// token in the file is the writer's own.
		if srv, err := def.Server(); err == nil && (res.needsService || r.opts.JWT != nil || resolver.IsRef(srv.JWTToken)) {
			if !r.checkServer(res, srv) {
				continue
			}
		}
		if !res.needsService && !overrides {
			continue
		}
		srv, err := def.Server()
		if err != nil {
			if res.needsService {
				res.fail(ClassInvalid, err)
			}
			continue // no server connection to override
		}
		if r.opts.HostPort != "" {
			srv.HostPort = r.opts.HostPort
		}
		res.server = srv
		res.token = srv.JWTToken
		if r.opts.JWT != nil {
			if !jwtRead {
				jwt, jwtErr = r.opts.JWT()
				jwtRead = true
			}
			if jwtErr != nil {
				res.fail(ClassInvalid, fmt.Errorf("%s: %w", def.Path, jwtErr))
				continue
			}
			res.token = jwt
		}
		if res.token == "" && res.needsService && r.opts.Layout == LayoutReferences {
			res.fail(ClassInvalid, fmt.Errorf("%s: %s: %w: securityConfig.jwtToken is empty%s", def.Path, serverField(def, "securityConfig.jwtToken"), ErrNoToken, r.hint(ErrNoToken)))
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

// lookup resolves refs in one resolver call: fresh when any result asking
// is fresh (the periodic refresh), from the cache otherwise.
func (r *Reconciler) lookup(ctx context.Context, fresh bool, refs []resolver.StoreRef) (map[resolver.StoreRef]resolver.Secret, map[resolver.StoreRef]error) {
	var vals map[resolver.StoreRef]resolver.Secret
	var err error
	if fresh {
		vals, err = r.opts.Resolver.Refresh(ctx, refs)
	} else {
		vals, err = r.opts.Resolver.Resolve(ctx, refs)
	}
	return vals, resolver.RefErrors(err)
}

// resolveTokens resolves the bot JWTs that are secret: references.
func (r *Reconciler) resolveTokens(ctx context.Context, results []*Result) {
	type want struct {
		res *Result
		ref resolver.StoreRef
	}
	var wants []want
	for _, res := range results {
		if !res.ok() || !res.needsService || res.server == nil {
			continue
		}
		if res.token == "" {
			// OpenMetadata 0.12-0.13 kept the bot's security config, JWT
			// included, in the store (add_auth_provider_security_config).
			id := workflow.BotSecretID(res.server.ClusterName, workflow.DefaultBot)
			wants = append(wants, want{res, resolver.StoreRef{Store: res.Store, Ref: resolver.Ref{ID: id, Key: "jwtToken"}}})
			continue
		}
		if !resolver.IsRef(res.token) {
			continue
		}
		ref, err := resolver.ParseRef(res.token)
		if err != nil {
			res.fail(resolver.Class(err), fmt.Errorf("%s: %s: %w", res.Path, serverField(res.Def, "securityConfig.jwtToken"), err))
			continue
		}
		if r.opts.JWT == nil {
			// The reference is the definition file's own.
			if err := r.checkRef(res, ref); err != nil {
				res.fail(ClassForbiddenRef, fmt.Errorf("%s: %s: bot JWT %s: %w", res.Path, serverField(res.Def, "securityConfig.jwtToken"), res.Label(ref), err))
				continue
			}
		}
		wants = append(wants, want{res, resolver.StoreRef{Store: res.Store, Ref: ref}})
	}
	if len(wants) == 0 {
		return
	}
	refs := make([]resolver.StoreRef, len(wants))
	fresh := false
	for i, w := range wants {
		r.use(w.res, w.ref)
		refs[i] = w.ref
		fresh = fresh || w.res.fresh
	}
	vals, errs := r.lookupRouted(ctx, fresh, refs)
	for _, w := range wants {
		v, ok := vals[w.ref]
		if !ok || v.IsNull() || v.Value() == "" {
			e := cmp.Or(errs[w.ref], error(fmt.Errorf("%w: empty", resolver.ErrBadRef)))
			w.res.fail(resolver.Class(e), fmt.Errorf("%s: bot JWT %s: %w", w.res.Path, w.res.Label(w.ref.Ref), resolver.WithoutRef(e)))
			continue
		}
		w.res.token = v.Value()
	}
}

// reportServers sets ReportServer for the ingestion pipelines whose bot
// JWT is known by now: resolved or given, and bound for a host the policy
// allows (prepare set res.server only then). A connection that holds
// another secret: reference gets none: the task could not use it without
// a store.
func (r *Reconciler) reportServers(results []*Result) {
	for _, res := range results {
		if !res.ok() || r.collectOnly || res.Def.Kind != workflow.KindIngestionPipeline || res.server == nil {
			continue
		}
		if res.token == "" || resolver.IsRef(res.token) {
			continue
		}
		token := res.token
		if r.opts.Redact {
			token = resolver.Redacted
		}
		data, ok, err := res.Def.Pipeline.ResolvedServer(token, r.opts.HostPort)
		if err != nil || !ok {
			continue // the output's own rendering reports a malformed connection
		}
		res.ReportServer = data
	}
}

// fetchKey identifies one service fetch; the token is hashed so that the
// key can be kept without keeping the token.
type fetchKey struct {
	base, typ, id, name, fqn, token string
}

// fetchServices asks OpenMetadata for every service the batch needs, each
// once, a bounded number at a time per host.
func (r *Reconciler) fetchServices(ctx context.Context, results []*Result) {
	type fetch struct {
		ref     workflow.ServiceRef
		srv     *workflow.Server
		token   string
		results []*Result
		svc     *omclient.Service
		err     error
	}
	fetches := make(map[fetchKey]*fetch)
	var order []fetchKey
	for _, res := range results {
		if !res.ok() || !res.needsService || res.server == nil {
			continue
		}
		var ref workflow.ServiceRef
		if res.Def.Kind == workflow.KindIngestionPipeline {
			ref = res.Def.Pipeline.Service()
		} else {
			ref, _ = res.Def.NeedsService()
		}
		sum := sha256.Sum256([]byte(res.token))
		k := fetchKey{base: res.server.HostPort, typ: ref.Type, id: ref.ID, name: ref.Name, fqn: ref.FQN, token: hex.EncodeToString(sum[:8])}
		f, ok := fetches[k]
		if !ok {
			f = &fetch{ref: ref, srv: res.server, token: res.token}
			fetches[k] = f
			order = append(order, k)
		}
		f.results = append(f.results, res)
	}
	if len(order) > 0 && r.opts.Services == nil {
		for _, k := range order {
			for _, res := range fetches[k].results {
				res.fail(ClassOM, fmt.Errorf("%s: %s: the service comes from the OpenMetadata API, which this command does not call", res.Path, describe(res.Def)))
			}
		}
		return
	}
	// The stage has one time budget. Each OpenMetadata host gets its own
	// pool of Workers fetches, so a hung host cannot hold the others'
	// fetches back; and once one fetch from a host ran out of time, the
	// rest of that host's fail at once instead of each waiting in turn.
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
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
			g.SetLimit(r.opts.Workers)
			for _, f := range byHost[host] {
				g.Go(func() error {
					if timedOut.Load() {
						f.err = fmt.Errorf("%w: an earlier request to %s in this batch timed out", omclient.ErrUnavailable, host)
						return nil
					}
					f.svc, f.err = r.opts.Services.Service(ctx, f.srv, f.token, f.ref)
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
		for _, res := range f.results {
			if f.err != nil {
				res.fail(omClass(f.err), fmt.Errorf("%s: %s: %s %q: %w", res.Path, describe(res.Def), f.ref.Type, cmp.Or(f.ref.FQN, f.ref.Name, f.ref.ID), omMessage(f.err)))
				continue
			}
			if f.svc.Deleted {
				res.fail(ClassGone, fmt.Errorf("%s: %s: %s %q is deleted in OpenMetadata", res.Path, describe(res.Def), f.ref.Type, f.svc.FQN))
				continue
			}
			svc := f.svc.Service // each definition gets its own copy
			res.svc = &svc
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

// useConnectionSecret decides the layout for one service.
func (r *Reconciler) useConnectionSecret(svc *workflow.Service) bool {
	switch r.opts.Layout {
	case LayoutConnectionSecret:
		return true
	case LayoutReferences:
		return false
	}
	return !svc.HasConnection()
}

// connectionSecrets fills in, in the connection-secret layout, each
// service's connection from the store.
func (r *Reconciler) connectionSecrets(ctx context.Context, results []*Result) {
	wants := make(map[*Result]resolver.StoreRef)
	var refs []resolver.StoreRef
	fresh := false
	for _, res := range results {
		if !res.ok() || res.svc == nil {
			continue
		}
		if !r.useConnectionSecret(res.svc) {
			if !res.svc.HasConnection() {
				res.fail(ClassHidden, fmt.Errorf("%s: %s: %w: OpenMetadata returned %s %q without its connection to this token; OpenMetadata 0.12-0.13 kept whole connections in the secrets manager%s", res.Path, describe(res.Def), ErrHiddenConnection, res.svc.EntityType, res.svc.Name, r.hint(ErrHiddenConnection)))
			}
			continue
		}
		id, err := workflow.ConnectionSecretID(res.server.ClusterName, res.svc.EntityType, res.svc.ServiceType, res.svc.Name)
		if err != nil {
			res.fail(ClassInvalid, fmt.Errorf("%s: %w", res.Path, err))
			continue
		}
		sr := resolver.StoreRef{Store: res.Store, Ref: resolver.Ref{ID: id}}
		r.use(res, sr)
		wants[res] = sr
		refs = append(refs, sr)
		fresh = fresh || res.fresh
	}
	if len(refs) == 0 {
		return
	}
	vals, errs := r.lookupRouted(ctx, fresh, refs)
	for res, sr := range wants {
		v, ok := vals[sr]
		if !ok || v.IsNull() {
			e := cmp.Or(errs[sr], error(fmt.Errorf("%w: the secret is null", resolver.ErrNotFound)))
			res.fail(resolver.Class(e), fmt.Errorf("%s: connection secret %s of %s %q: %w", res.Path, sr.Ref.ID, res.svc.EntityType, res.svc.Name, resolver.WithoutRef(e)))
			continue
		}
		if err := res.svc.WithConnectionSecret([]byte(v.Value())); err != nil {
			res.fail(ClassInvalid, fmt.Errorf("%s: connection secret %s: %w", res.Path, sr.Ref.ID, err))
			continue
		}
		res.fromSecret = true
	}
}

// assemble builds the workflow config each definition resolves to.
func (r *Reconciler) assemble(results []*Result) {
	for _, res := range results {
		if !res.ok() {
			continue
		}
		switch {
		case res.Def.Kind == workflow.KindIngestionPipeline:
			out, err := res.Def.Pipeline.Assemble(res.svc)
			if err != nil {
				class := ClassInvalid
				if errors.Is(err, workflow.ErrUnsupportedPipeline) {
					class = ClassUnsupported
				}
				res.fail(class, err)
				continue
			}
			res.Out = out
		case res.svc != nil:
			if err := res.Def.CompleteService(res.svc); err != nil {
				res.fail(ClassInvalid, err)
				continue
			}
			res.Out = res.Def
		default:
			res.Out = res.Def
		}
		if res.server != nil {
			r.overrideServer(res)
		}
	}
}

// overrideServer carries the OpenMetadata overrides (host and JWT) into
// the output: the ingestion task runs in the same pod and reaches
// OpenMetadata the same way.
func (r *Reconciler) overrideServer(res *Result) {
	path := workflow.ServerConfigPath
	if r.opts.HostPort != "" {
		res.Out.Doc.SetString(path, "hostPort", r.opts.HostPort)
	}
	if r.opts.JWT != nil {
		if !res.Out.Doc.SetString(append(slices.Clone(path), "securityConfig"), "jwtToken", res.token) {
			// Marshalled by encoding/json: the token is a JSON string.
			_ = res.Out.Doc.SetJSON(path, "securityConfig", jsonObject("jwtToken", res.token))
		}
	}
}

// jsonObject returns {"key": value} as JSON.
func jsonObject(key, value string) []byte {
	b, _ := json.Marshal(map[string]string{key: value}) // cannot fail for strings
	return b
}

// botSecrets applies, in the connection-secret layout, the bot's auth
// provider and security config from the store where a config lacks them,
// and the dbt source configs the server kept there.
func (r *Reconciler) botSecrets(ctx context.Context, results []*Result) {
	type want struct {
		res           *Result
		auth, sec, db resolver.StoreRef
	}
	var wants []want
	var refs []resolver.StoreRef
	fresh := false
	for _, res := range results {
		if !res.ok() || res.Out == nil || !res.fromSecret {
			continue
		}
		w := want{res: res}
		cluster := res.server.ClusterName
		if res.Out.NeedsBotSecrets() {
			w.auth = resolver.StoreRef{Store: res.Store, Ref: resolver.Ref{ID: workflow.BotAuthProviderSecretID(cluster, workflow.DefaultBot)}}
			w.sec = resolver.StoreRef{Store: res.Store, Ref: resolver.Ref{ID: workflow.BotSecretID(cluster, workflow.DefaultBot)}}
			refs = append(refs, w.auth, w.sec)
			r.use(res, w.auth)
			r.use(res, w.sec)
		}
		if name, ok := res.Out.DbtServiceName(); ok {
			w.db = resolver.StoreRef{Store: res.Store, Ref: resolver.Ref{ID: workflow.DbtSecretID(cluster, name)}}
			refs = append(refs, w.db)
			r.use(res, w.db)
		}
		if w.auth.Ref.ID != "" || w.db.Ref.ID != "" {
			wants = append(wants, w)
			fresh = fresh || res.fresh
		}
	}
	if len(refs) == 0 {
		return
	}
	vals, errs := r.lookupRouted(ctx, fresh, refs)
	for _, w := range wants {
		res := w.res
		if w.auth.Ref.ID != "" {
			a, okA := vals[w.auth]
			s, okS := vals[w.sec]
			if !okA || !okS {
				sr := w.auth
				if okA {
					sr = w.sec
				}
				e := cmp.Or(errs[sr], error(resolver.ErrNotFound))
				res.fail(resolver.Class(e), fmt.Errorf("%s: bot secret %s: %w", res.Path, sr.Ref.ID, resolver.WithoutRef(e)))
				continue
			}
			if err := res.Out.ApplyBotSecrets([]byte(a.Value()), []byte(s.Value())); err != nil {
				res.fail(ClassInvalid, err)
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
				res.fail(resolver.Class(e), fmt.Errorf("%s: dbt secret %s: %w", res.Path, w.db.Ref.ID, resolver.WithoutRef(e)))
			case v.IsNull():
			default:
				if err := res.Out.ApplyDbtSecret([]byte(v.Value())); err != nil {
					res.fail(ClassInvalid, err)
				}
			}
		}
	}
}

// resolveRefs collects the references of every assembled config and
// resolves them in one plan of store calls: one resolver call for the
// definitions asked fresh (the refresh) and one for the others. Then it
// substitutes the values and renders each output.
func (r *Reconciler) resolveRefs(ctx context.Context, results []*Result) {
	var fresh, cached []resolver.StoreRef
	var planned []*Result
	for _, res := range results {
		if !res.ok() || !r.collect(res) {
			continue
		}
		planned = append(planned, res)
		for _, o := range res.Refs {
			sr := resolver.StoreRef{Store: res.Store, Ref: o.Ref}
			r.use(res, sr)
			if res.fresh {
				fresh = append(fresh, sr)
			} else {
				cached = append(cached, sr)
			}
		}
	}
	if r.collectOnly {
		return
	}
	values := make(map[resolver.StoreRef]resolver.Secret)
	errs := make(map[resolver.StoreRef]error)
	for _, g := range []struct {
		fresh bool
		refs  []resolver.StoreRef
	}{{true, fresh}, {false, cached}} {
		if len(g.refs) == 0 {
			continue
		}
		v, e := r.lookupRouted(ctx, g.fresh, g.refs)
		for k, s := range v {
			values[k] = s
		}
		for k, err := range e {
			errs[k] = err
		}
	}
	for _, res := range planned {
		r.render(res, values, errs)
	}
}

// collect finds the references of res.Out; problems found here stop the
// definition before any store call.
func (r *Reconciler) collect(res *Result) bool {
	occ, err := res.Out.Doc.Refs()
	var failures []Failure
	for _, e := range resolver.Unjoin(err) {
		failures = append(failures, fieldFailure(e))
	}
	res.stores = make(map[resolver.Ref]string, len(occ))
	res.fallbacks = make(map[resolver.Ref]string)
	res.hides = make(map[string]bool)
	for _, o := range occ {
		st, fb := r.route(res.Store, o.Ref.ID)
		res.stores[o.Ref] = st
		if fb != "" {
			res.fallbacks[o.Ref] = fb
		}
		res.hides[st] = r.opts.Resolver.HidesIDs(st)
	}
	for _, o := range occ {
		if fromOpenMetadata(res, o.Path) {
			continue
		}
		if err := r.checkRef(res, o.Ref); err != nil {
			failures = append(failures, Failure{Field: o.Path, Ref: res.Label(o.Ref), Store: res.StoreOf(o.Ref), Err: err})
		}
	}
	if len(failures) > 0 {
		res.Err = &DefinitionError{Path: res.Path, Failures: failures}
		return false
	}
	res.Refs = occ
	return true
}

// render substitutes res's values into its document and marshals it.
func (r *Reconciler) render(res *Result, values map[resolver.StoreRef]resolver.Secret, errs map[resolver.StoreRef]error) {
	var failures []Failure
	mine := make(map[resolver.Ref]resolver.Secret, len(res.Refs))
	for _, o := range res.Refs {
		sr := resolver.StoreRef{Store: res.Store, Ref: o.Ref}
		if err := errs[sr]; err != nil {
			res.Outcomes[o.Ref] = err
			failures = append(failures, Failure{Field: o.Path, Ref: res.Label(o.Ref), Store: res.StoreOf(o.Ref), Err: err})
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
		res.Err = &DefinitionError{Path: res.Path, Failures: failures}
		return
	}
	if err := res.Out.Doc.Apply(res.Refs, mine); err != nil {
		res.Err = &DefinitionError{Path: res.Path, Failures: []Failure{{Err: err}}}
		return
	}
	res.Out.MarkResolved()
	out, err := res.Out.Doc.Marshal(r.opts.Format)
	if err != nil {
		res.Err = &DefinitionError{Path: res.Path, Failures: []Failure{fieldFailure(err)}}
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
