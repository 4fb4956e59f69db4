// Package azurekv implements a resolver.Getter over Azure Key Vault
// secrets, the store of OpenMetadata's "azure-kv" and "managed-azure-kv"
// secrets managers.
//
// # Ids
//
// An id is a secret's name, as OpenMetadata passes it to get_secret
// (Python) and getSecret (Java): OpenMetadata's AzureKVSecretsManager
// joins the parts of an id with "-", with no leading separator, deletes
// every character outside [A-Za-z0-9-] and lower-cases the result, e.g.
// "openmetadata-database-mysqlprod-authtype-password". The latest version
// is read; "name/version" reads that version. Key Vault names are
// case-insensitive.
//
// An id Key Vault can never hold is resolver.ErrBadRef before any call,
// with the reason: a name that is empty, longer than 127 characters or
// holds anything but ASCII letters, digits and hyphens (Azure's naming
// rules for vaults/secrets; "_", "." and "/" included, so an AWS-style
// "/openmetadata/..." id is refused), a version that is not 32 letters
// and digits, or more than one "/".
//
// # Calls
//
// Get sends one GetSecret (GET {vault}/secrets/{name}/{version}). Key
// Vault has no batch read: Spec.BatchSize is 1 and the resolver bounds how
// many run at once. Unchanged (the periodic refresh's change check, see
// below) sends Get Secrets (GET {vault}/secrets), one call per 25
// secrets of the vault. The client makes one HTTP attempt per call, and so do
// the credentials (azcore's retries are off): the resolver does all
// retrying, with its rate limit. (Go's HTTP client may itself send a GET
// once more when a kept-alive connection turns out closed, as for any
// idempotent request.)
//
// Key Vault answers a request without a token with 401 and a challenge
// naming the tenant and the resource; the SDK then asks the credential
// for a token for https://vault.azure.net/.default in that tenant and
// keeps it until shortly before it expires. Until the vault has answered
// once, reads go one at a time, so that concurrent first reads do not each
// send the unauthenticated request: a store makes one challenge request
// and one token request (after the tenant's OpenID configuration) for its
// first read, then one request per read.
//
// # Configuration
//
// Settings (each also read from its OMSECRETS_ twin, which wins):
//
//   - azure-key-vault-name: the vault's name, from
//     AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_KEY_VAULT_NAME (the
//     Airflow loader's azure_key_vault_name) or AZURE_KEY_VAULT_NAME (the
//     env loader's); the store reads https://<name>.vault.azure.net/, as
//     OpenMetadata does.
//   - azure-key-vault-url: the vault's full https URL, for sovereign
//     clouds (https://<name>.vault.azure.cn/,
//     https://<name>.vault.usgovcloudapi.net/) and endpoints under other
//     names. It wins over the name; when both are set and the URL is under
//     a Key Vault domain they must name the same vault. The store is off
//     without a name or URL.
//   - azure-tenant-id, azure-client-id: from
//     AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID / _CLIENT_ID,
//     then AZURE_TENANT_ID / AZURE_CLIENT_ID.
//
// The client secret is never a setting (a flag would show in ps): it is
// read from OMSECRETS_AZURE_CLIENT_SECRET, then
// AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET, then
// AZURE_CLIENT_SECRET. The store reads only StoreConfig.Env, never the
// process environment itself, and picks one credential:
//
//   - a client secret (with the tenant and client id, which it requires):
//     azidentity's ClientSecretCredential, as OpenMetadata uses when a
//     tenant id is given;
//   - else, with AZURE_FEDERATED_TOKEN_FILE (set on AKS by the workload
//     identity webhook, with AZURE_CLIENT_ID and AZURE_TENANT_ID):
//     WorkloadIdentityCredential, which reads the projected token again
//     when it rotates;
//   - else what DefaultAzureCredential would try next: a managed identity
//     (user-assigned when a client id is set), probed first as
//     DefaultAzureCredential does, so that off Azure the store moves on
//     within a second; then the Azure CLI's login (az account
//     get-access-token). The first that works is kept.
//
// AZURE_AUTHORITY_HOST sets the Microsoft Entra authority of every
// credential (https://login.chinacloudapi.cn/ for Azure China,
// https://login.microsoftonline.us/ for US Government); for a host that
// is none of Azure's clouds' (Azure Stack, a test server) MSAL's instance
// discovery is off, which would otherwise ask login.microsoftonline.com
// about it. AZURE_ADDITIONALLY_ALLOWED_TENANTS (";"-separated, or "*")
// lets the credential get tokens in the tenant of a vault that is not its
// own. The TLS roots are the system's plus the PEM bundle SSL_CERT_FILE
// names (see resolver/internal/tlsroots), for the vault and the authority
// alike. What the SDK still reads from the process environment itself:
// the managed identity endpoint variables (IDENTITY_ENDPOINT and the like,
// App Service and Azure Arc), AZURE_REGIONAL_AUTHORITY_NAME, the proxy
// variables, and the Azure CLI's own configuration.
//
// For a vault URL on a host outside Key Vault's domains (vault.azure.net,
// vault.azure.cn, vault.usgovcloudapi.net, vault.microsoftazure.de) the
// SDK's check that the challenge's resource matches the vault's domain is
// off, since such a host can never pass it: the token for the resource
// the host names is then sent to the host the operator configured. Use
// such URLs only for endpoints you trust.
//
// # Values
//
// The secret's value is returned exactly as stored (the literal "null"
// included; the resolver maps it). A certificate's secret is its base64
// PFX or PEM, as Key Vault returns it.
//
// # Errors
//
// Messages name the id and the vault's host, Key Vault's error code,
// inner code and message (which name the secret, never its value), and
// for token failures the credential with its tenant and client id and
// Entra ID's error and AADSTS codes; never a value, the client secret, a
// token or a response body that may hold them.
//
//   - 404 (SecretNotFound, a deleted secret, an unknown version):
//     resolver.ErrNotFound.
//   - 403: resolver.ErrPermission, saying why: SecretDisabled (the secret
//     or version is disabled), ForbiddenByRbac (no role allows reading
//     it), AccessDenied (no access policy with Get on secrets),
//     ForbiddenByFirewall (network rules).
//   - 401 (a token Key Vault refuses), 400 (a request Key Vault refuses:
//     resolver.ErrBadRef), other 4xx: resolver.ErrPermission.
//   - 429 (Throttled): resolver.Throttled, with the server's Retry-After
//     (or retry-after-ms) hint for the resolver.
//   - 5xx, 408, timeouts, network failures, an answer that does not
//     decode: resolver.ErrUnavailable (with Retry-After when sent).
//   - Token failures: Entra ID refusing the credential (invalid_client
//     AADSTS7000215 for a wrong secret, AADSTS7000222 for an expired one,
//     AADSTS700016 for an unknown client, AADSTS90002 for an unknown
//     tenant, AADSTS70021 for a workload identity token no federated
//     credential matches), a vault in a tenant the credential may not
//     use, or no credential of the chain being available:
//     resolver.ErrPermission. Entra ID's 429: resolver.Throttled; its
//     5xx, or an authority that cannot be reached: resolver.ErrUnavailable.
//
// # Change detection
//
// The Provider implements resolver.ChangeLister and keeps no state for
// it: each value carries its version token, the Key Vault version and
// its updated time (whole seconds), and Unchanged lists the whole
// vault's secret properties (Get Secrets, 25 a page, each page one call
// through the Resolver's rate limit; resolver.ListUnchanged) to vouch
// for the held values whose latest version's updated time is still
// theirs; an id pinning a version is vouched for while its
// secret is listed as enabled. A deleted, disabled or rotated secret
// is read again. A secret set twice within one second keeps its updated
// time and may be vouched for once too often; the Resolver's
// ChangeCheck.MaxAge bounds that. A full read costs one GetSecret per
// id, so Unchanged gives up with an error before it would list more
// pages than there are ids: it pays off when the vault holds not many
// more secrets than the ids read (272 ids in a vault of 272 secrets: 11
// calls instead of 272).
//
// # Access
//
// The identity needs to read secrets' values and nothing else: on a vault
// using Azure RBAC, the built-in role Key Vault Secrets User
// (Microsoft.KeyVault/vaults/secrets/getSecret/action) on the vault or on
// each secret; on a vault using access policies, an access policy with
// the secret permission Get. For change detection the identity also
// needs to list: Microsoft.KeyVault/vaults/secrets/readMetadata/action
// ("List or view the properties of a secret, but not its value") on the
// vault, which Key Vault Secrets User includes but only where it is
// assigned on the vault (a role assigned on single secrets does not
// cover the vault's listing), or the access policy permission List (Get
// Secrets "requires the secrets/list permission"). Without it the
// listing is refused (403), Unchanged returns resolver.ErrPermission
// naming the permission, and the Resolver refreshes this store in full.
// With workload identity,
// the application (or user-assigned managed identity) also needs a
// federated identity credential for the pod's service account.
//
// # Rate
//
// Spec.Limit is 360 calls per second with a burst of 400: Azure's
// published limit for secrets (Azure Key Vault service limits, "Secrets,
// managed storage account keys, and vault transactions", all transactions
// but CREATE secret) is 4,000 transactions in 10 seconds per vault and
// region, so the bucket stays within 4,000 in any 10 seconds. The vault
// is shared with OpenMetadata's server and any other client, and the
// subscription's limit is five times a vault's: lower the limit with
// --rate-limits when others read the same vault hard.
package azurekv
