package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Prefix is the prefix of every environment variable omsecrets reads.
const Prefix = "OMSECRETS_"

// Config is the configuration of everything but the stores, whose
// settings each store package declares (resolver.Spec.Settings) and cmd
// reads. Each field's env tag (with Prefix in
// front) names its environment variable; the CLI flag of the same meaning
// is bound in cmd/omsecrets, and docs/configuration.md lists both.
type Config struct {
	// Provider overrides the secretsManagerProvider of every definition.
	Provider string `env:"PROVIDER"`
	// OutputFile is the single output file; "-" is standard output.
	OutputFile string `env:"OUTPUT_FILE"`
	// OutputDir is the directory outputs are written to, one per
	// definition.
	OutputDir string `env:"OUTPUT_DIR"`
	// Format is the output format, json or yaml; empty means json unless
	// OutputFile ends in .yaml or .yml.
	Format string `env:"FORMAT"`
	// AllowDisk allows an output directory that is not tmpfs or ramfs.
	AllowDisk bool `env:"ALLOW_DISK"`
	// OutputGroup is a group (name or numeric id) given read access to
	// outputs (mode 0640); empty keeps outputs at 0600.
	OutputGroup string `env:"OUTPUT_GROUP"`
	// Redact writes "[redacted]" in place of every resolved value.
	Redact bool `env:"REDACT"`
	// Timeout bounds each stage of a batch of definitions on its own (bot
	// JWTs, OpenMetadata fetches, connection secrets, bot secrets,
	// references), not the whole batch: reconcile.Options.Timeout.
	Timeout time.Duration `env:"TIMEOUT" envDefault:"60s"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is text or json.
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`

	// CacheTTL is how long a fetched secret is reused; 0 disables the
	// cache.
	CacheTTL time.Duration `env:"CACHE_TTL" envDefault:"5m"`
	// Routes sends secret ids under a prefix to a store other than the
	// definition's provider names: "prefix=store[|fallback],...".
	Routes string `env:"ROUTES"`
	// RateLimits overrides stores' client-side rate limits, as
	// "store=calls_per_second[:burst],..." (0 = unlimited).
	RateLimits string `env:"RATE_LIMITS"`
	// Concurrency bounds the store calls in flight.
	Concurrency int `env:"CONCURRENCY" envDefault:"8"`
	// AdaptiveRate lets each store's client-side rate fall on throttling
	// and climb back slowly (resolver.Limit), so that a fleet of sidecars
	// settles on the store's shared quota; false keeps the rates fixed.
	AdaptiveRate bool `env:"ADAPTIVE_RATE" envDefault:"true"`

	// WatchDirs are the directories the daemon watches for definitions.
	WatchDirs []string `env:"WATCH_DIRS" envSeparator:","`
	// RefreshInterval is how often the daemon re-resolves every definition
	// (jittered), so rotated secrets and changed services reach the files.
	RefreshInterval time.Duration `env:"REFRESH_INTERVAL" envDefault:"5m"`
	// Workers bounds the batches of definitions the daemon resolves at
	// once, and the OpenMetadata requests a batch has in flight per host.
	Workers int `env:"WORKERS" envDefault:"4"`
	// HTTPAddr is where the daemon serves /healthz, /readyz, /status and
	// /metrics; "off" disables it.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8686"`
	// WatchQuiet and WatchMaxWait coalesce bursts of file events: a
	// definition is picked up after WatchQuiet without events, and at
	// most WatchMaxWait after the first.
	WatchQuiet   time.Duration `env:"WATCH_QUIET" envDefault:"300ms"`
	WatchMaxWait time.Duration `env:"WATCH_MAX_WAIT" envDefault:"3s"`
	// Once makes run resolve every definition present and exit, 0 only if
	// all resolved (init containers, KubernetesExecutor task pods).
	Once bool `env:"ONCE"`
	// RescanInterval is how often the watch dirs are rescanned in full,
	// the safety net for lost file events; 0 disables it.
	RescanInterval time.Duration `env:"RESCAN_INTERVAL" envDefault:"5m"`
	// ChangeDetection makes the periodic refresh ask the stores that can
	// list their changes (Secrets Manager, Parameter Store, Key Vault, Kubernetes)
	// which secrets changed, and fetch only those; false reads every
	// secret each refresh.
	ChangeDetection bool `env:"CHANGE_DETECTION" envDefault:"true"`
	// ChangeMaxAge bounds how long a value is kept on the store's word
	// that it is unchanged: older values are read again.
	ChangeMaxAge time.Duration `env:"CHANGE_MAX_AGE" envDefault:"1h"`
	// StartJitter delays the daemon's first pass by a random time up to
	// it, so that sidecars started together (a rolling restart) do not
	// call the store at the same instant; 0 disables it.
	StartJitter time.Duration `env:"START_JITTER" envDefault:"1s"`
	// FreshFor is how long after its last successful resolution an output
	// counts as current in its freshness file; 0 means twice
	// RefreshInterval.
	FreshFor time.Duration `env:"FRESH_FOR"`

	// OMJWTFile is a file holding the bot's JWT; it overrides the
	// definitions' securityConfig.jwtToken. It is read anew once per batch
	// of definitions (reconcile.Options.JWT), so a rotated token needs no
	// restart.
	OMJWTFile string `env:"OM_JWT_FILE"`
	// OMLayout is where service connections come from: auto, references
	// (the connection OM returns) or connection-secret (one JSON secret
	// per service, OpenMetadata 0.12-0.13).
	OMLayout string `env:"OM_LAYOUT" envDefault:"auto"`
	// OMHostPort overrides the definitions' OpenMetadata hostPort.
	OMHostPort string `env:"OM_HOST_PORT"`
	// OMCAFile is a PEM file of CA certificates trusted for the
	// OpenMetadata API, in addition to the definitions' sslConfig.
	OMCAFile string `env:"OM_CA_FILE"`
	// OMHosts are the OpenMetadata URLs the bot JWT may be sent to: a
	// definition whose hostPort is not one of them (scheme, host and port
	// compared) is refused, unless OMHostPort pins the host.
	OMHosts []string `env:"OM_HOSTS" envSeparator:","`
	// OMCluster is OpenMetadata's clusterName: the ids of a pipeline's
	// and a bot's secrets are built with it, and a definition naming
	// another cluster is refused.
	OMCluster string `env:"OM_CLUSTER" envDefault:"openmetadata"`
	// AllowIDs are glob patterns ("*" matches across "/") of secret ids a
	// definition file may reference beyond a pipeline's own; self-contained
	// workflow configs are held to them when set.
	AllowIDs []string `env:"ALLOW_IDS" envSeparator:","`
	// OMTimeout bounds one OpenMetadata API request attempt.
	OMTimeout time.Duration `env:"OM_TIMEOUT" envDefault:"30s"`
}

