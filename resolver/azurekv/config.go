package azurekv

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"omsecrets/resolver"
)

// vaultSuffixes are the DNS suffixes of Key Vault vaults in Azure's clouds
// (public, China, US Government, and the retired Germany cloud): for a
// vault under one of them the SDK's check that the challenge's resource
// matches the vault's domain stays on.
var vaultSuffixes = []string{".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de"}

// publicVaultSuffix is the suffix of a vault named by VaultName.
const publicVaultSuffix = ".vault.azure.net"

// knownAuthorities are the Microsoft Entra authority hosts of Azure's
// clouds, as MSAL lists them (its trusted hosts). For any other authority
// host instance discovery is off: MSAL would otherwise ask
// login.microsoftonline.com to validate it.
var knownAuthorities = map[string]bool{
	"login.microsoftonline.com":        true,
	"login.microsoft.com":              true,
	"login.windows.net":                true,
	"sts.windows.net":                  true,
	"login.partner.microsoftonline.cn": true,
	"login.chinacloudapi.cn":           true,
	"login.microsoftonline.de":         true,
	"login-us.microsoftonline.com":     true,
	"login.microsoftonline.us":         true,
	"login.usgovcloudapi.net":          true,
	"login.sovcloud-identity.fr":       true,
	"login.sovcloud-identity.de":       true,
	"login.sovcloud-identity.sg":       true,
}

// maxIDLen bounds tenant and client ids (GUIDs, or a tenant's domain
// name).
const maxIDLen = 256

// config is the store's configuration, as load reads it.
type config struct {
	// vaultURL is https://host[:port]/.
	vaultURL string
	cred     credentialConfig
}

// credKind is how the store gets tokens.
type credKind int

const (
	// credClientSecret: ClientSecretCredential (tenant, client id,
	// secret).
	credClientSecret credKind = iota + 1
	// credWorkloadIdentity: WorkloadIdentityCredential (tenant, client
	// id, federated token file).
	credWorkloadIdentity
	// credChain: managed identity, then the Azure CLI.
	credChain
)

// credentialConfig is what the credential is built from.
type credentialConfig struct {
	kind      credKind
	tenantID  string
	clientID  string
	secret    string // never logged or printed
	secretVar string // the variable that held it
	tokenFile string
	// authority is the authority host URL ("https://host/"), and
	// customAuthority whether it is none of Azure's clouds'.
	authority         string
	customAuthority   bool
	additionalTenants []string
	// probeURL is where the managed identity probe asks (the IMDS token
	// endpoint), and identityEndpoint whether the environment names a
	// managed identity endpoint other than IMDS (App Service, Azure Arc,
	// Cloud Shell, Service Fabric), which is not probed.
	probeURL         string
	identityEndpoint bool
}

// load reads the configuration from settings (Setting.Name to value) and
// env. Without a vault it returns a *resolver.NotConfiguredError. Its
// errors name settings and variables, never their values.
func load(settings, env map[string]string) (config, error) {
	name := strings.TrimSpace(settings[VaultName.Name])
	rawURL := strings.TrimSpace(settings[VaultURL.Name])
	if name == "" && rawURL == "" {
		return config{}, &resolver.NotConfiguredError{Store: Name, Need: []string{VaultName.Name, VaultURL.Name}}
	}
	var c config
	if name != "" {
		if err := checkVaultName(name); err != nil {
			return config{}, fmt.Errorf("%s: %w", VaultName.Name, err)
		}
	}
	switch {
	case rawURL != "":
		u, host, err := parseVaultURL(rawURL)
		if err != nil {
			return config{}, fmt.Errorf("%s: %w", VaultURL.Name, err)
		}
		// A vault under Azure's domains is named by its first label:
		// both settings must name the same one.
		if label, _, _ := strings.Cut(host, "."); name != "" && azureVaultHost(host) && !strings.EqualFold(label, name) {
			return config{}, fmt.Errorf("%s and %s name different vaults; set one of them", VaultURL.Name, VaultName.Name)
		}
		c.vaultURL = u
	default:
		c.vaultURL = "https://" + strings.ToLower(name) + publicVaultSuffix + "/"
	}
	cred, err := loadCredential(settings, env)
	if err != nil {
		return config{}, err
	}
	c.cred = cred
	return c, nil
}

