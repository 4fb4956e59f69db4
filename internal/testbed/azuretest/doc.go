// Package azuretest is an in-process stand-in for Azure Key Vault's
// secrets API and for the Microsoft Entra ID endpoints that the real
// azsecrets and azidentity clients talk to over TLS.
//
// A Server runs two HTTPS servers on 127.0.0.1 with one self-signed
// certificate (CAFile writes it as a PEM bundle for SSL_CERT_FILE):
//
//   - the vault, answering GET /secrets/{name},
//     GET /secrets/{name}/{version} and GET /secrets (Get Secrets, the
//     listing of azsecrets' NewListSecretPropertiesPager) as Key Vault
//     does, as far as its REST
//     reference, the SDKs' tests and answers quoted in SDK issues tell:
//     a request without a bearer token gets 401 with the challenge
//     `WWW-Authenticate: Bearer authorization="<authority>/<tenant>",
//     resource="https://vault.azure.net"` that azsecrets' challenge policy
//     parses before it asks for a token; every other request must carry
//     a token the Server's token endpoint issued for the scope
//     https://vault.azure.net/.default and the Server's tenant, unexpired
//     and not revoked (401 Unauthorized otherwise, with the challenge
//     again); api-version must be one Key Vault knows (400 BadParameter
//     otherwise). Errors are Key Vault's JSON bodies
//     {"error":{"code":...,"message":...,"innererror":{"code":...}}}:
//     SecretNotFound (404), Forbidden with ForbiddenByRbac (403, Deny) or
//     SecretDisabled (403, a disabled version), BadParameter (400, a name
//     outside 1-127 letters, digits and hyphens), Throttled (429, with
//     Retry-After when SetRetryAfter asks), InternalServerError (500) and
//     ServiceUnavailable (503). Names are case-insensitive, as in Key
//     Vault; versions are 32 hexadecimal characters; a secret answers
//     with its latest version unless one is named. Get Secrets answers
//     pages of SecretItems {id: "https://<vault>/secrets/<name>",
//     attributes {enabled, created, updated, recoveryLevel,
//     recoverableDays}, tags} of the latest version of each secret
//     (deleted ones left out, disabled ones listed with enabled false),
//     ordered by name, maxresults 1-25 (25 without it; BadParameter
//     otherwise) and a nextLink with api-version, maxresults and
//     $skiptoken; DenyList refuses it with 403 ForbiddenByRbac (action
//     Microsoft.KeyVault/vaults/secrets/readMetadata/action) or
//     AccessDenied ("does not have secrets list permission"). Setting a
//     secret again makes a new version; created and updated are whole
//     seconds, of a clock Advance moves;
//   - the authority, with what MSAL asks for in the client credentials
//     flow: the tenant's OpenID configuration
//     (/{tenant}/v2.0/.well-known/openid-configuration), instance
//     discovery (/common/discovery/instance) and the token endpoint
//     (POST /{tenant}/oauth2/v2.0/token), which checks the tenant, the
//     client id, the client secret (or, with WithFederatedToken, a client
//     assertion of type jwt-bearer, as workload identity sends) and the
//     scope, and answers errors as Entra ID does: {"error":
//     "invalid_client", "error_description": "AADSTS7000215: ...",
//     "error_codes": [7000215], ...} (401) for a wrong secret,
//     unauthorized_client AADSTS700016 (400) for an unknown client,
//     invalid_tenant AADSTS90002 (400) for an unknown tenant,
//     invalid_scope AADSTS70011 (400) for another scope and
//     invalid_client AADSTS70021 (401) for a wrong assertion.
//
// Tests inject faults (latency, throttling with an optional Retry-After,
// 5xx answers and dropped connections on the vault; 5xx and 429 answers
// on the token endpoint; denied and disabled secrets; revoked tokens) and
// observe the requests each side received (per operation, with the
// secret, version, api-version and status of each), so they can check a
// client's call count.
//
// Env returns the environment that points omsecrets' azure-kv store at
// the Server: the vault URL setting, the tenant, client id and secret,
// AZURE_AUTHORITY_HOST and SSL_CERT_FILE.
//
// The package owns nothing used in production and must only be imported
// from tests and benchmarks. It models no writes through the API, no
// listing of versions or deleted secrets, no keys or certificates, no soft-delete recovery, no
// expiry or not-before dates, no JWT validation (a token is accepted by
// being one the Server issued) and no managed identity endpoint.
package azuretest
