package azurekv

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/tlsroots"
)

// DefaultHTTPTimeout bounds one HTTP request to Key Vault or Microsoft
// Entra ID, connection and answer included. Callers' contexts usually end
// sooner.
const DefaultHTTPTimeout = 30 * time.Second

// imdsTokenURL is the token endpoint of the Azure Instance Metadata
// Service, where managed identity gets tokens on VMs, scale sets and AKS
// nodes.
const imdsTokenURL = "http://169.254.169.254/metadata/identity/oauth2/token"

// imdsProbeTimeout bounds the probe that tells whether IMDS is there, as
// DefaultAzureCredential's (one second).
const imdsProbeTimeout = time.Second

// maxIdleConns is the number of idle connections kept to the vault: well
// above the resolver's default concurrency.
const maxIdleConns = 32

// maxDetail bounds the text of a server's or SDK's message quoted in an
// error.
const maxDetail = 400

// newHTTPClient returns the HTTP client of the Key Vault client and the
// credentials: TLS trusting tlsroots.Pool(env), DefaultHTTPTimeout, and a
// transport that tells tokenSource about network failures.
func newHTTPClient(env map[string]string) (*http.Client, error) {
	pool, err := tlsroots.Pool(env)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// Key Vault has no batch read: one request per secret, as many at
	// once as the resolver allows. Keep that many connections, rather
	// than http.Transport's 2, so that they are not set up again.
	tr.MaxIdleConnsPerHost = maxIdleConns
	return &http.Client{Transport: recordingTransport{base: tr}, Timeout: DefaultHTTPTimeout}, nil
}

// clientOptions are the azcore options of every credential: the
// authority, the HTTP client, and one attempt per request (the resolver
// retries).
func (c credentialConfig) clientOptions(client *http.Client) azcore.ClientOptions {
	return azcore.ClientOptions{
		// Set even for the public cloud, so that azidentity does not
		// read AZURE_AUTHORITY_HOST from the process environment.
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.authority, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: client,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// build returns the credential c describes, wrapped so that its failures
// are classed and never quote the client secret. It makes no request.
func (c credentialConfig) build(client *http.Client) (azcore.TokenCredential, error) {
	opts := c.clientOptions(client)
	var cred azcore.TokenCredential
	var err error
	switch c.kind {
	case credClientSecret:
		cred, err = azidentity.NewClientSecretCredential(c.tenantID, c.clientID, c.secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:              opts,
			AdditionallyAllowedTenants: c.additionalTenants,
			DisableInstanceDiscovery:   c.customAuthority,
		})
	case credWorkloadIdentity:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions:              opts,
			ClientID:                   c.clientID,
			TenantID:                   c.tenantID,
			TokenFilePath:              c.tokenFile,
			AdditionallyAllowedTenants: c.additionalTenants,
			DisableInstanceDiscovery:   c.customAuthority,
		})
	default:
		cred = c.chain(opts, client)
	}
	if err != nil {
		// azidentity's construction errors quote settings, not secrets;
		// redact anyway.
		return nil, fmt.Errorf("build the Azure credential (%s): %s", c.describe(), redact(err.Error(), c.secret))
	}
	return &tokenSource{cred: cred, desc: c.describe(), secret: c.secret}, nil
}

// chain is DefaultAzureCredential's chain without its environment
// credentials, which the other kinds cover from the environment map:
// managed identity (probed first, as DefaultAzureCredential does, so that
// off Azure the chain moves on within a second), then the Azure CLI.
func (c credentialConfig) chain(opts azcore.ClientOptions, client *http.Client) *chain {
	miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	if c.clientID != "" {
		miOpts.ID = azidentity.ClientID(c.clientID)
	}
	var sources []source
	if mi, err := azidentity.NewManagedIdentityCredential(miOpts); err != nil {
		sources = append(sources, source{name: "ManagedIdentityCredential", err: err})
	} else {
		sources = append(sources, source{name: "ManagedIdentityCredential", cred: &probed{cred: mi, client: client, url: c.probeURL, ok: c.identityEndpoint}})
	}
	cli, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{AdditionallyAllowedTenants: c.additionalTenants})
	sources = append(sources, source{name: "AzureCLICredential", cred: cli, err: err})
	return &chain{sources: sources, sem: make(chan struct{}, 1)}
}

