package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"omsecrets/internal/config"
)

// errHelp is returned when -h was asked for; usage was printed.
var errHelp = errors.New("help requested")

// flagSpec ties a flag to its environment twin; the table is also what the
// README's configuration reference lists.
type flagSpec struct {
	name, env, usage string
}

// commonFlags are accepted by resolve and check.
var commonFlags = []flagSpec{
	{"provider", "PROVIDER", "secrets manager provider for every reference (db, file, env, or an OpenMetadata provider); default: the definition's secretsManagerProvider, else db"},
	{"format", "FORMAT", "output format: json or yaml (default json, or yaml for an --out ending in .yaml/.yml)"},
	{"timeout", "TIMEOUT", "time limit for each stage of a batch (bot JWTs, OpenMetadata fetches, connection secrets, references)"},
	{"routes", "ROUTES", `send ids under a prefix to another store: "prefix=store[|fallback],...", longest prefix wins; the fallback is asked for ids the store does not have (migrations)`},
	{"cache-ttl", "CACHE_TTL", "how long a fetched secret is reused (0 disables the cache)"},
	{"rate-limits", "RATE_LIMITS", `client-side store rate limits, "store=calls_per_second[:burst],..." (defaults: ` + defaultLimitsHelp() + ")"},
	{"concurrency", "CONCURRENCY", "store calls in flight at most"},
	{"adaptive-rate", "ADAPTIVE_RATE", "halve a store's rate limit when it throttles and climb back slowly, so a fleet of sidecars settles on the store's shared quota (false: fixed rates)"},
	{"log-level", "LOG_LEVEL", "debug, info, warn or error"},
	{"log-format", "LOG_FORMAT", "text or json"},
}

// outputFlags are accepted by resolve (and, but for --out and --redact, by
// run).
var outputFlags = []flagSpec{
	{"out", "OUTPUT_FILE", `output file; "-" writes the resolved values to standard output`},
	{"out-dir", "OUTPUT_DIR", "output directory: one <dag_id>.json (or .yaml) per definition"},
	{"allow-disk", "ALLOW_DISK", "allow an output directory that is not tmpfs or ramfs"},
	{"group", "OUTPUT_GROUP", "group (name or gid) given read access to outputs: mode 0640 instead of 0600"},
	{"redact", "REDACT", `write "[redacted]" in place of every resolved value (a preview; still fails closed)`},
}

// runFlags are accepted by run only (besides the common and output ones).
var runFlags = []flagSpec{
	{"once", "ONCE", "resolve every definition present, write the outputs and exit: 0 only if all resolved (init containers, KubernetesExecutor pods)"},
	{"watch-dirs", "WATCH_DIRS", "comma-separated directories of definitions to watch (e.g. $AIRFLOW_HOME/dag_generated_configs)"},
	{"refresh-interval", "REFRESH_INTERVAL", "re-resolve every definition this often (jittered), so rotated secrets reach the files"},
	{"workers", "WORKERS", "batches of definitions resolved at once, and OpenMetadata requests in flight per host in each"},
	{"http-addr", "HTTP_ADDR", `address for /healthz, /readyz, /status and /metrics; "off" disables`},
	{"watch-quiet", "WATCH_QUIET", "a changed definition is picked up after this long without further changes (a *.json one that parses as one whole object goes at once)"},
	{"watch-max-wait", "WATCH_MAX_WAIT", "... and at most this long after its first change"},
	{"rescan-interval", "RESCAN_INTERVAL", "full rescan of the watch dirs, the safety net for lost file events (0 disables)"},
	{"change-detection", "CHANGE_DETECTION", "refresh asks the stores that can list their changes (aws, aws-ssm, azure-kv, kubernetes) which secrets changed and fetches only those (false: read every secret)"},
	{"change-max-age", "CHANGE_MAX_AGE", "a secret read longer ago than this is read again at the next refresh whatever the store's listing says"},
	{"start-jitter", "START_JITTER", "delay the first pass by a random time up to this, so sidecars started together do not call the store at once (0 disables)"},
	{"fresh-for", "FRESH_FOR", "how long after its last successful resolution an output counts as current in its .status file (default twice --refresh-interval)"},
}

