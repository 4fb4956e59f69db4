package gcpsm_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/gcptest"
	"omsecrets/resolver"
	"omsecrets/resolver/gcpsm"
)

// TestHostileIDs feeds ids GCP can never hold: each is bad_ref, decided
// without a call, with a one-line message that names the id.
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	huge := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, id, want string
	}{
		{"empty", "", "empty secret id"},
		{"256 characters", strings.Repeat("s", 256), "longer than 255 characters"},
		{"a megabyte", huge, "longer than 255 characters"},
		{"AWS form", "/openmetadata/database/mysql_prod/password", "a /-separated id is the AWS form"},
		{"slash", "a/b", "not /"},
		{"dot dot", "..", `not '.'`},
		{"path trick", "../../etc/passwd", `not '.'`},
		{"space", "a b", `not ' '`},
		{"NUL", "a\x00b", `not '\x00'`},
		{"newline", "a\nb", `not '\n'`},
		{"tab", "a\tb", `not '\t'`},
		{"DEL", "a\x7fb", `not '\x7f'`},
		{"unicode letter", "pässword", `not 'ä'`},
		{"bidi override", "abc\u202edef", `not '\u202e'`},
		{"zero width space", "a\u200bb", `not '\u200b'`},
		{"invalid UTF-8", "a\xffb", "not valid UTF-8"},
		{"hash", "a#b", `not '#'`},
		{"percent escape", "a%2Fb", `not '%'`},
		{"projects only", "projects/", "not a secret resource name"},
		{"project without secret", "projects/omsecrets-test", "not a secret resource name"},
		{"empty secret", "projects/omsecrets-test/secrets/", "empty secret id"},
		{"empty version", "projects/omsecrets-test/secrets/s/versions/", "empty version"},
		{"extra segment", "projects/omsecrets-test/secrets/s/versions/1/extra", "not a secret resource name"},
		{"wrong collection", "projects/omsecrets-test/keys/s", "not a secret resource name"},
		{"regional", "projects/omsecrets-test/locations/europe-west1/secrets/s", "regional secrets"},
		{"upper-case project", "projects/OmSecrets/secrets/s", "not a GCP project id"},
		{"short project", "projects/abc/secrets/s", "not a GCP project id"},
		{"project path trick", "projects/../secrets/s", "not a GCP project id"},
		{"project with newline", "projects/omsecrets-test\n/secrets/s", "not a GCP project id"},
		{"secret with dot", "projects/omsecrets-test/secrets/a.b", `not '.'`},
		{"version zero", "projects/omsecrets-test/secrets/s/versions/0", "not a version number"},
		{"negative version", "projects/omsecrets-test/secrets/s/versions/-1", "not a version number"},
		{"leading zero", "projects/omsecrets-test/secrets/s/versions/01", "not a version number"},
		{"version overflow", "projects/omsecrets-test/secrets/s/versions/99999999999999999999", "not a version number"},
		{"version NEW", "projects/omsecrets-test/secrets/s/versions/NEW", "NEW is not a version"},
		{"alias with dot", "projects/omsecrets-test/secrets/s/versions/a.b", "not a version number"},
		{"double slash", "projects//secrets/s", "not a GCP project id"},
		{"trailing slash", "projects/omsecrets-test/secrets/s/", "not a secret resource name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Get(t.Context(), tc.id)
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			assert.Equal(t, "bad_ref", resolver.Class(err))
			msg := err.Error()
			assert.NotContains(t, msg, "\n", "one line")
			assert.LessOrEqual(t, len(msg), 600, "bounded")
			quoted := strconv.Quote(tc.id)
			if len(tc.id) > 300 {
				quoted = strconv.Quote(tc.id[:64])
			}
			assert.True(t, strings.HasPrefix(msg, "secret "+quoted), "names the id: %s", msg)
			assert.Contains(t, msg, tc.want)
		})
	}
	assert.Zero(t, s.TotalCalls(), "decided before any call")
	assert.Zero(t, s.Calls(gcptest.OpToken), "not even a token")
}

