package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
	"omsecrets/resolver/internal/tlsroots"
)

// Name is the store's name, and the secretsManagerProvider it serves
// (omsecrets' own: OpenMetadata has no Vault provider).
const Name = "vault"

// Environment variables read from StoreConfig.Env besides the settings'
// own: the token (never a flag) and the SDK's switch to skip TLS
// verification, which is refused unless SettingAllowInsecureTLS is set.
const (
	EnvToken         = "VAULT_TOKEN"
	EnvBaoToken      = "BAO_TOKEN"
	EnvSkipVerify    = "VAULT_SKIP_VERIFY"
	EnvBaoSkipVerify = "BAO_SKIP_VERIFY"
)

// The store's settings. The environment names are the Vault SDK's and
// CLI's (VAULT_*), then OpenBao's (BAO_*).
var (
	SettingAddr = resolver.Setting{
		Name:  "vault-addr",
		Env:   []string{"VAULT_ADDR", "BAO_ADDR"},
		Usage: "address of Vault or OpenBao (https://vault:8200); the vault store is off without one",
	}
	SettingNamespace = resolver.Setting{
		Name:  "vault-namespace",
		Env:   []string{"VAULT_NAMESPACE", "BAO_NAMESPACE"},
		Usage: "Vault namespace (X-Vault-Namespace) of the KV mount and the auth method",
	}
	SettingCACert = resolver.Setting{
		Name:  "vault-cacert",
		Env:   []string{"VAULT_CACERT", "BAO_CACERT"},
		Usage: "PEM file of CA certificates to trust for Vault's TLS certificate, besides the system roots and SSL_CERT_FILE",
	}
	SettingCAPath = resolver.Setting{
		Name:  "vault-capath",
		Env:   []string{"VAULT_CAPATH", "BAO_CAPATH"},
		Usage: "directory of PEM files of CA certificates to trust for Vault's TLS certificate",
	}
	SettingAllowInsecureTLS = resolver.Setting{
		Name:    "vault-allow-insecure-tls",
		Default: "false",
		Usage:   "let VAULT_SKIP_VERIFY=true turn off verification of Vault's TLS certificate (refused otherwise)",
	}
	SettingMount = resolver.Setting{
		Name:    "vault-mount",
		Default: DefaultMount,
		Usage:   "path of the KV secrets engine mount the ids are read from",
	}
	SettingKVVersion = resolver.Setting{
		Name:    "vault-kv-version",
		Default: "auto",
		Usage:   "KV version of the mount: 1, 2, or auto to ask Vault (sys/internal/ui/mounts)",
	}
	SettingAuth = resolver.Setting{
		Name:  "vault-auth",
		Usage: "auth method: token, kubernetes or approle; default token when VAULT_TOKEN or vault-token-file is set, else kubernetes when vault-kubernetes-role is, else approle",
	}
	SettingTokenFile = resolver.Setting{
		Name:  "vault-token-file",
		Usage: "file holding the Vault token (a Vault Agent sink), read again when it changes; wins over VAULT_TOKEN",
	}
	SettingAuthMount = resolver.Setting{
		Name:  "vault-auth-mount",
		Usage: "mount of the kubernetes or approle auth method (default kubernetes or approle)",
	}
	SettingKubernetesRole = resolver.Setting{
		Name:  "vault-kubernetes-role",
		Usage: "Vault role of Kubernetes auth",
	}
	SettingKubernetesTokenFile = resolver.Setting{
		Name:    "vault-kubernetes-token-file",
		Default: DefaultKubernetesTokenFile,
		Usage:   "service account token presented to Kubernetes auth",
	}
	SettingRoleIDFile = resolver.Setting{
		Name:  "vault-approle-role-id-file",
		Usage: "file holding the AppRole role id",
	}
	SettingSecretIDFile = resolver.Setting{
		Name:  "vault-approle-secret-id-file",
		Usage: "file holding the AppRole secret id (none: a role without bind_secret_id)",
	}
)