// loadCredential picks the credential (see the package documentation):
// a client secret with tenant and client id; else workload identity when
// a federated token file is set; else managed identity, then the Azure
// CLI.
func loadCredential(settings, env map[string]string) (credentialConfig, error) {
	c := credentialConfig{
		tenantID: strings.TrimSpace(settings[TenantID.Name]),
		clientID: strings.TrimSpace(settings[ClientID.Name]),
		probeURL: imdsTokenURL,
	}
	for _, set := range []struct {
		name, value string
	}{{TenantID.Name, c.tenantID}, {ClientID.Name, c.clientID}} {
		if set.value != "" && !validID(set.value) {
			return credentialConfig{}, fmt.Errorf("%s: not a Microsoft Entra id (letters, digits, '-' and '.', at most %d)", set.name, maxIDLen)
		}
	}
	authority, custom, err := authorityHost(get(env, EnvAuthorityHost))
	if err != nil {
		return credentialConfig{}, fmt.Errorf("%s: %w", EnvAuthorityHost, err)
	}
	c.authority, c.customAuthority = authority, custom
	if v := get(env, EnvAdditionallyAllowedTenants); v != "" {
		for t := range strings.SplitSeq(v, ";") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if t != "*" && !validID(t) {
				return credentialConfig{}, fmt.Errorf("%s: an entry is not a tenant id or *", EnvAdditionallyAllowedTenants)
			}
			c.additionalTenants = append(c.additionalTenants, t)
		}
	}
	for _, v := range clientSecretVars {
		if s := get(env, v); s != "" {
			c.secret, c.secretVar = s, v
			break
		}
	}
	c.tokenFile = get(env, EnvFederatedTokenFile)
	switch {
	case c.secret != "":
		c.kind = credClientSecret
		if err := c.need(c.secretVar); err != nil {
			return credentialConfig{}, err
		}
	case c.tokenFile != "":
		c.kind = credWorkloadIdentity
		if err := c.need(EnvFederatedTokenFile); err != nil {
			return credentialConfig{}, err
		}
	default:
		c.kind = credChain
		// The variables MSAL reads (from the process environment) to
		// choose a managed identity source other than IMDS.
		for _, v := range []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"} {
			if get(env, v) != "" {
				c.identityEndpoint = true
			}
		}
	}
	return c, nil
}

// need checks that the tenant and client id are set, as the credential
// that what (a variable) turned on needs.
func (c credentialConfig) need(what string) error {
	var missing []string
	if c.tenantID == "" {
		missing = append(missing, TenantID.Name)
	}
	if c.clientID == "" {
		missing = append(missing, ClientID.Name)
	}
	switch len(missing) {
	case 1:
		return fmt.Errorf("%s is set but %s is not", what, missing[0])
	case 2:
		return fmt.Errorf("%s is set but %s and %s are not", what, missing[0], missing[1])
	}
	return nil
}

// checkVaultName applies Azure's naming rules for vaults: 3-24
// characters, letters, digits and hyphens, starting with a letter,
// ending with a letter or digit, no two hyphens in a row.
func checkVaultName(name string) error {
	const rule = "a vault name is 3-24 letters, digits and hyphens, starts with a letter, ends with a letter or digit and has no two hyphens in a row"
	if len(name) < 3 || len(name) > 24 || !isLetter(name[0]) || name[len(name)-1] == '-' || strings.Contains(name, "--") {
		return errors.New(rule)
	}
	for i := range len(name) {
		if !isLetter(name[i]) && !isDigit(name[i]) && name[i] != '-' {
			return errors.New(rule)
		}
	}
	return nil
}

// parseVaultURL checks that v is an https URL with a host and nothing but
// an optional "/" after it, and returns it as https://host/ with its
// host. Its errors do not quote v.
func parseVaultURL(v string) (vaultURL, host string, err error) {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "", "", errors.New("not a URL")
	case u.Scheme != "https":
		return "", "", errors.New("the vault URL must be https://")
	case u.Host == "" || u.Hostname() == "":
		return "", "", errors.New("the vault URL has no host")
	case u.User != nil:
		return "", "", errors.New("the vault URL must not hold user information")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return "", "", errors.New("the vault URL must be https://<host>/ with no path or query")
	}
	host = strings.TrimSuffix(strings.ToLower(u.Host), ":443")
	return "https://" + host + "/", host, nil
}

// azureVaultHost reports whether host (without port) is a vault under one
// of Azure's Key Vault domains.
func azureVaultHost(host string) bool {
	if h, _, found := strings.Cut(host, ":"); found {
		host = h
	}
	host = strings.ToLower(host)
	for _, suffix := range vaultSuffixes {
		if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// authorityHost returns the authority host URL of v (the public cloud's
// when v is ""), and whether it is none of Azure's clouds'.
func authorityHost(v string) (string, bool, error) {
	if v == "" {
		return cloud.AzurePublic.ActiveDirectoryAuthorityHost, false, nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "", false, errors.New("not a URL")
	case u.Scheme != "https":
		return "", false, errors.New("the authority host must be https://")
	case u.Host == "" || u.Hostname() == "":
		return "", false, errors.New("the authority host has no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", false, errors.New("the authority host must be https://<host>/")
	}
	host := strings.ToLower(u.Host)
	path := strings.TrimSuffix(u.Path, "/")
	return "https://" + host + path + "/", !knownAuthorities[host], nil
}

// validID reports whether v may be a tenant or client id, as azidentity
// checks tenant ids: letters, digits, '-' and '.'.
func validID(v string) bool {
	if v == "" || len(v) > maxIDLen {
		return false
	}
	for i := range len(v) {
		if !isLetter(v[i]) && !isDigit(v[i]) && v[i] != '-' && v[i] != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func get(env map[string]string, name string) string {
	return strings.TrimSpace(env[name])
}