// TestHostileSettings feeds settings and variables that cannot be right:
// each fails Open (not "not configured") with a one-line message naming
// the setting or variable, and no value.
func TestHostileSettings(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat(" ", 1<<20+1)), 0o600))

	for _, tc := range []struct {
		name, setting, value, want string
	}{
		{"project huge", "gcp-project-id", strings.Repeat("p", 1<<16), "gcp-project-id: not a GCP project id"},
		{"project control char", "gcp-project-id", "my-proj\x00ect", "gcp-project-id: not a GCP project id"},
		{"project newline", "gcp-project-id", "my-project\nx", "gcp-project-id: not a GCP project id"},
		{"project unicode", "gcp-project-id", "my-prøject", "gcp-project-id: not a GCP project id"},
		{"project bidi", "gcp-project-id", "my-project\u202e", "gcp-project-id: not a GCP project id"},
		{"project path trick", "gcp-project-id", "../my-project", "gcp-project-id: not a GCP project id"},
		{"project resource name", "gcp-project-id", "projects/my-project", "gcp-project-id: not a GCP project id"},
		{"project trailing hyphen", "gcp-project-id", "my-project-", "gcp-project-id: not a GCP project id"},
		{"endpoint huge", "gcp-endpoint", strings.Repeat("h", 1<<16) + ":443:1", "gcp-endpoint: want host or host:port"},
		{"endpoint control char", "gcp-endpoint", "host\x00name:443", "gcp-endpoint: want host or host:port"},
		{"endpoint newline", "gcp-endpoint", "host\n:443", "gcp-endpoint: want host or host:port"},
		{"endpoint unicode", "gcp-endpoint", "hōst:443", "gcp-endpoint: want host or host:port"},
		{"endpoint URL", "gcp-endpoint", "https://secretmanager.googleapis.com", "gcp-endpoint: want host or host:port"},
		{"endpoint path", "gcp-endpoint", "host:443/x", "gcp-endpoint: port is not a number"},
		{"endpoint userinfo", "gcp-endpoint", "user@host:443", "gcp-endpoint: want host or host:port"},
		{"endpoint port zero", "gcp-endpoint", "host:0", "gcp-endpoint: port is not a number"},
		{"endpoint port word", "gcp-endpoint", "host:https", "gcp-endpoint: port is not a number"},
		{"endpoint empty host", "gcp-endpoint", ":443", "gcp-endpoint: empty host"},
		{"endpoint half bracket", "gcp-endpoint", "[::1", "gcp-endpoint: want host or host:port"},
		{"endpoint bad IPv6", "gcp-endpoint", "[zz]:443", "gcp-endpoint: want host or host:port"},
		{"metadata host URL", "GCE_METADATA_HOST", "http://169.254.169.254", "GCE_METADATA_HOST: want host or host:port"},
		{"metadata host path", "GCE_METADATA_HOST", "169.254.169.254/computeMetadata", "GCE_METADATA_HOST: want host or host:port"},
		{"metadata host newline", "GCE_METADATA_HOST", "meta\ndata", "GCE_METADATA_HOST: want host or host:port"},
		{"credentials FIFO", "GOOGLE_APPLICATION_CREDENTIALS", fifo, "not a regular file"},
		{"credentials huge", "GOOGLE_APPLICATION_CREDENTIALS", big, "larger than 1048576 bytes"},
		{"credentials path newline", "GOOGLE_APPLICATION_CREDENTIALS", dir + "/a\nb.json", "no such file or directory"},
		{"credentials path too long", "GOOGLE_APPLICATION_CREDENTIALS", "/" + strings.Repeat("x", 5000), "file name too long"},
		{"credentials dot dot", "GOOGLE_APPLICATION_CREDENTIALS", dir + "/../" + filepath.Base(dir), "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			settings := settingsFor(srv)
			env := envMap(srv.Env())
			if strings.HasPrefix(tc.setting, "gcp-") {
				settings[tc.setting] = tc.value
			} else {
				env[tc.setting] = tc.value
				if tc.setting == "GCE_METADATA_HOST" {
					delete(env, "GOOGLE_APPLICATION_CREDENTIALS")
				}
			}
			g, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: settings, Env: env})
			assert.Nil(t, g)
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			msg := err.Error()
			assert.NotContains(t, msg, "\n", "one line")
			assert.True(t, strings.HasPrefix(msg, tc.setting), "names %s: %s", tc.setting, msg)
			assert.Contains(t, msg, tc.want)
			if strings.HasPrefix(tc.setting, "gcp-") || tc.setting == "GCE_METADATA_HOST" {
				assert.NotContains(t, msg, tc.value, "does not quote the value")
			}
			assert.LessOrEqual(t, len(msg), 6000)
		})
	}
}
