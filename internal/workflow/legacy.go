package workflow

// OpenMetadata 0.12–0.13 "connection-secret" layout.
//
// In those releases a server with a third-party secrets manager wrote each
// service's whole connection config, the bots' credentials and the dbt
// source configs to the store as JSON secrets, and served bots the
// entities without them; the Python ingestion side read them back. The
// helpers here build the ids it read and apply what the store returns.
// They do no I/O: the caller fetches the ids and passes the bytes in.
//
// Where the behaviour comes from (open-metadata/OpenMetadata):
//   - ids: SecretsManager.build_secret_id in
//     ingestion/src/metadata/utils/secrets/secrets_manager.py joins
//     "/", clusterName and the lower-cased parts; the server that wrote
//     the secrets (SecretsManager.buildSecretId in
//     openmetadata-service/.../secrets/SecretsManager.java) lower-cases the
//     whole id, cluster name included. The two agree for the default
//     cluster "openmetadata"; the ids here follow the writer, so they exist
//     in the store whatever the cluster name's case.
//   - service connections: retrieve_service_connection in
//     external_secrets_manager.py / aws_based_secrets_manager.py reads
//     build_secret_id("service", <category>, <serviceType>, <name>), where
//     <category> is ServiceType.name.lower() (workflow.py passes
//     service_type.name.lower(): "database", "mlmodel"), and parses the
//     secret as the connection's config object, wrapping it as
//     {"config": ...}.
//   - bot credentials: OpenMetadata.__init__ in ometa_api.py calls
//     add_auth_provider_security_config(config, BotType.ingestion_bot)
//     ("ingestion-bot"), which, when authProvider is not "no-auth" and
//     securityConfig is None, reads build_secret_id("bot", bot,
//     "auth-provider") as a JSON string (json.loads → AuthProvider) and
//     build_secret_id("bot", bot) as the provider's security config object.
//   - dbt: Workflow._retrieve_dbt_config_source_if_needed in
//     ingestion/api/workflow.py reads build_secret_id(
//     "database-metadata-pipeline", source.serviceName) for a database
//     service's DatabaseMetadata workflow: keyed by the SERVICE name, as the
//     server's encryptOrDecryptDbtConfigSource(…, service.getName(), …)
//     wrote it, not by the pipeline name. A non-null value replaces
//     sourceConfig.config.dbtConfigSource; the server stored "null" when
//     there was none.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"omsecrets/internal/render"
)

// DefaultBot is the bot whose credentials OpenMetadata 0.12–0.13's Python
// client read (BotType.ingestion_bot, hard-coded in ometa_api.py).
const DefaultBot = "ingestion-bot"

// ErrSecretContent marks a secret whose content is not what OpenMetadata
// stored there. The message names the secret's role, never its content.
var ErrSecretContent = errors.New("unexpected secret content")

// authProviders are the providers AUTH_PROVIDER_MAPPING in
// secrets_manager.py has a security config class for.
var authProviders = []string{"google", "okta", "auth0", "azure", "custom-oidc", "openmetadata"}

// noAuth is the 0.12–0.13 authProvider that needs no credentials.
const noAuth = "no-auth"

// secretID is build_secret_id: "/" + cluster + "/" + parts joined by "/",
// all lower-cased as the Java writer does.
func secretID(cluster string, parts ...string) string {
	return strings.ToLower("/" + strings.Join(append([]string{cluster}, parts...), "/"))
}

// ConnectionSecretID returns the id under which OpenMetadata 0.12–0.13 kept
// a service's connection config: /<cluster>/service/<category>/<service
// type>/<service name>, lower-cased, where category is the entity type's
// ServiceType ("database" for databaseService, "mlmodel" for
// mlmodelService). Names are not escaped: a dotted service name stays
// dotted. It fails for an empty part or an unknown entity type.
func ConnectionSecretID(cluster, entityType, serviceType, serviceName string) (string, error) {
	category, ok := serviceCategory(entityType)
	if !ok {
		return "", fmt.Errorf("connection secret id: unknown service entity type %q", entityType)
	}
	for _, part := range []struct{ name, v string }{{"cluster", cluster}, {"service type", serviceType}, {"service name", serviceName}} {
		if part.v == "" {
			return "", fmt.Errorf("connection secret id: %s: %w", part.name, ErrMissingField)
		}
	}
	return secretID(cluster, "service", category, serviceType, serviceName), nil
}

// BotAuthProviderSecretID returns /<cluster>/bot/<bot>/auth-provider,
// lower-cased: the secret holding the bot's auth provider as a JSON string.
func BotAuthProviderSecretID(cluster, bot string) string {
	return secretID(cluster, "bot", bot, "auth-provider")
}

// BotSecretID returns /<cluster>/bot/<bot>, lower-cased: the secret holding
// the bot's security config (for "openmetadata", {"jwtToken": ...}).
func BotSecretID(cluster, bot string) string {
	return secretID(cluster, "bot", bot)
}

// DbtSecretID returns /<cluster>/database-metadata-pipeline/<service name>,
// lower-cased: the secret holding a database service's dbtConfigSource.
// It is keyed by the service name (see DbtServiceName).
func DbtSecretID(cluster, serviceName string) string {
	return secretID(cluster, "database-metadata-pipeline", serviceName)
}