// Spec describes the Vault store to the store table: on when an address
// is set. The token comes from StoreConfig.Env (VAULT_TOKEN), never a
// flag.
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{Name},
	Summary:   "HashiCorp Vault or OpenBao KV secrets engine (version 1 or 2)",
	Settings: []resolver.Setting{
		SettingAddr, SettingNamespace, SettingCACert, SettingCAPath, SettingAllowInsecureTLS,
		SettingMount, SettingKVVersion,
		SettingAuth, SettingTokenFile, SettingAuthMount, SettingKubernetesRole, SettingKubernetesTokenFile,
		SettingRoleIDFile, SettingSecretIDFile,
	},
	// One token per Get. Vault publishes no default quota: rate limit
	// quotas are the operator's, per node and client address (Vault
	// docs, "Resource quotas", concepts/resource-quotas). 100 per second
	// is the global quota of Vault's own examples there; the burst is
	// one resolve's worth of distinct paths at once.
	Limit:     resolver.Limit{Rate: 100, Burst: 20},
	BatchSize: 1,
	Open:      open,
	Costs:     costs,
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	opts, err := OptionsFrom(cfg)
	if err != nil {
		return nil, err
	}
	return New(ctx, opts)
}

// OptionsFrom builds a Store's Options from the settings and the
// environment of cfg. It returns a *resolver.NotConfiguredError when no
// address is set.
func OptionsFrom(cfg resolver.StoreConfig) (Options, error) {
	set := func(s resolver.Setting) string {
		if v := strings.TrimSpace(cfg.Settings[s.Name]); v != "" {
			return v
		}
		return s.Default
	}
	env := func(names ...string) (string, string) {
		for _, n := range names {
			if v := strings.TrimSpace(cfg.Env[n]); v != "" {
				return v, n
			}
		}
		return "", ""
	}
	addr := set(SettingAddr)
	if addr == "" {
		return Options{}, &resolver.NotConfiguredError{Store: Name, Need: []string{SettingAddr.Name}}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	allow, err := parseBool(set(SettingAllowInsecureTLS))
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", SettingAllowInsecureTLS.Name, err)
	}
	t := TLS{CACert: set(SettingCACert), CAPath: set(SettingCAPath)}
	if v, name := env(EnvSkipVerify, EnvBaoSkipVerify); v != "" {
		skip, err := parseBool(v)
		switch {
		case err != nil:
			return Options{}, fmt.Errorf("%s: %w", name, err)
		case skip && !allow:
			return Options{}, fmt.Errorf("%s=true would turn off verification of Vault's TLS certificate, which is refused: trust Vault's CA with %s (or SSL_CERT_FILE), or set %s to accept the risk",
				name, SettingCACert.Name, SettingAllowInsecureTLS.Name)
		case skip:
			t.InsecureSkipVerify = true
			logger.Warn("TLS certificate verification of Vault is OFF: anyone on the path can read the token and the secrets", "variable", name)
		}
	}
	if u, err := url.Parse(addr); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
		logger.Warn("the Vault address is plain http: the token and the secrets cross the network unencrypted")
	}
	hc, err := NewHTTPClient(cfg.Env, t)
	if err != nil {
		return Options{}, err
	}

	kv := 0
	switch v := strings.ToLower(set(SettingKVVersion)); v {
	case "auto", "":
	case "1", "v1":
		kv = 1
	case "2", "v2":
		kv = 2
	default:
		return Options{}, fmt.Errorf("%s: %q is not 1, 2 or auto", SettingKVVersion.Name, sanitize(v, 32))
	}

	a := Auth{
		Method:       strings.ToLower(set(SettingAuth)),
		TokenFile:    set(SettingTokenFile),
		Mount:        set(SettingAuthMount),
		Role:         set(SettingKubernetesRole),
		JWTFile:      set(SettingKubernetesTokenFile),
		RoleIDFile:   set(SettingRoleIDFile),
		SecretIDFile: set(SettingSecretIDFile),
	}
	a.Token, a.TokenSource = env(EnvToken, EnvBaoToken)
	if a.Method == "" {
		// The Kubernetes token file has a default, so it does not pick
		// the method; the role does.
		switch {
		case a.Token != "" || a.TokenFile != "":
			a.Method = MethodToken
		case a.Role != "":
			a.Method = MethodKubernetes
		case a.RoleIDFile != "":
			a.Method = MethodAppRole
		default:
			return Options{}, fmt.Errorf("no Vault credentials: set %s, %s, %s (Kubernetes auth) or %s (AppRole auth)",
				EnvToken, SettingTokenFile.Name, SettingKubernetesRole.Name, SettingRoleIDFile.Name)
		}
	}
	logger.Debug("store configured", "mount", set(SettingMount), "namespace", set(SettingNamespace), "auth", a.Method)
	return Options{
		Address:    addr,
		Namespace:  set(SettingNamespace),
		Mount:      set(SettingMount),
		KVVersion:  kv,
		Auth:       a,
		HTTPClient: hc,
		Logger:     logger,
	}, nil
}

