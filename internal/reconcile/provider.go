package reconcile

import (
	"fmt"
	"slices"
	"strings"

	"omsecrets/resolver"
)

// ErrUnknownProvider marks a provider name that is neither one of
// OpenMetadata's secretsManagerProvider values nor a local store.
var ErrUnknownProvider error = storeError("unknown secrets manager provider")

// ErrNoStore marks a provider whose store is not available: not built yet,
// or not configured (the file store needs a directory).
var ErrNoStore error = storeError("no store for provider")

// storeError is an error of the resolver.ErrUnknownStore class, so that
// status lines and metrics class it as "unknown_store".
type storeError string

func (e storeError) Error() string { return string(e) }

// Is reports the resolver.ErrUnknownStore class.
func (e storeError) Is(target error) bool { return target == resolver.ErrUnknownStore }

// providerStores maps provider names to the store that serves them.
// OpenMetadata's managed and non-managed variants read the same way on this
// side; "noop" is what OpenMetadata before 1.0 called "db".
var providerStores = map[string]string{
	"db":               "db",
	"noop":             "db",
	"file":             "file",
	"env":              "env",
	"aws":              "aws",
	"managed-aws":      "aws",
	"aws-ssm":          "aws-ssm",
	"managed-aws-ssm":  "aws-ssm",
	"azure-kv":         "azure-kv",
	"managed-azure-kv": "azure-kv",
	"gcp":              "gcp",
	"kubernetes":       "kubernetes",
}

// StoreFor returns the store name that serves provider.
func StoreFor(provider string) (string, error) {
	if s, ok := providerStores[provider]; ok {
		return s, nil
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, provider, strings.Join(Providers(), ", "))
}

// Providers lists the provider names StoreFor accepts, sorted.
func Providers() []string {
	out := make([]string, 0, len(providerStores))
	for p := range providerStores {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// storeHints say how to configure a store that is missing.
var storeHints = map[string]string{
	"file":    " (set --file-dir / OMSECRETS_FILE_DIR)",
	"aws":     " (set AWS_REGION, AWS_DEFAULT_REGION or AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION)",
	"aws-ssm": " (set AWS_REGION, AWS_DEFAULT_REGION or AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION)",
}
