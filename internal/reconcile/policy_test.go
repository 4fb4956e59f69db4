package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

const (
	botJWT   = "/openmetadata/bot/ingestion-bot/config/jwttoken"
	ownDbtID = "/openmetadata/pipeline/mysql_metadata/sourceconfig/config/dbtconfigsource/dbtsecuritycredentials/awssecretaccesskey"
)

// pipelineWith is pipelineJSON("mysql_metadata", "mysql_prod") edited by
// string replacements of its JSON.
func pipelineWith(t *testing.T, name string, replace ...string) reconcile.Job {
	t.Helper()
	src := pipelineJSON("mysql_metadata", "mysql_prod")
	src = strings.NewReplacer(replace...).Replace(src)
	return parse(t, name, src)
}

func withDbt(id string) []string {
	return []string{`"config":{"type":"DatabaseMetadata"}`, `"config":{"type":"DatabaseMetadata","dbtConfigSource":{"dbtConfigType":"s3","dbtSecurityConfig":{"awsSecretAccessKey":"secret:` + id + `"}}}`}
}

// TestPolicyReferencesByOrigin: the connection's references come from
// OpenMetadata and resolve whatever they are; references written in a
// pipeline file must be the pipeline's own, or allowed by the operator.
// A refused definition makes no store call at all, and the others go on.
func TestPolicyReferencesByOrigin(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		botJWT:   "planted-jwt",
		"/db/pw": "planted-pw",
		ownDbtID: "planted-own-dbt",
		"/openmetadata/database/other_prod/authtype/password": "planted-other-service",
		"/openmetadata/bot/admin-bot/config/jwttoken":         "planted-admin-jwt",
		"/platform/dbt/key": "planted-platform",
	}
	tests := []struct {
		name    string
		allow   []string
		replace []string
		class   string
		want    string // in the error
	}{
		{name: "connection refs from OpenMetadata", class: "ok"},
		{name: "own dbt secret", replace: withDbt(ownDbtID), class: "ok"},
		{name: "another service's password", replace: withDbt("/openmetadata/database/other_prod/authtype/password"), class: reconcile.ClassForbiddenRef,
			want: `sourceConfig.config.dbtConfigSource.dbtSecurityConfig.awsSecretAccessKey: secret:/openmetadata/database/other_prod/authtype/password (store aws): forbidden_ref: reference not allowed: not pipeline "mysql_metadata"'s own secret (OpenMetadata names those /openmetadata/pipeline/mysql_metadata/...)`},
		{name: "another pipeline's secret", replace: withDbt("/openmetadata/pipeline/mysql_metadata_2/x"), class: reconcile.ClassForbiddenRef, want: "forbidden_ref"},
		{name: "another bot's JWT", replace: []string{botJWT, "/openmetadata/bot/admin-bot/config/jwttoken"}, class: reconcile.ClassForbiddenRef,
			want: `openMetadataServerConnection.securityConfig.jwtToken: bot JWT secret:/openmetadata/bot/admin-bot/config/jwttoken: reference not allowed`},
		{name: "allowed by the operator", allow: []string{"/platform/*"}, replace: withDbt("/platform/dbt/key"), class: "ok"},
		{name: "a pattern is whole-id", allow: []string{"/platform/dbt"}, replace: withDbt("/platform/dbt/key"), class: reconcile.ClassForbiddenRef, want: "matches no --allow-ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := resolvertest.NewFake(values)
			om := &services{svcs: map[string]*omclient.Service{"mysql_prod": mysqlService("secret:/db/pw")}}
			r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Services: om, Policy: reconcile.Policy{AllowIDs: tt.allow}})
			res := r.Reconcile(context.Background(), []reconcile.Job{pipelineWith(t, "p.json", tt.replace...)})[0]
			assert.Equal(t, tt.class, res.Class(), "%v", res.Err)
			if tt.class == "ok" {
				assert.Contains(t, string(res.Output), "planted-pw")
				return
			}
			require.Error(t, res.Err)
			assert.Contains(t, res.Err.Error(), tt.want)
			assert.NotContains(t, res.Err.Error(), "\n")
			assert.Nil(t, res.Output)
			for _, id := range store.Requested() {
				assert.NotContains(t, []string{"/openmetadata/database/other_prod/authtype/password", "/openmetadata/bot/admin-bot/config/jwttoken", "/openmetadata/pipeline/mysql_metadata_2/x"}, id,
					"a forbidden id was asked of the store")
			}
			if strings.Contains(tt.want, "bot JWT") {
				assert.Zero(t, om.calls, "no OpenMetadata call without the pipeline's own token")
			}
		})
	}
}