// Load reads the configuration from environ (KEY=VALUE strings, as
// os.Environ returns). It does not validate.
func Load(environ []string) (Config, error) {
	c, err := env.ParseAsWithOptions[Config](env.Options{Prefix: Prefix, Environment: EnvMap(environ)})
	if err != nil {
		return Config{}, envErrors(err)
	}
	return c, nil
}

// EnvMap turns KEY=VALUE strings into a map; a later duplicate wins, as in
// a shell. Strings without '=' are ignored.
func EnvMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// envErrors turns env's parse errors, which name Go fields, into
// *FieldError values naming the environment variables.
func envErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("read environment: %w", err)
	}
	vars := make(map[string]string)
	kinds := make(map[string]reflect.Type)
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		vars[t.Field(i).Name] = Prefix + name
		kinds[t.Field(i).Name] = t.Field(i).Type
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && vars[pe.Name] != "" {
			// The parsers' errors quote the value, which may be anything
			// (a token pasted into the wrong variable): say what was
			// expected instead.
			errs = append(errs, &FieldError{Field: vars[pe.Name], Err: expected(kinds[pe.Name])})
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// expected says what a variable of type t must hold, without its value.
func expected(t reflect.Type) error {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return errors.New("not a duration (such as 30s, 5m or 1h)")
	case t.Kind() == reflect.Bool:
		return errors.New("not a boolean (true or false)")
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return errors.New("not an integer")
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return errors.New("not a number")
	}
	return errors.New("not a valid value")
}

