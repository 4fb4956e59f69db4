package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Spec describes one kind of store to the code that builds stores from
// configuration. Each store package exports its Spec; cmd keeps the table
// of them, and the provider names, the rate-limit keys, the flags of the
// stores' settings, --help and the docs' store tables all come from
// that table. A Spec is a value: it holds no state and builds nothing
// until Open is called.
type Spec struct {
	// Name is the store's name, as --rate-limits, logs, metrics and
	// check's STORE column spell it ("aws-ssm").
	Name string
	// Providers are the secretsManagerProvider values the store serves:
	// OpenMetadata's names ("aws", "managed-aws") and omsecrets' own
	// ("file").
	Providers []string
	// Summary says in a few words what the store reads, for --help and
	// the docs' store tables.
	Summary string
	// Settings are the options the store takes; cmd gives each one a flag
	// and an OMSECRETS_ environment twin.
	Settings []Setting
	// Limit is the store's default client-side rate limit; the zero Limit
	// means none.
	Limit Limit
	// BatchSize is the most ids one store call fetches; 1 for stores
	// without a batch call.
	BatchSize int
	// IDs is how OpenMetadata names secrets in the store; the zero value
	// is AWS's "/"-separated scheme.
	IDs IDScheme
	// Costs are the published quotas of the store's calls and how its
	// change detection refreshes, for omsecrets plan and the quota
	// metric; nil for a store that makes no remote call (db, env, file),
	// which plan calls local. What plan knows of a store comes from here,
	// never from its name.
	Costs *Costs
	// Open builds the store. It returns an error wrapping
	// ErrNotConfigured (a *NotConfiguredError) when cfg leaves the store
	// off, and any other error when a setting is wrong; cmd adds the flag
	// or variable to set. Open may read cfg.Env (SDK credential chains)
	// but nothing else of the process.
	//
	// Lifetime: a store that holds anything past a call (a connection, a
	// goroutine renewing a token, watches) implements io.Closer, and
	// Close ends all of it and returns once it has ended; ctx bounds it
	// too, as a backstop. Whoever opens stores closes them: cmd closes
	// every store when its session ends (its context is done), and the
	// stores it already opened when a later Open, or the rest of the
	// session's set-up, fails. Close is called once, after the last call.
	Open func(ctx context.Context, cfg StoreConfig) (Getter, error)
}

// Setting is one option of a store. cmd binds it as the flag --Name with
// the environment twin OMSECRETS_<NAME> (upper case, "-" as "_"), which
// wins over the other names in Env; a flag wins over every variable.
type Setting struct {
	// Name is the flag name without dashes, e.g. "file-dir". Stores that
	// share a setting (the two AWS stores' region) use the same Name and
	// the same definition.
	Name string
	// Env lists further environment variables read for the setting, in
	// order of precedence after the OMSECRETS_ twin: OpenMetadata's
	// Airflow-side and env-loader names, the SDK's own.
	Env []string
	// Default is the value when nothing sets it.
	Default string
	// Usage is the flag's help text.
	Usage string
}

// Twin returns the OMSECRETS_ environment variable of the setting.
func (s Setting) Twin(prefix string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// StoreConfig is what Spec.Open is given.
type StoreConfig struct {
	// Settings maps each Setting.Name of the spec to its value, after the
	// flag, the twin, Env and Default were applied; "" is unset.
	Settings map[string]string
	// Env is the process environment, name to value, for what SDKs read
	// themselves (credentials, endpoints). Stores read no other.
	Env map[string]string
	// Logger is the store's logger, already carrying its name.
	Logger *slog.Logger
}

// ErrNotConfigured marks a store whose settings leave it off: it is not
// built, and a definition that needs it fails with the store's hint.
var ErrNotConfigured = errors.New("not configured")

// NotConfiguredError says which settings would turn a store on. Its
// message names the settings; cmd turns them into flags and variables.
type NotConfiguredError struct {
	Store string
	// Need names the settings (Setting.Name) of which one must be set.
	Need []string
}

func (e *NotConfiguredError) Error() string {
	return fmt.Sprintf("the %s store is not configured: it needs %s", e.Store, strings.Join(e.Need, " or "))
}

// Unwrap returns ErrNotConfigured.
func (e *NotConfiguredError) Unwrap() error { return ErrNotConfigured }

// IDScheme is how OpenMetadata's server names the secrets it keeps in a
// store (Java SecretsManager.buildSecretId and the provider's override of
// its separator and characters). omsecrets uses it to tell which ids
// belong to a pipeline: /<cluster>/pipeline/<name>/... in AWS,
// <cluster>-pipeline-<name>-... in Kubernetes. The zero IDScheme is
// AWS's: "/" between parts and before the first.
type IDScheme struct {
	// Sep separates the parts; "/" when empty.
	Sep string
	// NoLeadingSep drops the separator before the first part (Azure, GCP,
	// Kubernetes).
	NoLeadingSep bool
	// Clean applies the provider's character rule to one part (Azure
	// deletes what is not [A-Za-z0-9-], Kubernetes replaces it with "-");
	// nil keeps parts as they are.
	Clean func(part string) string
}

// KeepOnly returns an IDScheme.Clean that deletes from a part every
// character but ASCII letters, digits and those in extra, as
// OpenMetadata's Azure and GCP secrets managers do.
func KeepOnly(extra string) func(string) string {
	return func(s string) string {
		return strings.Map(func(r rune) rune {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
				return r
			}
			return -1
		}, s)
	}
}

// ID returns the id OpenMetadata builds from parts, lower-cased as it
// does.
func (s IDScheme) ID(parts ...string) string {
	sep := s.Sep
	if sep == "" {
		sep = "/"
	}
	var b strings.Builder
	for i, p := range parts {
		if s.Clean != nil {
			p = s.Clean(p)
		}
		if i > 0 || !s.NoLeadingSep {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return strings.ToLower(b.String())
}

// Under reports whether id is the id of parts or one below it under s.
func (s IDScheme) Under(id string, parts ...string) bool {
	sep := s.Sep
	if sep == "" {
		sep = "/"
	}
	base := s.ID(parts...)
	return id == base || strings.HasPrefix(id, base+sep)
}
