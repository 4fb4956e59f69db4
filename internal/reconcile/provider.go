package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"omsecrets/resolver"
)

// ErrUnknownProvider marks a provider name that is neither one of
// OpenMetadata's secretsManagerProvider values nor a local store.
var ErrUnknownProvider error = storeError("unknown secrets manager provider")

// ErrNoStore marks a provider whose store is not available: not built yet,
// or not configured.
var ErrNoStore error = storeError("no store for provider")

// storeError is an error of the resolver.ErrUnknownStore class, so that
// status lines and metrics class it as "unknown_store".
type storeError string

func (e storeError) Error() string { return string(e) }

// Is reports the resolver.ErrUnknownStore class.
func (e storeError) Is(target error) bool { return target == resolver.ErrUnknownStore }

// DefaultProvider is used when neither the caller nor the definition names
// one; it is OpenMetadata's own default.
const DefaultProvider = "db"

// openMetadataProviders are OpenMetadata's secretsManagerProvider values
// (security/secrets/secretsManagerProvider.json) and "noop", its pre-1.0
// name for db, but for "in-memory", its tests' store, which holds nothing
// a sidecar could read. A value here that no store serves is known but not
// served yet; any other unserved value is unknown.
var openMetadataProviders = []string{
	"db", "noop", "managed-aws", "aws", "managed-aws-ssm", "aws-ssm",
	"managed-azure-kv", "azure-kv", "gcp", "kubernetes",
}

// Providers maps secretsManagerProvider values to the stores that serve
// them; build it from the store table with NewProviders.
type Providers struct {
	stores map[string]string // provider -> store
	specs  map[string]resolver.Spec
}

// NewProviders returns the provider table of specs. It panics when two
// specs claim one provider or one name: the table is a programming fact.
func NewProviders(specs []resolver.Spec) Providers {
	p := Providers{stores: make(map[string]string), specs: make(map[string]resolver.Spec)}
	for _, s := range specs {
		if _, dup := p.specs[s.Name]; dup {
			panic("reconcile: two stores named " + s.Name)
		}
		p.specs[s.Name] = s
		for _, prov := range s.Providers {
			if other, dup := p.stores[prov]; dup {
				panic(fmt.Sprintf("reconcile: provider %s served by %s and %s", prov, other, s.Name))
			}
			p.stores[prov] = s.Name
		}
	}
	return p
}

// IDs returns how OpenMetadata names secrets in store.
func (p Providers) IDs(store string) resolver.IDScheme { return p.specs[store].IDs }

// StoreFor returns the store name that serves provider.
func (p Providers) StoreFor(provider string) (string, error) {
	if s, ok := p.stores[provider]; ok {
		return s, nil
	}
	if slices.Contains(openMetadataProviders, provider) {
		return "", fmt.Errorf("%w %q: omsecrets has no store for it yet (stores: %s)", ErrNoStore, provider, strings.Join(p.Stores(), ", "))
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, provider, strings.Join(p.Names(), ", "))
}

// Names lists the provider names StoreFor accepts, sorted.
func (p Providers) Names() []string {
	return slices.Sorted(maps.Keys(p.stores))
}

// Stores lists the store names, sorted.
func (p Providers) Stores() []string {
	return slices.Sorted(maps.Keys(p.specs))
}
