package azurekv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"omsecrets/resolver"
)

var _ resolver.Getter = (*Provider)(nil)

// MaxNameLen is the longest secret name Key Vault accepts (Azure naming
// rules, Microsoft.KeyVault vaults/secrets: 1-127 alphanumerics and
// hyphens).
const MaxNameLen = 127

// VersionLen is the length of a secret version: Key Vault's object
// versions are 32-character identifiers (Key Vault documentation,
// "Object identifiers").
const VersionLen = 32

// secretsAPI is the part of *azsecrets.Client the Provider uses.
type secretsAPI interface {
	GetSecret(ctx context.Context, name, version string, options *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error)
	NewListSecretPropertiesPager(options *azsecrets.ListSecretPropertiesOptions) *runtime.Pager[azsecrets.ListSecretPropertiesResponse]
}

// Options configures a Provider.
type Options struct {
	// VaultURL is the vault's URL: https://<name>.vault.azure.net/, or
	// any https://<host>/ (see the package documentation for what
	// changes when the host is not under a Key Vault domain).
	VaultURL string
	// Credential gets the vault's tokens. Its failures are classed as
	// in the package documentation; Spec.Open builds it from the
	// environment.
	Credential azcore.TokenCredential
	// HTTPClient sends the requests; nil means a client trusting the
	// system roots, with DefaultHTTPTimeout.
	HTTPClient *http.Client
}

// Provider reads secrets from one Azure Key Vault. It is safe for
// concurrent use and holds no resources that need closing.
type Provider struct {
	api secretsAPI
	// vault is the vault's host, as errors name it.
	vault string
	// otherHost is set when the vault's host is not under a Key Vault
	// domain: the SDK's challenge resource check is then off.
	otherHost bool
	// primed is set once a call got an answer from the vault, so that
	// the SDK knows the challenge; until then calls go one at a time
	// (prime is the token), so that concurrent first reads do not each
	// send the unauthenticated request that elicits it.
	primed atomic.Bool
	prime  chan struct{}

	// now is the clock a read is timed by (see settleAfter).
	now func() time.Time
}

// New returns a Provider for opts.VaultURL that makes one HTTP attempt
// per call to Key Vault (and per token request).
func New(opts Options) (*Provider, error) {
	if opts.Credential == nil {
		return nil, errors.New("azure-kv: no credential")
	}
	u, host, err := parseVaultURL(opts.VaultURL)
	if err != nil {
		return nil, fmt.Errorf("vault URL: %w", err)
	}
	client := opts.HTTPClient
	if client == nil {
		if client, err = newHTTPClient(nil); err != nil {
			return nil, err
		}
	}
	cred := opts.Credential
	if _, ok := cred.(*tokenSource); !ok {
		cred = &tokenSource{cred: cred, desc: "the credential"}
	}
	other := !azureVaultHost(host)
	kv, err := azsecrets.NewClient(u, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: client,
			// The resolver retries; a retrying client would multiply
			// its calls unseen.
			Retry: policy.RetryOptions{MaxRetries: -1},
		},
		// Key Vault's challenge names the resource
		// https://vault.azure.net (or the sovereign cloud's), which the
		// SDK requires the vault's host to be under. A vault URL on
		// another host (an endpoint the operator names, an emulator,
		// the test server) can never pass that check, so it is off for
		// such hosts only: the token then goes to the host the operator
		// configured.
		DisableChallengeResourceVerification: other,
	})
	if err != nil {
		return nil, fmt.Errorf("build the Key Vault client: %w", err)
	}
	return &Provider{api: kv, vault: host, otherHost: other, prime: make(chan struct{}, 1), now: time.Now}, nil
}

// Get implements resolver.Getter with one GetSecret call: the latest
// version of the secret id names, or the version of "name/version". Its
// errors name id and the vault; see the package documentation for their
// classes.
func (p *Provider) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := p.get(ctx, id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %q in vault %s: %w", id, p.vault, err)
	}
	return v, nil
}

// get is Get with errors that do not name the id.
func (p *Provider) get(ctx context.Context, id string) (resolver.Secret, error) {
	name, version, err := parseID(id)
	if err != nil {
		return resolver.Secret{}, err
	}
	resp, err := p.getSecret(ctx, name, version)
	if err != nil {
		return resolver.Secret{}, classify(ctx, err)
	}
	if resp.Value == nil {
		return resolver.Secret{}, fmt.Errorf("%w: Key Vault answered without a value", resolver.ErrUnavailable)
	}
	return resolver.NewSecret(*resp.Value).WithVersion(p.versionToken(resp.Secret)), nil
}

// getSecret calls GetSecret, one call at a time until the vault has
// answered one.
func (p *Provider) getSecret(ctx context.Context, name, version string) (azsecrets.GetSecretResponse, error) {
	if !p.primed.Load() {
		select {
		case p.prime <- struct{}{}:
			defer func() { <-p.prime }()
		case <-ctx.Done():
			return azsecrets.GetSecretResponse{}, ctx.Err()
		}
	}
	resp, err := p.api.GetSecret(ctx, name, version, nil)
	var re *azcore.ResponseError
	var te *tokenError
	if err == nil || errors.As(err, &re) || errors.As(err, &te) {
		// The vault answered: its challenge is known, or a token
		// failure (which follows the challenge) is for all calls alike.
		p.primed.Store(true)
	}
	return resp, err
}

// parseID splits id into the secret name and the version ("" for the
// latest), refusing what Key Vault can never hold with
// resolver.ErrBadRef and a one-line reason that does not quote id.
func parseID(id string) (name, version string, err error) {
	if id == "" {
		return "", "", fmt.Errorf("%w: empty secret id", resolver.ErrBadRef)
	}
	name, version, pinned := strings.Cut(id, "/")
	if err := checkName(name); err != nil {
		return "", "", err
	}
	if !pinned {
		return name, "", nil
	}
	if err := checkVersion(version); err != nil {
		return "", "", err
	}
	return name, version, nil
}

// checkName applies Key Vault's rule for secret names: 1-127 letters,
// digits and hyphens.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty secret name; an id is <name> or <name>/<version>", resolver.ErrBadRef)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: secret name longer than %d characters, which Key Vault allows at most", resolver.ErrBadRef, MaxNameLen)
	}
	for i, r := range name {
		if r > 0x7f || !isLetter(byte(r)) && !isDigit(byte(r)) && r != '-' {
			return fmt.Errorf("%w: secret name has %q at byte %d; Key Vault names hold only letters, digits and hyphens (OpenMetadata's Azure ids are <cluster>-<kind>-...)", resolver.ErrBadRef, r, i)
		}
	}
	return nil
}

// checkVersion applies Key Vault's rule for versions: 32 letters and
// digits (Key Vault makes them of hexadecimal digits).
func checkVersion(version string) error {
	if len(version) != VersionLen {
		return fmt.Errorf("%w: a version is %d letters and digits; an id is <name> or <name>/<version>", resolver.ErrBadRef, VersionLen)
	}
	for i := range len(version) {
		if !isLetter(version[i]) && !isDigit(version[i]) {
			return fmt.Errorf("%w: a version is %d letters and digits; an id is <name> or <name>/<version>", resolver.ErrBadRef, VersionLen)
		}
	}
	return nil
}
