package gcpsm

import (
	"context"
	"log/slog"
	"strings"

	"omsecrets/resolver"
)

// Name is the store's name.
const Name = "gcp"

// Environment variables of the project setting, in their order of
// precedence (after the OMSECRETS_GCP_PROJECT_ID twin).
const (
	// EnvAirflowProjectID is the airflow.cfg key OpenMetadata's Python
	// GCP secrets manager reads ([openmetadata_secrets_manager]
	// project_id).
	EnvAirflowProjectID = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__PROJECT_ID"
	// EnvAirflowGCPProjectID is the key OpenMetadata's documentation
	// names (gcp_project_id); its code does not read it.
	EnvAirflowGCPProjectID = "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__GCP_PROJECT_ID"
	// EnvCloudProject is what OpenMetadata's env loader and the Google
	// libraries read.
	EnvCloudProject = "GOOGLE_CLOUD_PROJECT"
)

// ProjectID is the setting of the project plain ids are read from.
var ProjectID = resolver.Setting{
	Name:  "gcp-project-id",
	Env:   []string{EnvAirflowProjectID, EnvAirflowGCPProjectID, EnvCloudProject},
	Usage: "GCP project of Secret Manager secrets (else the credentials file's project_id); the gcp store is off without one",
}

// Endpoint is the setting of the gRPC endpoint.
var Endpoint = resolver.Setting{
	Name:  "gcp-endpoint",
	Usage: "Secret Manager gRPC endpoint host[:port], for Private Service Connect or a test server (default " + DefaultEndpoint + ")",
}

// Spec describes the Secret Manager store to the store table: on when a
// project is set or the credentials file names one; credentials come
// from StoreConfig.Env (Application Default Credentials: a credentials
// file, else the metadata server).
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{"gcp"},
	Summary:   "GCP Secret Manager",
	Settings:  []resolver.Setting{ProjectID, Endpoint},
	// One token per Get. The published quota (Secret Manager
	// documentation, "Quotas and limits", "Quotas on the rate of
	// requests") is 90,000 access requests per minute per project,
	// shared by every client of the project: 1,500 per second, and a
	// burst of one second's worth.
	Limit: resolver.Limit{Rate: 1500, Burst: 1500},
	// No batch call: AccessSecretVersion reads one version.
	BatchSize: 1,
	// OpenMetadata's GCPSecretsManager: "_" between the parts, none
	// before the first, and what is not [A-Za-z0-9_] deleted.
	IDs:   resolver.IDScheme{Sep: "_", NoLeadingSep: true, Clean: resolver.KeepOnly("_")},
	Open:  open,
	Costs: costs,
}

// open builds the Provider from the settings and env. Without a project
// setting the credentials file's project is used; with neither (or with a
// credentials file that does not load and no project setting: that file
// may be there for something else) the store is not configured.
//
// The metadata server is not asked for the project: Open runs for every
// store at every start, and outside GCP that call would wait for a
// timeout; and the node's project is often not the one OpenMetadata
// stores its secrets in.
func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	project := strings.TrimSpace(cfg.Settings[ProjectID.Name])
	tlsConf, err := tlsConfig(cfg.Env)
	if err != nil {
		return nil, err
	}
	c, err := loadCreds(cfg.Env, tlsConf)
	from := ProjectID.Name
	switch {
	case project == "" && err != nil:
		logger.DebugContext(ctx, "store not configured: no project, and the credentials do not load", "error", err)
		return nil, &resolver.NotConfiguredError{Store: Name, Need: []string{ProjectID.Name}}
	case err != nil:
		return nil, err
	case project == "":
		project, from = c.project, EnvCredentials
		if project == "" {
			return nil, &resolver.NotConfiguredError{Store: Name, Need: []string{ProjectID.Name}}
		}
	}
	if err := checkProject(project); err != nil {
		return nil, &settingError{from: from, err: err}
	}
	p, err := newProvider(ctx, Options{Project: project, Endpoint: strings.TrimSpace(cfg.Settings[Endpoint.Name]), Env: cfg.Env, Logger: logger}, c, tlsConf)
	if err != nil {
		return nil, err
	}
	logger.DebugContext(ctx, "store configured", "project", project, "project_from", from, "credentials", c.source)
	return p, nil
}

// settingError is a setting (or file) whose value is wrong; the message
// names it and does not quote the value.
type settingError struct {
	from string
	err  error
}

func (e *settingError) Error() string { return e.from + ": " + e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	// "Access request: 90,000 per minute per project" (an access
	// request is any call of the access method).
	Fetch: resolver.Quota{
		Operation: "AccessSecretVersion",
		PerSecond: 1500,
		Published: "90,000 per minute",
		Scope:     "project",
		Source:    "https://cloud.google.com/secret-manager/quotas",
		Confirmed: true,
	},
}