// omFlags are the OpenMetadata API settings, for every command.
var omFlags = []flagSpec{
	{"om-jwt-file", "OM_JWT_FILE", "file holding the bot JWT; overrides the definitions' jwtToken, read anew for every batch"},
	{"om-layout", "OM_LAYOUT", "where service connections come from: auto, references or connection-secret (OpenMetadata 0.12-0.13)"},
	{"om-host-port", "OM_HOST_PORT", "OpenMetadata API URL (ending in /api) overriding the definitions' hostPort"},
	{"om-hosts", "OM_HOSTS", "comma-separated OpenMetadata URLs the bot JWT may be sent to: a definition whose hostPort is none of them is refused (--om-host-port is always allowed)"},
	{"om-cluster", "OM_CLUSTER", "OpenMetadata's clusterName: pipeline and bot secret ids are built with it, and definitions naming another cluster are refused"},
	{"allow-ids", "ALLOW_IDS", `comma-separated glob patterns ("*" matches across "/") of secret ids a definition file may reference beyond a pipeline's own; workflow configs are held to them when set`},
	{"om-ca-file", "OM_CA_FILE", "PEM file of CA certificates to trust for the OpenMetadata API"},
	{"om-timeout", "OM_TIMEOUT", "time limit for one OpenMetadata API request"},
}

// commandFlags are the flags of each command. resolve and check take the
// same definitions and, but for the output flags, the same flags.
func commandFlags() map[string][][]flagSpec {
	return map[string][][]flagSpec{
		"resolve": {commonFlags, outputFlags, omFlags},
		"check":   {commonFlags, omFlags},
		"run":     {commonFlags, daemonOutputFlags, runFlags, omFlags},
		"probe":   {probeFlags},
	}
}