// Validation errors, each wrapped in a *FieldError.
var (
	ErrInvalidFormat    = errors.New("must be json or yaml")
	ErrInvalidLogLevel  = errors.New("must be debug, info, warn or error")
	ErrInvalidLogFormat = errors.New("must be text or json")
	ErrInvalidTimeout   = errors.New("must be positive")
	ErrInvalidGroup     = errors.New("no such group")
	ErrOutputConflict   = errors.New("set only one of the output file and the output directory")
	ErrNegative         = errors.New("must not be negative")
	ErrNotPositive      = errors.New("must be positive")
	ErrInvalidLayout    = errors.New("must be auto, references or connection-secret")
	ErrInvalidLimits    = errors.New(`must be "store=calls_per_second[:burst],..."`)
)

// Layouts of service connections (OMLayout).
const (
	LayoutAuto             = "auto"
	LayoutReferences       = "references"
	LayoutConnectionSecret = "connection-secret"
)

// Limit is a parsed RateLimits entry.
type Limit struct {
	Rate  float64
	Burst int
}

// FieldError is a problem with one setting. Field names both the flag and
// the environment variable.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks every field and returns errors.Join of *FieldError
// values, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, envName string, err error) {
		errs = append(errs, &FieldError{Field: "--" + flag + " / " + Prefix + envName, Err: err})
	}
	switch strings.ToLower(c.Format) {
	case "", "json", "yaml", "yml":
	default:
		bad("format", "FORMAT", ErrInvalidFormat)
	}
	if _, err := c.Level(); err != nil {
		bad("log-level", "LOG_LEVEL", ErrInvalidLogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "LOG_FORMAT", ErrInvalidLogFormat)
	}
	if c.Timeout <= 0 {
		bad("timeout", "TIMEOUT", ErrInvalidTimeout)
	}
	if _, err := c.GroupID(); err != nil {
		bad("group", "OUTPUT_GROUP", err)
	}
	if c.OutputFile != "" && c.OutputDir != "" {
		bad("out", "OUTPUT_FILE", ErrOutputConflict)
	}
	if c.ChangeMaxAge < 0 {
		bad("change-max-age", "CHANGE_MAX_AGE", ErrNegative)
	}
	if c.StartJitter < 0 {
		bad("start-jitter", "START_JITTER", ErrNegative)
	}
	if c.CacheTTL < 0 {
		bad("cache-ttl", "CACHE_TTL", ErrNegative)
	}
	if _, err := c.Limits(); err != nil {
		bad("rate-limits", "RATE_LIMITS", err)
	}
	for _, p := range []struct {
		flag, env string
		ok        bool
	}{
		{"concurrency", "CONCURRENCY", c.Concurrency > 0},
		{"workers", "WORKERS", c.Workers > 0},
		{"refresh-interval", "REFRESH_INTERVAL", c.RefreshInterval > 0},
		{"watch-quiet", "WATCH_QUIET", c.WatchQuiet > 0},
		{"watch-max-wait", "WATCH_MAX_WAIT", c.WatchMaxWait >= c.WatchQuiet},
		{"om-timeout", "OM_TIMEOUT", c.OMTimeout > 0},
		{"rescan-interval", "RESCAN_INTERVAL", c.RescanInterval >= 0},
		{"fresh-for", "FRESH_FOR", c.FreshFor >= 0},
	} {
		if !p.ok {
			err := ErrNotPositive
			switch p.env {
			case "WATCH_MAX_WAIT":
				err = errors.New("must be at least " + Prefix + "WATCH_QUIET")
			case "RESCAN_INTERVAL", "FRESH_FOR":
				err = ErrNegative
			}
			bad(p.flag, p.env, err)
		}
	}
	switch c.OMLayout {
	case LayoutAuto, LayoutReferences, LayoutConnectionSecret:
	default:
		bad("om-layout", "OM_LAYOUT", ErrInvalidLayout)
	}
	return errors.Join(errs...)
}

