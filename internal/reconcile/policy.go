package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"omsecrets/internal/workflow"
	"omsecrets/resolver"
)

// Trust classes: a definition asked for what its writer may not have.
const (
	// ClassForbiddenRef: a reference written in a definition file names a
	// secret that does not belong to the definition (see Policy).
	ClassForbiddenRef = "forbidden_ref"
	// ClassForbiddenHost: the definition would send the bot JWT to an
	// OpenMetadata host the operator did not allow.
	ClassForbiddenHost = "forbidden_host"
)

// Sentinels of the trust boundary, for hints (Options.Hints).
var (
	// ErrForbiddenRef: see ClassForbiddenRef.
	ErrForbiddenRef = errors.New("reference not allowed")
	// ErrForbiddenHost: see ClassForbiddenHost.
	ErrForbiddenHost = errors.New("OpenMetadata host not allowed")
)

// Policy is the trust boundary between whoever writes definition files
// and the stores the sidecar can read. The sidecar holds every store
// credential; a definition file is only a request.
//
//   - References that OpenMetadata returned (the service connection,
//     fetched as the bot) carry OpenMetadata's authority and are always
//     resolved.
//   - References written in an IngestionPipeline file itself (the bot
//     JWT, sourceConfig such as dbt credentials, anything else) must be
//     the pipeline's own under OpenMetadata's naming: under
//     <cluster>/pipeline/<pipeline name>, <cluster>/bot/<bot> for the
//     Bots, or <cluster>/serverconnection, in the store's IDScheme; or
//     match AllowIDs.
//   - References in a self-contained workflow config (the operator's own
//     file) must match AllowIDs when it is set, and are unconstrained
//     when it is not.
//
// The zero Policy restricts references as above (with no AllowIDs) and
// leaves hosts and cluster names unchecked.
type Policy struct {
	// AllowIDs are glob patterns of ids any definition may name: "*"
	// matches any run of characters, "/" included, "?" any one.
	AllowIDs []string
	// RestrictHosts sends the bot JWT only to Hosts; a definition naming
	// another hostPort fails before any store call. Options.HostPort, the
	// pinned host, is always allowed.
	RestrictHosts bool
	// Hosts are the allowed OpenMetadata origins (scheme://host:port;
	// see ParseHost).
	Hosts []string
	// Cluster, when set, is the OpenMetadata clusterName the pipeline and
	// bot ids are built with, whatever the definition says; a definition
	// that names another cluster fails.
	Cluster string
	// Bots are the bots whose secrets a pipeline may name; DefaultBots
	// when empty.
	Bots []string
}

// DefaultBots are the bots an IngestionPipeline's own references may
// name: OpenMetadata deploys every ingestion pipeline with the ingestion
// bot's JWT.
var DefaultBots = []string{workflow.DefaultBot}