// bind registers specs on fs, each defaulting to cfg's value so that flags
// win over the environment.
func bind(fs *flag.FlagSet, cfg *config.Config, specs []flagSpec) {
	for _, s := range specs {
		usage := fmt.Sprintf("%s (env %s%s)", s.usage, config.Prefix, s.env)
		switch s.name {
		case "provider":
			fs.StringVar(&cfg.Provider, s.name, cfg.Provider, usage)
		case "format":
			fs.StringVar(&cfg.Format, s.name, cfg.Format, usage)
		case "timeout":
			fs.DurationVar(&cfg.Timeout, s.name, cfg.Timeout, usage)
		case "log-level":
			fs.StringVar(&cfg.LogLevel, s.name, cfg.LogLevel, usage)
		case "log-format":
			fs.StringVar(&cfg.LogFormat, s.name, cfg.LogFormat, usage)
		case "out":
			fs.StringVar(&cfg.OutputFile, s.name, cfg.OutputFile, usage)
		case "out-dir":
			fs.StringVar(&cfg.OutputDir, s.name, cfg.OutputDir, usage)
		case "allow-disk":
			fs.BoolVar(&cfg.AllowDisk, s.name, cfg.AllowDisk, usage)
		case "group":
			fs.StringVar(&cfg.OutputGroup, s.name, cfg.OutputGroup, usage)
		case "redact":
			fs.BoolVar(&cfg.Redact, s.name, cfg.Redact, usage)
		case "routes":
			fs.StringVar(&cfg.Routes, s.name, cfg.Routes, usage)
		case "cache-ttl":
			fs.DurationVar(&cfg.CacheTTL, s.name, cfg.CacheTTL, usage)
		case "rate-limits":
			fs.StringVar(&cfg.RateLimits, s.name, cfg.RateLimits, usage)
		case "concurrency":
			fs.IntVar(&cfg.Concurrency, s.name, cfg.Concurrency, usage)
		case "adaptive-rate":
			fs.BoolVar(&cfg.AdaptiveRate, s.name, cfg.AdaptiveRate, usage)
		case "change-detection":
			fs.BoolVar(&cfg.ChangeDetection, s.name, cfg.ChangeDetection, usage)
		case "change-max-age":
			fs.DurationVar(&cfg.ChangeMaxAge, s.name, cfg.ChangeMaxAge, usage)
		case "start-jitter":
			fs.DurationVar(&cfg.StartJitter, s.name, cfg.StartJitter, usage)
		case "once":
			fs.BoolVar(&cfg.Once, s.name, cfg.Once, usage)
		case "watch-dirs":
			fs.Func(s.name, usage, func(v string) error {
				cfg.WatchDirs = splitList(v)
				return nil
			})
		case "refresh-interval":
			fs.DurationVar(&cfg.RefreshInterval, s.name, cfg.RefreshInterval, usage)
		case "workers":
			fs.IntVar(&cfg.Workers, s.name, cfg.Workers, usage)
		case "http-addr":
			fs.StringVar(&cfg.HTTPAddr, s.name, cfg.HTTPAddr, usage)
		case "watch-quiet":
			fs.DurationVar(&cfg.WatchQuiet, s.name, cfg.WatchQuiet, usage)
		case "watch-max-wait":
			fs.DurationVar(&cfg.WatchMaxWait, s.name, cfg.WatchMaxWait, usage)
		case "rescan-interval":
			fs.DurationVar(&cfg.RescanInterval, s.name, cfg.RescanInterval, usage)
		case "fresh-for":
			fs.DurationVar(&cfg.FreshFor, s.name, cfg.FreshFor, usage)
		case "om-jwt-file":
			fs.StringVar(&cfg.OMJWTFile, s.name, cfg.OMJWTFile, usage)
		case "om-layout":
			fs.StringVar(&cfg.OMLayout, s.name, cfg.OMLayout, usage)
		case "om-host-port":
			fs.StringVar(&cfg.OMHostPort, s.name, cfg.OMHostPort, usage)
		case "om-hosts":
			fs.Func(s.name, usage, func(v string) error {
				cfg.OMHosts = splitList(v)
				return nil
			})
		case "om-cluster":
			fs.StringVar(&cfg.OMCluster, s.name, cfg.OMCluster, usage)
		case "allow-ids":
			fs.Func(s.name, usage, func(v string) error {
				cfg.AllowIDs = splitList(v)
				return nil
			})
		case "om-ca-file":
			fs.StringVar(&cfg.OMCAFile, s.name, cfg.OMCAFile, usage)
		case "om-timeout":
			fs.DurationVar(&cfg.OMTimeout, s.name, cfg.OMTimeout, usage)
		default:
			panic("flag without a config field: " + s.name)
		}
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for d := range strings.SplitSeq(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// parseCommand loads the environment, binds specs and the store settings
// and parses args, which may mix flags and positional arguments ("--" ends
// the flags). It returns the validated config, the store settings and the
// positional arguments.
func parseCommand(name string, args, environ []string, stderr io.Writer) (config.Config, *storeValues, []string, error) {
	specs := commandFlags()[name]
	sv := &storeValues{env: config.EnvMap(environ)}
	cfg, err := config.Load(environ)
	if err != nil {
		return cfg, nil, nil, &usageError{err}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		operands := "DEFINITION..."
		if name == "run" {
			operands = "[DIR...]   (with --once also FILE...)"
		}
		fmt.Fprintf(stderr, "Usage: omsecrets %s [flags] %s\n\nFlags:\n", name, operands)
		fs.PrintDefaults()
	}
	for _, s := range specs {
		bind(fs, &cfg, s)
	}
	if name != "probe" {
		bindStoreFlags(fs, sv)
	}
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := parseFlags(fs, args, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cfg, nil, nil, errHelp
			}
			return cfg, nil, nil, &usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	pos = append(pos, rest...)
	if err := cfg.Validate(); err != nil {
		return cfg, nil, nil, &usageError{err}
	}
	return cfg, sv, pos, nil
}

// flagValue matches the flag package's error for a value a flag refused,
// which quotes the value.
var flagValue = regexp.MustCompile(`^invalid (value|boolean value) ".*" for flag -([A-Za-z0-9-]+): `)

// parseFlags is fs.Parse without echoing a refused value: the flag
// package quotes it in its error and prints that and the whole usage to
// the flag set's output, and a value may be anything (a token pasted
// into the wrong flag). On -h the usage is printed to stderr; on an error
// nothing is, and the error names the flag, not the value.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	usage := fs.Usage
	fs.Usage = func() {} // the flag package calls it on -h and on every error
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	}
	if m := flagValue.FindStringSubmatch(err.Error()); m != nil {
		rest := err.Error()[len(m[0]):]
		if strings.Contains(rest, "parse error") || strings.Contains(rest, "invalid syntax") || strings.Contains(rest, "value out of range") || strings.HasPrefix(rest, "time: ") {
			rest = "not a valid value of its type"
		}
		return fmt.Errorf("invalid value for flag --%s: %s", m[2], rest)
	}
	return err
}
