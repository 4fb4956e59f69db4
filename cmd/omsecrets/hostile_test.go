package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileSettings is the hostile-input table of the settings this
// redesign added or moved (the store settings, --fresh-for,
// --rate-limits keys): each must fail before anything is fetched or
// written, with exit 2, one line naming the flag or variable, and no
// value printed.
func TestHostileSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	aFile := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(aFile, []byte("x"), 0o600))
	const planted = "PLANTED-hostile-value"
	base := []string{"check", "--provider", "file", "--file-dir", f.store}
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{name: "empty env prefix", args: append(base, "--env-prefix", "", f.def), want: "--env-prefix"},
		{name: "file dir missing", args: []string{"check", "--provider", "file", "--file-dir", "/nonexistent/store", f.def}, want: "OMSECRETS_FILE_DIR"},
		{name: "file dir a file", args: []string{"check", "--provider", "file", "--file-dir", aFile, f.def}, want: "--file-dir"},
		{name: "file dir a fifo", args: []string{"check", "--provider", "file", "--file-dir", fifo, f.def}, want: "--file-dir"},
		{name: "region with a newline", args: append(base, "--aws-region", "us-east-1\n"+planted, f.def), want: "--aws-region"},
		{name: "region path", args: append(base, "--aws-region", "../../etc", f.def), want: "--aws-region"},
		{name: "region huge", args: append(base, "--aws-region", strings.Repeat("a", 100000), f.def), want: "--aws-region"},
		{name: "region from OpenMetadata's name", args: append(base, f.def), environ: []string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION=" + planted + "/x"}, want: "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION"},
		{name: "aws web identity token file a fifo", args: append(base, "--aws-region", "us-east-1", f.def),
			environ: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + fifo, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/" + planted}, want: "AWS_WEB_IDENTITY_TOKEN_FILE"},
		{name: "aws web identity token file /dev/zero", args: append(base, "--aws-region", "us-east-1", f.def),
			environ: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=/dev/zero", "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/x"}, want: "not a regular file"},
		{name: "provider aws without a region", args: []string{"check", "--provider", "aws", f.def}, want: "--aws-region"},
		{name: "provider unknown", args: []string{"check", "--provider", "consul", f.def}, want: "--provider"},
		{name: "rate limit unknown store", args: append(base, "--rate-limits", "aws_ssm=5", f.def), want: `unknown store "aws_ssm"`},
		{name: "rate limit negative", args: append(base, "--rate-limits", "aws=-1", f.def), want: "--rate-limits"},
		{name: "rate limit NaN", args: append(base, "--rate-limits", "aws=NaN", f.def), want: "--rate-limits"},
		{name: "adaptive-rate not a bool", args: append(base, f.def), environ: []string{"OMSECRETS_ADAPTIVE_RATE=sometimes"}, want: "OMSECRETS_ADAPTIVE_RATE"},
		{name: "start-jitter negative", args: []string{"run", "--start-jitter", "-1s", "--out-dir", f.out, f.def}, want: "--start-jitter"},
		{name: "start-jitter not a duration", args: []string{"run", "--out-dir", f.out, f.def}, environ: []string{"OMSECRETS_START_JITTER=" + planted}, want: "OMSECRETS_START_JITTER"},
		{name: "start-jitter flag not a duration", args: []string{"run", "--start-jitter", planted, "--out-dir", f.out, f.def}, want: "start-jitter"},
		{name: "workers env not an integer", args: []string{"run", "--out-dir", f.out, f.def}, environ: []string{"OMSECRETS_WORKERS=" + planted}, want: "OMSECRETS_WORKERS"},
		{name: "change-max-age negative", args: []string{"run", "--change-max-age", "-1h", "--out-dir", f.out, f.def}, want: "--change-max-age"},
		{name: "change-detection not a bool", args: []string{"run", "--out-dir", f.out, f.def}, environ: []string{"OMSECRETS_CHANGE_DETECTION=2"}, want: "OMSECRETS_CHANGE_DETECTION"},
		{name: "fresh-for negative", args: []string{"run", "--once", "--fresh-for", "-5s", "--out-dir", f.out, f.def}, want: "--fresh-for"},
		{name: "fresh-for not a duration", args: []string{"run", "--once", "--out-dir", f.out, f.def}, environ: []string{"OMSECRETS_FRESH_FOR=soon"}, want: "OMSECRETS_FRESH_FOR"},
		{name: "unknown store flag", args: append(base, "--consul-addr", "x", f.def), want: "consul-addr"},
		{name: "vault address not a URL", args: append(base, "--vault-addr", "x\n"+planted, f.def), want: "--vault-addr"},
		{name: "group beyond gid_t", args: []string{"resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, "--allow-disk", "--group", "4294967296", f.def}, want: "0 to 4294967294"},
		{name: "group all ones", args: []string{"resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, "--allow-disk", "--group", "4294967295", f.def}, want: "--group"},
		{name: "group negative", args: []string{"resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, "--allow-disk", "--group", "-1", f.def}, want: "--group"},
		{name: "group huge", args: []string{"resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, "--allow-disk", "--group", strings.Repeat("9", 100), f.def}, want: "--group"},
		{name: "om-hosts without a scheme", args: append(base, "--om-hosts", "om:8585", f.def), want: "--om-hosts"},
		{name: "om-hosts with a user", args: append(base, "--om-hosts", "http://"+planted+"@om:8585", f.def), want: "--om-hosts"},
		{name: "om-hosts file URL", args: append(base, "--om-hosts", "file:///etc/passwd", f.def), want: "--om-hosts"},
		{name: "om-hosts from the environment", args: append(base, f.def), environ: []string{"OMSECRETS_OM_HOSTS=ftp://om"}, want: "OMSECRETS_OM_HOSTS"},
		{name: "allow-ids with a control character", args: append(base, "--allow-ids", "/a/*,\x1b[31m", f.def), want: "--allow-ids"},
		{name: "om-ca-file a fifo", args: append(base, "--om-ca-file", fifo, f.def), want: "--om-ca-file"},
		{name: "om-ca-file /dev/zero", args: append(base, "--om-ca-file", "/dev/zero", f.def), want: "not a regular file"},
		{name: "kubeconfig a fifo", args: append(base, "--kubernetes-kubeconfig-path", fifo, f.def), want: "not a regular file"},
		{name: "kubeconfig /dev/zero", args: append(base, "--kubernetes-kubeconfig-path", "/dev/zero", f.def), want: "not a regular file"},
		{name: "kubeconfig missing", args: append(base, "--kubernetes-kubeconfig-path", "/nonexistent/kubeconfig", f.def), want: "--kubernetes-kubeconfig-path"},
		{name: "kubernetes in-cluster not a boolean", args: append(base, "--kubernetes-in-cluster", "maybe", f.def), want: "kubernetes-in-cluster"},
		{name: "vault cacert a fifo", args: append(base, "--vault-addr", "https://127.0.0.1:1", "--vault-cacert", fifo, f.def), want: "not a regular file"},
		{name: "vault skip verify refused", args: append(base, "--vault-addr", "https://127.0.0.1:1", f.def), environ: []string{"VAULT_SKIP_VERIFY=true"}, want: "VAULT_SKIP_VERIFY"},
		{name: "vault kv version", args: append(base, "--vault-addr", "https://127.0.0.1:1", "--vault-kv-version", "3", f.def), want: "--vault-kv-version"},
		{name: "gcp credentials a fifo", args: append(base, "--gcp-project-id", "my-project", f.def), environ: []string{"GOOGLE_APPLICATION_CREDENTIALS=" + fifo}, want: "GOOGLE_APPLICATION_CREDENTIALS"},
		{name: "gcp project with a newline", args: append(base, "--gcp-project-id", "p\n"+planted, f.def), want: "--gcp-project-id"},
		{name: "azure vault url not https", args: append(base, "--azure-key-vault-url", "http://"+planted+".example/", f.def), want: "--azure-key-vault-url"},
		{name: "azure client secret without tenant", args: append(base, "--azure-key-vault-name", "kv", f.def), environ: []string{"AZURE_CLIENT_SECRET=" + planted}, want: "azure"},
		{name: "routes to an unknown store", args: append(base, "--routes", "/a/=nosuch", f.def), want: "--routes"},
		{name: "routes with a control character", args: append(base, "--routes", "/a\x01/=file", f.def), want: "--routes"},
		{name: "routes fallback to itself", args: append(base, "--om-hosts", "http://om:8585", "--routes", "/a/=file|file", f.def), want: "fallback is the store itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := omsecrets(t, tt.environ, tt.args...)
			assert.Equal(t, 2, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			first, _, _ := strings.Cut(r.stderr, "\n")
			assert.Contains(t, first, tt.want, "the first line says it")
			assert.Less(t, len(first), 2000, "the error does not echo a huge input")
			assert.NotContains(t, r.stdout+r.stderr, planted)
			assert.Empty(t, dirNames(t, f.out), "nothing written")
		})
	}
}

// TestMissingDefinitionFails: a definition file that does not exist fails
// every one-shot command with one line naming it and nothing written (an
// init container must not start its task without a config); the others
// named beside it are still read (definitionFiles: a path that is not a
// directory is a definition).
func TestMissingDefinitionFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	missing := filepath.Join(t.TempDir(), "not-deployed-yet.json")
	for _, args := range [][]string{
		{"resolve", "--allow-disk", "--out-dir", f.out, missing},
		{"resolve", "--out", "-", missing},
		{"check", missing},
	} {
		r := omsecrets(t, nil, args...)
		assert.Equal(t, 1, r.code, "%v\n%s", args, r.stderr)
		assert.Contains(t, r.stderr, "class=invalid", args)
		assert.Contains(t, r.stderr, missing+": no such file", args)
		if args[0] == "check" {
			assert.Regexp(t, `not-deployed-yet.json\s+-\s+-\s+-\s+invalid`, r.stdout)
		} else {
			assert.Empty(t, r.stdout, args)
		}
		assert.Empty(t, dirNames(t, f.out), args)
	}
	for _, args := range [][]string{
		{"run", "--once", "--allow-disk", "--out-dir", f.out, missing},
		{"plan", missing},
	} {
		r := omsecrets(t, nil, args...)
		assert.Equal(t, 1, r.code, "%v\n%s", args, r.stderr)
		assert.Contains(t, r.stderr, "class=invalid", args)
		assert.Contains(t, r.stderr, missing+": no such file", args)
		assert.Empty(t, dirNames(t, f.out), args)
	}
}