// describe names the credential for logs and errors: its kind, tenant,
// client id and the variables it comes from, never the secret.
func (c credentialConfig) describe() string {
	switch c.kind {
	case credClientSecret:
		return fmt.Sprintf("ClientSecretCredential for tenant %s, client %s (secret from %s)", c.tenantID, c.clientID, c.secretVar)
	case credWorkloadIdentity:
		return fmt.Sprintf("WorkloadIdentityCredential for tenant %s, client %s (token file %s)", c.tenantID, c.clientID, c.tokenFile)
	}
	mi := "system-assigned managed identity"
	if c.clientID != "" {
		mi = "managed identity with client id " + c.clientID
	}
	return mi + ", then the Azure CLI"
}

// tokenSource wraps the store's credential: it classes each failure into
// a *tokenError whose message names the credential and never quotes the
// client secret or a server's body.
type tokenSource struct {
	cred   azcore.TokenCredential
	desc   string
	secret string
}

// GetToken implements azcore.TokenCredential.
func (t *tokenSource) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	slot := &netErrSlot{}
	tok, err := t.cred.GetToken(context.WithValue(ctx, netErrKey{}, slot), opts)
	if err != nil {
		return azcore.AccessToken{}, t.classify(ctx, err, slot.get())
	}
	return tok, nil
}

// tokenError is a failure to get a token, classed. Its message is safe to
// print.
type tokenError struct {
	class      error // a resolver error class
	msg        string
	retryAfter time.Duration
}

func (e *tokenError) Error() string { return e.msg }

// err returns the resolver error of e, without the SDK's error.
func (e *tokenError) err() error {
	if errors.Is(e.class, resolver.ErrThrottled) {
		return resolver.Throttled(e.msg, e.retryAfter)
	}
	return resolver.WithRetryAfter(fmt.Errorf("%w: %s", e.class, e.msg), e.retryAfter)
}

// classify classes a credential's failure err; netErr is the network
// failure of one of its requests, if any.
func (t *tokenSource) classify(ctx context.Context, err, netErr error) *tokenError {
	prefix := "get a token with " + t.desc
	var afe *azidentity.AuthenticationFailedError
	var ce *chainError
	switch {
	case ctx.Err() != nil:
		return &tokenError{class: resolver.ErrUnavailable, msg: prefix + ": " + ctx.Err().Error()}
	case netErr != nil:
		return &tokenError{class: resolver.ErrUnavailable, msg: prefix + ": " + oneLine(redact(netErr.Error(), t.secret))}
	case errors.As(err, &ce):
		return &tokenError{class: resolver.ErrPermission, msg: prefix + ": no credential could get one: " + oneLine(redact(ce.Error(), t.secret))}
	case errors.As(err, &afe) && afe.RawResponse != nil:
		resp := afe.RawResponse
		detail := prefix + ": Microsoft Entra ID answered " + entraDetail(resp)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			return &tokenError{class: resolver.ErrThrottled, msg: detail, retryAfter: retryAfter(resp.Header)}
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
			return &tokenError{class: resolver.ErrUnavailable, msg: detail, retryAfter: retryAfter(resp.Header)}
		}
		return &tokenError{class: resolver.ErrPermission, msg: detail}
	}
	return &tokenError{class: resolver.ErrPermission, msg: prefix + ": " + oneLine(redact(err.Error(), t.secret))}
}

// entraHints explain the AADSTS codes of the usual configuration faults
// (Microsoft Entra authentication and authorization error codes).
var entraHints = map[int]string{
	7000215: "the client secret is not valid",
	7000222: "the client secret has expired",
	700016:  "the application is not in the tenant",
	90002:   "the tenant does not exist",
	70021:   "no federated identity credential of the application matches the token",
	70011:   "the scope is not valid",
}

// entraDetail describes an Entra ID error answer by its status, error
// code and AADSTS codes, not by its description, which may quote the
// request.
func entraDetail(resp *http.Response) string {
	detail := fmt.Sprintf("HTTP %d", resp.StatusCode)
	body, err := runtime.Payload(resp)
	if err != nil {
		return detail
	}
	var e struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if json.Unmarshal(body, &e) != nil {
		return detail
	}
	if e.Error != "" && safeToken(e.Error) {
		detail += " " + e.Error
	}
	for _, c := range e.ErrorCodes {
		detail += fmt.Sprintf(" AADSTS%d", c)
		if h, ok := entraHints[c]; ok {
			detail += " (" + h + ")"
		}
	}
	return detail
}