// TLS is what the Store's HTTP client trusts for Vault's certificate.
type TLS struct {
	// CACert is a PEM file of CA certificates (VAULT_CACERT).
	CACert string
	// CAPath is a directory of PEM files of CA certificates (VAULT_CAPATH).
	CAPath string
	// InsecureSkipVerify turns off verification (VAULT_SKIP_VERIFY, when
	// allowed).
	InsecureSkipVerify bool
}

// maxCAFile bounds a CA file read; maxCAFiles the files of a CA
// directory.
const (
	maxCAFile  = 4 << 20
	maxCAFiles = 1000
)

// NewHTTPClient returns the HTTP client of a Store: it trusts the system
// roots, the bundle SSL_CERT_FILE names in env (see
// resolver/internal/tlsroots) and t's CA files; it does not follow
// redirects and uses no proxy (the Store bounds each request with
// Options.Timeout). Unlike the Vault SDK, VAULT_CACERT and VAULT_CAPATH
// add to the trusted roots instead of replacing them.
func NewHTTPClient(env map[string]string, t TLS) (*http.Client, error) {
	pool, err := tlsroots.Pool(env)
	if err != nil {
		return nil, err
	}
	if t.CACert != "" {
		if err := addCAFile(pool, t.CACert); err != nil {
			return nil, fmt.Errorf("%s %s: %w", SettingCACert.Name, t.CACert, err)
		}
	}
	if t.CAPath != "" {
		if err := addCADir(pool, t.CAPath); err != nil {
			return nil, fmt.Errorf("%s %s: %w", SettingCAPath.Name, t.CAPath, err)
		}
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, InsecureSkipVerify: t.InsecureSkipVerify}, //nolint:gosec // refused unless explicitly allowed
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// addCAFile adds the certificates of a PEM file to pool.
func addCAFile(pool *x509.CertPool, path string) error {
	b, err := readCAFile(path)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(b) {
		return errors.New("no PEM certificate in the file")
	}
	return nil
}

// addCADir adds the certificates of every regular file of a directory
// (symbolic links followed, as c_rehash directories have) to pool; at
// least one file must hold one.
func addCADir(pool *x509.CertPool, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > maxCAFiles {
		return fmt.Errorf("more than %d files", maxCAFiles)
	}
	found := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := readCAFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if pool.AppendCertsFromPEM(b) {
			found = true
		}
	}
	if !found {
		return errors.New("no PEM certificate in the directory")
	}
	return nil
}

func readCAFile(path string) ([]byte, error) {
	b, err := safefile.Read(path, maxCAFile)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, fmt.Errorf("larger than %d bytes", maxCAFile)
	}
	return b, err
}

// parseBool reads a boolean setting or variable as strconv.ParseBool does
// (the Vault SDK's reading of VAULT_SKIP_VERIFY), "" as false.
func parseBool(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", sanitize(v, 32))
	}
	return b, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	Fetch: resolver.Quota{
		Operation: "KV read",
		Published: "none published: rate limit quotas are the Vault operator's",
		Source:    "https://developer.hashicorp.com/vault/docs/concepts/resource-quotas",
		Confirmed: true,
	},
}