// Limits parses RateLimits into per-store limits.
func (c Config) Limits() (map[string]Limit, error) {
	out := make(map[string]Limit)
	for item := range strings.SplitSeq(c.RateLimits, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		store, spec, ok := strings.Cut(item, "=")
		store = strings.TrimSpace(store)
		if !ok || store == "" {
			return nil, fmt.Errorf("%w: %q", ErrInvalidLimits, item)
		}
		rateText, burstText, hasBurst := strings.Cut(strings.TrimSpace(spec), ":")
		rate, err := strconv.ParseFloat(rateText, 64)
		if err != nil || rate < 0 || rate != rate || rate > 1e9 {
			return nil, fmt.Errorf("%w: %q", ErrInvalidLimits, item)
		}
		l := Limit{Rate: rate}
		if hasBurst {
			b, err := strconv.Atoi(burstText)
			if err != nil || b < 1 {
				return nil, fmt.Errorf("%w: %q", ErrInvalidLimits, item)
			}
			l.Burst = b
		}
		out[store] = l
	}
	return out, nil
}

// Level parses LogLevel.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

// maxGID is the largest group id: gid_t is uint32 and its all-ones value
// means "no change".
const maxGID = 1<<32 - 2

// GroupID returns the numeric id of OutputGroup, or -1 when it is empty.
func (c Config) GroupID() (int, error) {
	if c.OutputGroup == "" {
		return -1, nil
	}
	if c.OutputGroup[0] >= '0' && c.OutputGroup[0] <= '9' || c.OutputGroup[0] == '-' || c.OutputGroup[0] == '+' {
		// A number: a gid_t is 32 bits, and (gid_t)-1 means "no change"
		// to chown, so 0 to 4294967294. Larger numbers used to wrap
		// (4294967296 became group 0).
		id, err := strconv.ParseUint(c.OutputGroup, 10, 32)
		if err != nil || id > maxGID {
			return -1, fmt.Errorf("%w %q: a numeric group id is 0 to %d", ErrInvalidGroup, c.OutputGroup, uint64(maxGID))
		}
		return int(id), nil
	}
	g, err := user.LookupGroup(c.OutputGroup)
	if err != nil {
		return -1, fmt.Errorf("%w %q", ErrInvalidGroup, c.OutputGroup)
	}
	return strconv.Atoi(g.Gid)
}

// LogValue implements slog.LogValuer. The configuration holds no secret
// values today; it is listed field by field so that one added later is not
// logged by accident.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("provider", c.Provider),
		slog.String("output_dir", c.OutputDir),
		slog.String("output_file", c.OutputFile),
		slog.String("format", c.Format),
		slog.Bool("allow_disk", c.AllowDisk),
		slog.String("output_group", c.OutputGroup),
		slog.Duration("timeout", c.Timeout),
		slog.Duration("cache_ttl", c.CacheTTL),
		slog.String("rate_limits", c.RateLimits),
		slog.String("routes", c.Routes),
		slog.Any("watch_dirs", c.WatchDirs),
		slog.Duration("refresh_interval", c.RefreshInterval),
		slog.Bool("adaptive_rate", c.AdaptiveRate),
		slog.Bool("change_detection", c.ChangeDetection),
		slog.Duration("change_max_age", c.ChangeMaxAge),
		slog.Duration("start_jitter", c.StartJitter),
		slog.Int("workers", c.Workers),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("om_layout", c.OMLayout),
		slog.String("om_host_port", c.OMHostPort),
		slog.Any("om_hosts", c.OMHosts),
		slog.String("om_cluster", c.OMCluster),
		slog.Any("allow_ids", c.AllowIDs),
		slog.Bool("om_jwt_file_set", c.OMJWTFile != ""),
	)
}
