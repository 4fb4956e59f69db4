package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/config"
	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/azuretest"
	"omsecrets/internal/testbed/gcptest"
	"omsecrets/internal/testbed/kubetest"
	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// storeFixture sets up one store of the table on the thing it reads (a
// directory, an environment, the AWS test server) and returns the
// environment that configures it and the conformance cases it must pass.
type storeFixture func(t *testing.T) (environ []string, cases []resolvertest.Case)

// storeFixtures has one fixture per row of storeTable:
// TestStoreTableConformance fails for a row without one, so no store can
// skip the conformance suite.
var storeFixtures = map[string]storeFixture{
	"db": func(*testing.T) ([]string, []resolvertest.Case) {
		return nil, []resolvertest.Case{
			{Name: "id is the value", ID: "s3cr3t-db-value", Want: "s3cr3t-db-value"},
			{Name: "null literal", ID: "null", WantNull: true},
		}
	},
	"env": func(*testing.T) ([]string, []resolvertest.Case) {
		return []string{
				"OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_AUTHTYPE_PASSWORD=table-env-value",
				"PATH_VALUE_NOT_REACHABLE=x",
			}, []resolvertest.Case{
				{Name: "path id", ID: "/openmetadata/database/mysql_prod/authtype/password", Want: "table-env-value"},
				{Name: "unset", ID: "/missing", WantErr: resolver.ErrNotFound},
				{Name: "other variables unreachable", ID: "PATH_VALUE_NOT_REACHABLE", WantErr: resolver.ErrNotFound},
			}
	},
	"file": func(t *testing.T) ([]string, []resolvertest.Case) {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "openmetadata", "db"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "openmetadata", "db", "password"), []byte("table-file-value\n"), 0o600))
		return []string{"OMSECRETS_FILE_DIR=" + dir}, []resolvertest.Case{
			{Name: "path id", ID: "/openmetadata/db/password", Want: "table-file-value"},
			{Name: "missing", ID: "/openmetadata/db/other", WantErr: resolver.ErrNotFound},
			{Name: "escape", ID: "/../etc/passwd", WantErr: resolver.ErrBadRef},
		}
	},
	"aws": func(t *testing.T) ([]string, []resolvertest.Case) {
		srv := awstest.New(t)
		srv.PutSecret("/openmetadata/db/password", "table-sm-value")
		srv.DenyID("/openmetadata/denied")
		return awsEnv(srv), []resolvertest.Case{
			{Name: "name", ID: "/openmetadata/db/password", Want: "table-sm-value"},
			{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
			{Name: "denied", ID: "/openmetadata/denied", WantErr: resolver.ErrPermission},
		}
	},
	"azure-kv": func(t *testing.T) ([]string, []resolvertest.Case) {
		srv := azuretest.New(t)
		srv.PutSecret("openmetadata-database-mysqlprod-password", "table-azure-value")
		srv.Deny("openmetadata-denied")
		return srv.Env(), []resolvertest.Case{
			{Name: "name", ID: "openmetadata-database-mysqlprod-password", Want: "table-azure-value"},
			{Name: "missing", ID: "openmetadata-missing", WantErr: resolver.ErrNotFound},
			{Name: "denied", ID: "openmetadata-denied", WantErr: resolver.ErrPermission},
			{Name: "never a Key Vault name", ID: "/openmetadata/database/x", WantErr: resolver.ErrBadRef},
		}
	},
	"gcp": func(t *testing.T) ([]string, []resolvertest.Case) {
		srv := gcptest.New(t)
		srv.PutSecret("openmetadata_database_mysqlprod_password", "table-gcp-value")
		srv.DenyID("openmetadata_denied")
		return srv.Env(), []resolvertest.Case{
			{Name: "name", ID: "openmetadata_database_mysqlprod_password", Want: "table-gcp-value"},
			{Name: "missing", ID: "openmetadata_missing", WantErr: resolver.ErrNotFound},
			{Name: "denied", ID: "openmetadata_denied", WantErr: resolver.ErrPermission},
			{Name: "never a GCP id", ID: "/openmetadata/database/x", WantErr: resolver.ErrBadRef},
		}
	},
	"kubernetes": func(t *testing.T) ([]string, []resolvertest.Case) {
		c := kubetest.Shared(t)
		ns := c.Namespace(t)
		alice := c.User("alice")
		c.PutValue(t, ns, "openmetadata-database-mysql-prod-authtype-password", "table-k8s-value")
		c.PutValue(t, ns, "openmetadata-denied", "table-k8s-denied")
		c.Grant(t, ns, alice, []string{"get"}, "openmetadata-database-mysql-prod-authtype-password", "openmetadata-missing")
		return c.Env(t, alice, ns), []resolvertest.Case{
			// A Secret's data keys, as one JSON object (resolver.KeyedValues).
			{Name: "name", ID: "openmetadata-database-mysql-prod-authtype-password", Want: `{"value":"table-k8s-value"}`},
			{Name: "missing", ID: "openmetadata-missing", WantErr: resolver.ErrNotFound},
			{Name: "not granted", ID: "openmetadata-denied", WantErr: resolver.ErrPermission},
			{Name: "never a Secret name", ID: "Open Metadata", WantErr: resolver.ErrBadRef},
		}
	},
	"vault": func(t *testing.T) ([]string, []resolvertest.Case) {
		srv := vaulttest.New(t)
		srv.Put("openmetadata/db/password", map[string]any{"value": "table-vault-value", "username": "table-vault-user"})
		srv.DenyPath("secret/data/openmetadata/denied")
		return srv.Env(), []resolvertest.Case{
			// A KV path's fields, as one JSON object (resolver.KeyedValues).
			{Name: "path", ID: "/openmetadata/db/password", Want: `{"username":"table-vault-user","value":"table-vault-value"}`},
			{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
			{Name: "denied", ID: "/openmetadata/denied", WantErr: resolver.ErrPermission},
			{Name: "dot segment", ID: "/openmetadata/../sys/x", WantErr: resolver.ErrBadRef},
		}
	},
	"aws-ssm": func(t *testing.T) ([]string, []resolvertest.Case) {
		srv := awstest.New(t)
		srv.PutParameter("/openmetadata/db/password", "table-ssm-value", true)
		srv.DenyID("/openmetadata/denied")
		return awsEnv(srv), []resolvertest.Case{
			{Name: "name", ID: "/openmetadata/db/password", Want: "table-ssm-value"},
			{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
			{Name: "denied", ID: "/openmetadata/denied", WantErr: resolver.ErrPermission},
		}
	},
}

// TestStoreTableConformance builds every store of the table the way the
// commands do (its settings from the environment, through buildStores)
// and runs the conformance suite against it on the wire.
func TestStoreTableConformance(t *testing.T) {
	t.Parallel()
	for _, spec := range storeTable {
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			fixture, ok := storeFixtures[spec.Name]
			require.True(t, ok, "store %s has no conformance fixture in storeFixtures", spec.Name)
			environ, cases := fixture(t)
			sv := &storeValues{env: config.EnvMap(environ), flags: map[string]string{}}
			logs := &resolvertest.LogBuffer{}
			st, err := buildStores(t.Context(), "", sv, slog.New(slog.NewTextHandler(logs, nil)))
			require.NoError(t, err)
			g, ok := st.getters[spec.Name]
			require.True(t, ok, "store %s not built: %v", spec.Name, st.missing[spec.Name])
			resolvertest.Run(t, g, cases)
			for _, c := range cases {
				if c.Want != "" && !strings.Contains(c.ID, c.Want) {
					assert.NotContains(t, logs.String(), c.Want)
				}
			}
		})
	}
}