// WithConnectionSecret sets s.Connection from the content of its
// connection secret: the secret is the config object, which OpenMetadata
// wrapped as {"config": ...}. The content must be a JSON object whose
// "type", if any, is s.ServiceType (the Python side parsed it as that
// connection class). Errors never quote the content.
func (s *Service) WithConnectionSecret(raw []byte) error {
	doc, err := render.Parse(raw, render.JSON)
	if err != nil {
		return fmt.Errorf("connection secret of %s %q: %w: %w", s.EntityType, s.Name, ErrSecretContent, err)
	}
	if !doc.IsMapping() {
		return fmt.Errorf("connection secret of %s %q: %w: not a JSON object", s.EntityType, s.Name, ErrSecretContent)
	}
	if t, ok := doc.Lookup("type"); ok && t != s.ServiceType {
		return fmt.Errorf("connection secret of %s %q: %w: its type is not the service's type %s", s.EntityType, s.Name, ErrSecretContent, s.ServiceType)
	}
	out, err := ordered{{"config", json.RawMessage(raw)}}.MarshalJSON()
	if err != nil {
		return fmt.Errorf("connection secret of %s %q: %w: not valid JSON", s.EntityType, s.Name, ErrSecretContent)
	}
	s.Connection = out
	return nil
}

// NeedsBotSecrets reports whether the definition's server connection is
// one OpenMetadata 0.12–0.13's client completed from the bot secrets: its
// authProvider is set and not "no-auth" (the 0.12–0.13 default when
// absent) and it has no securityConfig.
func (d *Definition) NeedsBotSecrets() bool {
	path := d.serverConfigPath()
	provider, ok := d.Doc.Lookup(append(slices.Clone(path), "authProvider")...)
	if !ok || provider == noAuth {
		return false
	}
	if d.Doc.IsMapping(append(slices.Clone(path), "securityConfig")...) {
		return false
	}
	_, isString := d.Doc.Lookup(append(slices.Clone(path), "securityConfig")...)
	return !isString
}

// ApplyBotSecrets does what add_auth_provider_security_config did with the
// contents of the bot's two secrets (BotAuthProviderSecretID and
// BotSecretID): authProvider, a JSON string naming a provider OpenMetadata
// has a client for, replaces the server connection's authProvider, and
// securityConfig, a JSON object, becomes its securityConfig. It changes
// nothing and returns nil when NeedsBotSecrets is false, and changes
// nothing on error. Errors never quote the contents.
func (d *Definition) ApplyBotSecrets(authProvider, securityConfig []byte) error {
	if !d.NeedsBotSecrets() {
		return nil
	}
	var provider string
	if first(authProvider) != '"' || json.Unmarshal(authProvider, &provider) != nil {
		return fmt.Errorf("%s: bot auth-provider secret: %w: not a JSON string", d.Path, ErrSecretContent)
	}
	if !slices.Contains(authProviders, provider) {
		return fmt.Errorf("%s: bot auth-provider secret: %w: want one of %s", d.Path, ErrSecretContent, strings.Join(authProviders, ", "))
	}
	sec, err := render.Parse(securityConfig, render.JSON)
	if err != nil {
		return fmt.Errorf("%s: bot secret: %w: %w", d.Path, ErrSecretContent, err)
	}
	if !sec.IsMapping() {
		return fmt.Errorf("%s: bot secret: %w: not a JSON object", d.Path, ErrSecretContent)
	}
	path := d.serverConfigPath()
	if err := d.Doc.SetJSON(path, "securityConfig", securityConfig); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	d.Doc.SetString(path, "authProvider", provider)
	return nil
}

// DbtServiceName reports whether OpenMetadata 0.12–0.13 would read a dbt
// secret for this workflow config, and the service name to pass to
// DbtSecretID: the source names a database service and sourceConfig.config
// is DatabaseMetadata.
func (d *Definition) DbtServiceName() (string, bool) {
	if d.Kind != KindWorkflowConfig {
		return "", false
	}
	st, _ := d.Doc.Lookup("source", "type")
	if entity, ok := EntityTypeOf(st); !ok || entity != "databaseService" {
		return "", false
	}
	if t, _ := d.Doc.Lookup("source", "sourceConfig", "config", "type"); t != "DatabaseMetadata" {
		return "", false
	}
	name, ok := d.Doc.Lookup("source", "serviceName")
	return name, ok && name != ""
}

// ApplyDbtSecret sets source.sourceConfig.config.dbtConfigSource from the
// content of the dbt secret. JSON null (what the server stored for a
// pipeline without dbt) changes nothing; anything else must be a JSON
// object. Errors never quote the content.
func (d *Definition) ApplyDbtSecret(raw []byte) error {
	doc, err := render.Parse(raw, render.JSON)
	if err != nil {
		return fmt.Errorf("%s: dbt secret: %w: %w", d.Path, ErrSecretContent, err)
	}
	if v, _ := doc.Marshal(render.JSON); string(v) == "null\n" {
		return nil
	}
	if !doc.IsMapping() {
		return fmt.Errorf("%s: dbt secret: %w: not a JSON object", d.Path, ErrSecretContent)
	}
	if err := d.Doc.SetJSON([]string{"source", "sourceConfig", "config"}, "dbtConfigSource", raw); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return nil
}