// safeToken reports whether s is a short OAuth error code: lower-case
// letters and underscores.
func safeToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// source is one credential of a chain, or why it could not be built.
type source struct {
	name string
	cred azcore.TokenCredential
	err  error
}

// chain tries its sources in turn, as azidentity's ChainedTokenCredential
// does: it moves on from a source that is unavailable (not this
// environment's) and stops at one that exists but failed (an
// *azidentity.AuthenticationFailedError); the first that gets a token is
// used from then on.
type chain struct {
	sources []source
	sem     chan struct{} // one goroutine iterates at a time

	mu     sync.Mutex
	chosen azcore.TokenCredential
}

// chainError is every source of a chain being unavailable.
type chainError struct{ msgs []string }

func (e *chainError) Error() string { return strings.Join(e.msgs, "; ") }

// GetToken implements azcore.TokenCredential.
func (c *chain) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if cred := c.get(); cred != nil {
		return cred.GetToken(ctx, opts)
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return azcore.AccessToken{}, ctx.Err()
	}
	if cred := c.get(); cred != nil {
		return cred.GetToken(ctx, opts)
	}
	var msgs []string
	for _, s := range c.sources {
		if s.err != nil {
			msgs = append(msgs, s.name+": "+s.err.Error())
			continue
		}
		tok, err := s.cred.GetToken(ctx, opts)
		if err == nil {
			c.mu.Lock()
			c.chosen = s.cred
			c.mu.Unlock()
			return tok, nil
		}
		var afe *azidentity.AuthenticationFailedError
		if errors.As(err, &afe) || ctx.Err() != nil {
			return azcore.AccessToken{}, err
		}
		msgs = append(msgs, s.name+": "+err.Error())
	}
	return azcore.AccessToken{}, &chainError{msgs: msgs}
}

func (c *chain) get() azcore.TokenCredential {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chosen
}

// probed is a managed identity credential that first checks, once, that
// a managed identity endpoint answers at url: any HTTP answer will do, as
// in DefaultAzureCredential's probe. Without one it is unavailable and
// the chain moves on.
type probed struct {
	cred   azcore.TokenCredential
	client *http.Client
	url    string

	mu sync.Mutex
	ok bool
}

// unavailable is a credential that does not apply here.
type unavailable string

func (e unavailable) Error() string { return string(e) }

// GetToken implements azcore.TokenCredential.
func (p *probed) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	p.mu.Lock()
	ok := p.ok
	p.mu.Unlock()
	if !ok {
		// The probe's failure is this credential's absence, not a
		// network failure of the store: keep it out of tokenSource's
		// record.
		pctx, cancel := context.WithTimeout(context.WithValue(ctx, netErrKey{}, (*netErrSlot)(nil)), imdsProbeTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, p.url, nil)
		if err != nil {
			return azcore.AccessToken{}, unavailable("managed identity probe: " + err.Error())
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return azcore.AccessToken{}, unavailable("no managed identity endpoint answered at " + p.url + " within " + imdsProbeTimeout.String() + " (not on an Azure VM, scale set or AKS node)")
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		p.mu.Lock()
		p.ok = true
		p.mu.Unlock()
	}
	return p.cred.GetToken(ctx, opts)
}

// netErrKey is the context key of a *netErrSlot.
type netErrKey struct{}

// netErrSlot records the network failure of a request made under a
// context that carries it.
type netErrSlot struct {
	mu  sync.Mutex
	err error
}

func (s *netErrSlot) set(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *netErrSlot) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// recordingTransport records the failures of its round trips in the
// request context's *netErrSlot. azidentity reports a token request that
// never got an answer as an AuthenticationFailedError without a
// response, like a refusal; the record tells them apart.
type recordingTransport struct{ base http.RoundTripper }

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		if slot, ok := req.Context().Value(netErrKey{}).(*netErrSlot); ok {
			slot.set(err)
		}
	}
	return resp, err
}

// redact replaces secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// oneLine makes s one line of at most maxDetail bytes
// (resolver.OneLine).
func oneLine(s string) string { return resolver.OneLine(s, maxDetail) }
