package azurekv

import (
	"context"
	"log/slog"

	"omsecrets/resolver"
)

// Name is the store's name.
const Name = "azure-kv"

// Environment variables the store reads. The settings' own variables come
// first in their Setting.Env; the client secret, which is never a setting
// (a flag would show it in ps), is read from the environment only.
const (
	EnvAirflowVaultName    = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_KEY_VAULT_NAME"
	EnvVaultName           = "AZURE_KEY_VAULT_NAME"
	EnvAirflowTenantID     = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID"
	EnvAirflowClientID     = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_ID"
	EnvAirflowClientSecret = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET"
	EnvTenantID            = "AZURE_TENANT_ID"
	EnvClientID            = "AZURE_CLIENT_ID"
	EnvClientSecret        = "AZURE_CLIENT_SECRET"
	// EnvClientSecretTwin is the omsecrets name of the client secret; it
	// wins over the others.
	EnvClientSecretTwin = "OMSECRETS_AZURE_CLIENT_SECRET"
	// EnvFederatedTokenFile is the projected service account token of
	// Azure workload identity (set by its webhook on AKS).
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	// EnvAuthorityHost is the Microsoft Entra authority, for sovereign
	// and private clouds (default https://login.microsoftonline.com/).
	EnvAuthorityHost = "AZURE_AUTHORITY_HOST"
	// EnvAdditionallyAllowedTenants lists, separated by ";", the other
	// tenants a credential may get tokens in ("*" for any), for a vault
	// in another tenant than the credential's.
	EnvAdditionallyAllowedTenants = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"
)

// clientSecretVars are the variables of the client secret, in order of
// precedence.
var clientSecretVars = []string{EnvClientSecretTwin, EnvAirflowClientSecret, EnvClientSecret}

// Settings of the store.
var (
	// VaultName is the vault's name: the store reads
	// https://<name>.vault.azure.net/, as OpenMetadata does.
	VaultName = resolver.Setting{
		Name:  "azure-key-vault-name",
		Env:   []string{EnvAirflowVaultName, EnvVaultName},
		Usage: "Azure Key Vault name (https://<name>.vault.azure.net/); the azure-kv store is off without it or --azure-key-vault-url",
	}
	// VaultURL is the vault's full URL, for sovereign clouds
	// (https://<name>.vault.azure.cn/) and endpoints under other names;
	// it wins over VaultName.
	VaultURL = resolver.Setting{
		Name:  "azure-key-vault-url",
		Usage: "Azure Key Vault URL, for sovereign clouds and endpoints that are not <name>.vault.azure.net (wins over --azure-key-vault-name)",
	}
	// TenantID is the Microsoft Entra tenant of the client secret or
	// workload identity credential.
	TenantID = resolver.Setting{
		Name:  "azure-tenant-id",
		Env:   []string{EnvAirflowTenantID, EnvTenantID},
		Usage: "Microsoft Entra tenant id of the azure-kv credential (with a client secret from AZURE_CLIENT_SECRET, or workload identity)",
	}
	// ClientID is the application (client) id of the client secret or
	// workload identity credential, or the user-assigned managed
	// identity.
	ClientID = resolver.Setting{
		Name:  "azure-client-id",
		Env:   []string{EnvAirflowClientID, EnvClientID},
		Usage: "application (client) id of the azure-kv credential, or of a user-assigned managed identity",
	}
)

// Spec describes the Key Vault store to the store table: on when the
// vault name or URL is set; the credential comes from the tenant and
// client id settings and StoreConfig.Env (see the package
// documentation).
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{"azure-kv", "managed-azure-kv"},
	Summary:   "Azure Key Vault secrets",
	Settings:  []resolver.Setting{VaultName, VaultURL, TenantID, ClientID},
	// One token per Get. The published limit (Azure Key Vault service
	// limits, learn.microsoft.com/azure/key-vault/general/service-limits,
	// "Secrets, managed storage account keys, and vault transactions":
	// "All other transactions", i.e. all but CREATE secret) is 4,000
	// transactions in 10 seconds per vault and region, and five times
	// that per subscription. The token bucket stays within 4,000 in any
	// 10 seconds: 10 × Rate + Burst = 4,000.
	Limit:     resolver.Limit{Rate: 360, Burst: 400},
	BatchSize: 1,
	// OpenMetadata's AzureKVSecretsManager: "-" between the parts, none
	// before the first, and what is not [A-Za-z0-9-] deleted.
	IDs:   resolver.IDScheme{Sep: "-", NoLeadingSep: true, Clean: resolver.KeepOnly("-")},
	Open:  open,
	Costs: costs,
}

func open(_ context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	c, err := load(cfg.Settings, cfg.Env)
	if err != nil {
		return nil, err
	}
	client, err := newHTTPClient(cfg.Env)
	if err != nil {
		return nil, err
	}
	cred, err := c.cred.build(client)
	if err != nil {
		return nil, err
	}
	p, err := New(Options{VaultURL: c.vaultURL, Credential: cred, HTTPClient: client})
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Debug("store configured", "vault", p.vault, "credential", c.cred.describe(),
		"challenge_resource_verification", !p.otherHost)
	return p, nil
}

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	// "Secrets, managed storage account keys, and vault
	// transactions: All transactions 4,000 per 10 seconds, per vault
	// per region"; a subscription-wide limit is five times that.
	Fetch: resolver.Quota{
		Operation: "GetSecret",
		PerSecond: 400,
		Published: "4,000 per 10 seconds",
		Scope:     "vault and region (the subscription: 5 times that)",
		Source:    "https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits",
		Confirmed: true,
	},
	// Get Secrets maxresults; the list is of the whole vault.
	Refresh: resolver.RefreshCost{
		Operation: "GetSecrets",
		PerPage:   25,
		Note:      "Get Secrets (list), 25 per page over the whole vault: ceil(ids/25) when the vault holds only these secrets (others add pages, never beyond a full read); plus the changed ids' GetSecret calls",
	},
}
