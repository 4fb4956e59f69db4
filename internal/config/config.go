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

// Config is the whole configuration. Each field's env tag (with Prefix in
// front) names its environment variable; the CLI flag of the same meaning
// is listed in the README's configuration table.
type Config struct {
	// Provider overrides the secretsManagerProvider of every definition.
	Provider string `env:"PROVIDER"`
	// FileDir is the directory of the file store.
	FileDir string `env:"FILE_DIR"`
	// EnvPrefix is the prefix of the env store's variables.
	EnvPrefix string `env:"ENV_PREFIX" envDefault:"OMSECRETS_SECRET_"`
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
	// Timeout bounds one whole resolution.
	Timeout time.Duration `env:"TIMEOUT" envDefault:"60s"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is text or json.
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`
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
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		vars[t.Field(i).Name] = Prefix + name
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && vars[pe.Name] != "" {
			errs = append(errs, &FieldError{Field: vars[pe.Name], Err: pe.Err})
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Validation errors, each wrapped in a *FieldError.
var (
	ErrInvalidFormat    = errors.New("must be json or yaml")
	ErrInvalidLogLevel  = errors.New("must be debug, info, warn or error")
	ErrInvalidLogFormat = errors.New("must be text or json")
	ErrInvalidTimeout   = errors.New("must be positive")
	ErrInvalidGroup     = errors.New("no such group")
	ErrOutputConflict   = errors.New("set only one of the output file and the output directory")
)

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
	return errors.Join(errs...)
}

// Level parses LogLevel.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

// GroupID returns the numeric id of OutputGroup, or -1 when it is empty.
func (c Config) GroupID() (int, error) {
	if c.OutputGroup == "" {
		return -1, nil
	}
	if id, err := strconv.Atoi(c.OutputGroup); err == nil && id >= 0 {
		return id, nil
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
		slog.String("file_dir", c.FileDir),
		slog.String("output_dir", c.OutputDir),
		slog.String("output_file", c.OutputFile),
		slog.String("format", c.Format),
		slog.Bool("allow_disk", c.AllowDisk),
		slog.String("output_group", c.OutputGroup),
		slog.Duration("timeout", c.Timeout),
	)
}