// TestStoreTableIsConsistent checks the facts derived from the table: no
// provider or setting is claimed twice with two meanings, and every store
// has a summary. (TestDocs keeps the docs' store tables and configuration
// reference equal to what the table makes.)
func TestStoreTableIsConsistent(t *testing.T) {
	t.Parallel()
	settings := map[string]resolver.Setting{}
	for _, spec := range storeTable {
		assert.NotEmpty(t, spec.Summary, spec.Name)
		assert.NotNil(t, spec.Open, spec.Name)
		assert.Positive(t, spec.BatchSize, spec.Name)
		for _, set := range spec.Settings {
			if prev, ok := settings[set.Name]; ok {
				assert.Equal(t, prev.Env, set.Env, "setting %s is declared twice with different variables", set.Name)
				assert.Equal(t, prev.Default, set.Default, set.Name)
			}
			settings[set.Name] = set
		}
	}
	assert.Equal(t, len(storeTable), len(providers.Stores()))
	assert.True(t, slices.IsSorted(providers.Names()))
}

// TestRateLimitsUnknownStoreIsAUsageError: a key that names no store would
// limit nothing, so it is refused before anything is fetched.
func TestRateLimitsUnknownStoreIsAUsageError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := omsecrets(t, nil, "check", "--provider", "file", "--file-dir", f.store, "--rate-limits", "aws_ssm=5", f.def)
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, `unknown store "aws_ssm"`)
	assert.Contains(t, r.stderr, "aws-ssm")
	r = omsecrets(t, nil, "check", "--provider", "file", "--file-dir", f.store, "--rate-limits", "aws-ssm=5", f.def)
	assert.Equal(t, 0, r.code, r.stderr)
}

// closer is a store that records being closed.
type closer struct {
	resolver.Getter
	closed *[]string
	name   string
}

func (c closer) Close() error {
	*c.closed = append(*c.closed, c.name)
	return nil
}

// TestBuildStoresClosesWhatItOpened: when a store's Open fails, the
// stores opened before it are closed (resolver.Spec's lifetime
// contract), and closing a session's stores closes each once.
// Not parallel: it swaps the store table (parallel tests run after).
func TestBuildStoresClosesWhatItOpened(t *testing.T) {
	var closed []string
	open := func(name string, fail bool) resolver.Spec {
		return resolver.Spec{Name: name, Providers: []string{name}, Open: func(context.Context, resolver.StoreConfig) (resolver.Getter, error) {
			if fail {
				return nil, errors.New("bad setting")
			}
			return closer{closed: &closed, name: name}, nil
		}}
	}
	saved := storeTable
	t.Cleanup(func() { storeTable = saved })
	sv := &storeValues{env: map[string]string{}, flags: map[string]string{}}
	logger := slog.New(slog.DiscardHandler)

	storeTable = []resolver.Spec{open("one", false), open("two", false), open("three", true)}
	_, err := buildStores(t.Context(), "", sv, logger)
	require.ErrorContains(t, err, "bad setting")
	assert.Equal(t, []string{"one", "two"}, closed)

	closed = nil
	storeTable = []resolver.Spec{open("one", false), open("two", false)}
	st, err := buildStores(t.Context(), "", sv, logger)
	require.NoError(t, err)
	assert.Empty(t, closed)
	st.close()
	st.close()
	assert.Equal(t, []string{"one", "two"}, closed, "closed once")
}