// ParseHost returns the origin of an OpenMetadata URL as Policy.Hosts
// holds it: lower-case scheme://host:port, the port made explicit. It
// fails for URLs without an http or https scheme or a host.
func ParseHost(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case u.User != nil:
		// Never echoed: the user part may hold a password.
		return "", errors.New("a URL with a user or password in it")
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("%q: an OpenMetadata host is an http:// or https:// URL", resolver.Clip(raw))
	case u.Hostname() == "":
		return "", fmt.Errorf("%q: no host", resolver.Clip(raw))
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

// printable returns a definition's hostPort as it may be printed: its
// user part, which may hold a password, redacted, and clipped.
func printable(hostPort string) string {
	if u, err := url.Parse(hostPort); err == nil && u.User != nil {
		u.User = nil
		return resolver.Clip(strings.Replace(u.String(), "://", "://"+resolver.Redacted+"@", 1))
	}
	if strings.Contains(hostPort, "@") {
		return resolver.Redacted
	}
	return resolver.Clip(hostPort)
}

// compiled is a Policy ready for use.
type compiled struct {
	Policy
	allow []*regexp.Regexp
	hosts map[string]bool
}

func compilePolicy(p Policy) (*compiled, error) {
	c := &compiled{Policy: p, hosts: make(map[string]bool)}
	if len(c.Bots) == 0 {
		c.Bots = DefaultBots
	}
	for _, g := range p.AllowIDs {
		re, err := globRegexp(g)
		if err != nil {
			return nil, err
		}
		c.allow = append(c.allow, re)
	}
	for _, h := range p.Hosts {
		origin, err := ParseHost(h)
		if err != nil {
			return nil, err
		}
		c.hosts[origin] = true
	}
	return c, nil
}

// globRegexp compiles an allow-list pattern.
func globRegexp(g string) (*regexp.Regexp, error) {
	if g == "" || strings.ContainsFunc(g, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("allow-ids pattern %q: empty or with a control character", g)
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.Compile(b.String())
}

func (c *compiled) allowed(id string) bool {
	for _, re := range c.allow {
		if re.MatchString(id) {
			return true
		}
	}
	return false
}

// hostAllowed reports whether the bot JWT may go to hostPort.
func (c *compiled) hostAllowed(hostPort string) bool {
	if !c.RestrictHosts {
		return true
	}
	origin, err := ParseHost(hostPort)
	return err == nil && c.hosts[origin]
}

// own reports whether id belongs to the IngestionPipeline named name of
// cluster under OpenMetadata's naming in scheme. "/"-style ids are
// accepted in every store: OpenMetadata's Kubernetes store kept them
// before its id fix, and a store that cannot hold them refuses them.
func (c *compiled) own(scheme resolver.IDScheme, cluster, name, id string) bool {
	for _, s := range []resolver.IDScheme{scheme, {}} {
		if name != "" && s.Under(id, cluster, "pipeline", name) {
			return true
		}
		if s.Under(id, cluster, "serverconnection") {
			return true
		}
		for _, bot := range c.Bots {
			if s.Under(id, cluster, "bot", bot) {
				return true
			}
		}
	}
	return false
}

// fromOpenMetadata reports whether the field at path of res's output came
// from OpenMetadata's answer rather than from the definition file.
func fromOpenMetadata(res *Result, path string) bool {
	return res.svc != nil && (path == "source.serviceConnection" || strings.HasPrefix(path, "source.serviceConnection."))
}

// checkRef returns the refusal of a reference the definition file itself
// holds, or nil when the policy admits it. The message does not name the
// file, field or reference: callers do.
func (r *Reconciler) checkRef(res *Result, ref resolver.Ref) error {
	if r.opts.Resolver.HidesIDs(r.routed(resolver.StoreRef{Store: res.Store, Ref: ref}).Store) {
		return nil // the db store: the id is the value itself, no store call
	}
	c := r.policy
	if c.allowed(ref.ID) {
		return nil
	}
	if res.Def.Kind == workflow.KindIngestionPipeline {
		cluster, name, scheme := r.cluster(res), res.Def.Pipeline.Name(), r.opts.Providers.IDs(res.Store)
		if c.own(scheme, cluster, name, ref.ID) {
			return nil
		}
		return fmt.Errorf("%w: not pipeline %q's own secret (OpenMetadata names those %s%s...) and matches no --allow-ids / %sALLOW_IDS pattern",
			ErrForbiddenRef, name, scheme.ID(cluster, "pipeline", name), cmp.Or(scheme.Sep, "/"), r.opts.EnvPrefix)
	}
	if len(c.allow) == 0 {
		return nil // the operator's own file, unconstrained (run warns)
	}
	return fmt.Errorf("%w: matches no --allow-ids / %sALLOW_IDS pattern", ErrForbiddenRef, r.opts.EnvPrefix)
}

// cluster is the cluster name res's ids are built with.
func (r *Reconciler) cluster(res *Result) string {
	if r.policy.Cluster != "" {
		return r.policy.Cluster
	}
	if res.server != nil {
		return res.server.ClusterName
	}
	if srv, err := res.Def.Server(); err == nil {
		return srv.ClusterName
	}
	return workflow.DefaultClusterName
}

// checkServer applies the host and cluster rules to a definition's
// server connection, before any store call: the bot JWT, resolved or
// given, goes to srv.HostPort (in the API calls, and from the output in
// the ingestion task's). It reports whether res may go on.
func (r *Reconciler) checkServer(res *Result, srv *workflow.Server) bool {
	p := r.opts.EnvPrefix
	if r.opts.HostPort == "" && !r.policy.hostAllowed(srv.HostPort) {
		res.fail(ClassForbiddenHost, fmt.Errorf("%s: %s: %w: %q; the bot JWT is sent only to the hosts of --om-hosts / %sOM_HOSTS, or to --om-host-port / %sOM_HOST_PORT",
			res.Path, serverField(res.Def, "hostPort"), ErrForbiddenHost, printable(srv.HostPort), p, p))
		return false
	}
	if r.policy.Cluster != "" && !strings.EqualFold(srv.ClusterName, r.policy.Cluster) {
		res.fail(ClassForbiddenRef, fmt.Errorf("%s: %s: %w: cluster %q is not this sidecar's OpenMetadata cluster %q (--om-cluster / %sOM_CLUSTER)",
			res.Path, serverField(res.Def, "clusterName"), ErrForbiddenRef, srv.ClusterName, r.policy.Cluster, p))
		return false
	}
	return true
}