// TestPolicyHosts: the bot JWT goes only to allowed OpenMetadata hosts;
// a definition naming another is refused before any store or API call.
func TestPolicyHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		policy   reconcile.Policy
		hostPort string
		pin      string
		class    string
	}{
		{"allowed", reconcile.Policy{RestrictHosts: true, Hosts: []string{"http://OM:8585"}}, "http://om:8585/api", "", "ok"},
		{"default port", reconcile.Policy{RestrictHosts: true, Hosts: []string{"https://om.example.com"}}, "https://om.example.com:443/api", "", "ok"},
		{"another port", reconcile.Policy{RestrictHosts: true, Hosts: []string{"http://om:8585"}}, "http://om:9999/api", "", reconcile.ClassForbiddenHost},
		{"another scheme", reconcile.Policy{RestrictHosts: true, Hosts: []string{"https://om:8585"}}, "http://om:8585/api", "", reconcile.ClassForbiddenHost},
		{"nothing allowed", reconcile.Policy{RestrictHosts: true}, "http://om:8585/api", "", reconcile.ClassForbiddenHost},
		{"pinned host wins", reconcile.Policy{RestrictHosts: true}, "http://evil:1/api", "http://om:8585/api", "ok"},
		{"unrestricted", reconcile.Policy{}, "http://anything:1/api", "", "ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := resolvertest.NewFake(map[string]string{botJWT: "planted-jwt", "/db/pw": "planted-pw"})
			om := &services{svcs: map[string]*omclient.Service{"mysql_prod": mysqlService("secret:/db/pw")}}
			r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Services: om, Policy: tt.policy, HostPort: tt.pin})
			res := r.Reconcile(context.Background(), []reconcile.Job{pipelineWith(t, "p.json", "http://om:8585/api", tt.hostPort)})[0]
			assert.Equal(t, tt.class, res.Class(), "%v", res.Err)
			if tt.class != "ok" {
				assert.Contains(t, res.Err.Error(), "openMetadataServerConnection.hostPort")
				assert.Contains(t, res.Err.Error(), "--om-hosts / OMSECRETS_OM_HOSTS")
				assert.Zero(t, store.Gets(), "no store call")
				assert.Zero(t, om.calls, "no request to the host")
			}
		})
	}
}

// TestPolicyCluster: with the cluster pinned, a definition naming another
// cluster (whose ids the sidecar's role may also reach) is refused.
func TestPolicyCluster(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/eu/bot/ingestion-bot/config/jwttoken": "planted-eu-jwt", "/db/pw": "planted-pw"})
	om := &services{svcs: map[string]*omclient.Service{"mysql_prod": mysqlService("secret:/db/pw")}}
	r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Services: om, Policy: reconcile.Policy{Cluster: "openmetadata"}})
	res := r.Reconcile(context.Background(), []reconcile.Job{pipelineWith(t, "p.json", `"clusterName":"openmetadata"`, `"clusterName":"eu"`, botJWT, "/eu/bot/ingestion-bot/config/jwttoken")})[0]
	assert.Equal(t, reconcile.ClassForbiddenRef, res.Class())
	assert.Contains(t, res.Err.Error(), `openMetadataServerConnection.clusterName: reference not allowed: cluster "eu" is not this sidecar's OpenMetadata cluster "openmetadata"`)
	assert.Zero(t, store.Gets())
}

// TestPolicyWorkflowConfigs: a self-contained workflow config is the
// operator's own file: unconstrained without an allow-list, held to it
// with one.
func TestPolicyWorkflowConfigs(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/anything": "planted-any"})
	for _, tt := range []struct {
		allow []string
		class string
	}{
		{nil, "ok"},
		{[]string{"/anything"}, "ok"},
		{[]string{"/other/*"}, reconcile.ClassForbiddenRef},
	} {
		r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Policy: reconcile.Policy{AllowIDs: tt.allow}})
		res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "w.yaml", config("secret:/anything", "jwt", "aws"))})[0]
		assert.Equal(t, tt.class, res.Class(), "allow %v: %v", tt.allow, res.Err)
	}
}

func TestPolicyIDSchemes(t *testing.T) {
	t.Parallel()
	k8s := resolver.IDScheme{Sep: "-", NoLeadingSep: true, Clean: func(p string) string { return strings.ReplaceAll(p, "_", "-") }}
	assert.Equal(t, "openmetadata-pipeline-mysql-metadata", k8s.ID("openmetadata", "pipeline", "mysql_metadata"))
	assert.True(t, k8s.Under("openmetadata-pipeline-mysql-metadata-sourceconfig-x", "openmetadata", "pipeline", "mysql_metadata"))
	assert.False(t, k8s.Under("openmetadata-pipeline-mysql-metadataxyz", "openmetadata", "pipeline", "mysql_metadata"))
	aws := resolver.IDScheme{}
	assert.Equal(t, "/openmetadata/bot/ingestion-bot", aws.ID("openmetadata", "bot", "ingestion-bot"))
	assert.False(t, aws.Under("/openmetadata/bot/ingestion-bot2/config", "openmetadata", "bot", "ingestion-bot"))
}

func TestParseHostAndPatterns(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"http://om:8585":              "http://om:8585",
		"HTTPS://OM.example.com/api":  "https://om.example.com:443",
		" http://10.0.0.1:80/api/v1 ": "http://10.0.0.1:80",
		"http://[::1]:8585":           "http://[::1]:8585",
	} {
		got, err := reconcile.ParseHost(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, bad := range []string{"om:8585", "ftp://om", "http://", "http://user:pw@om:8585", "://x", ""} {
		_, err := reconcile.ParseHost(bad)
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"", "a\nb", "x\x00"} {
		_, err := reconcile.New(reconcile.Options{Resolver: resolver.New(resolver.Options{}), Providers: testProviders, Policy: reconcile.Policy{AllowIDs: []string{bad}}})
		assert.Error(t, err, "%q", bad)
	}
	_, err := reconcile.New(reconcile.Options{Resolver: resolver.New(resolver.Options{}), Providers: testProviders, Policy: reconcile.Policy{Hosts: []string{"om:8585"}}})
	assert.Error(t, err)
}
