package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/internal/testbed/gcptest"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver/resolvertest"
)

// cloudWorld is one store's test server set up for an OpenMetadata
// pipeline: the bot JWT and the service's password under OpenMetadata's
// ids for that store, and a way to rotate the password.
type cloudWorld struct {
	provider     string
	env          []string
	jwtID, pwID  string
	setPassword  func(v string)
	extraPlanted []string
}

// cloudWorlds are the stores whose servers speak the clouds' protocols.
var cloudWorlds = map[string]func(t *testing.T, om *omtest.Server) cloudWorld{
	"azure-kv": func(t *testing.T, om *omtest.Server) cloudWorld {
		srv := azuretest.New(t)
		w := cloudWorld{provider: "managed-azure-kv", env: srv.Env(),
			jwtID: "openmetadata-bot-ingestion-bot-config-jwttoken", pwID: "openmetadata-database-mysqlprod-authtype-password"}
		srv.PutSecret(w.jwtID, om.BotToken("ingestion-bot"))
		w.setPassword = func(v string) { srv.PutSecret(w.pwID, v) }
		for _, kv := range w.env {
			if strings.HasPrefix(kv, "AZURE_CLIENT_SECRET=") {
				w.extraPlanted = append(w.extraPlanted, strings.TrimPrefix(kv, "AZURE_CLIENT_SECRET="))
			}
		}
		return w
	},
	"gcp": func(t *testing.T, om *omtest.Server) cloudWorld {
		srv := gcptest.New(t)
		w := cloudWorld{provider: "gcp", env: srv.Env(),
			jwtID: "openmetadata_bot_ingestionbot_config_jwttoken", pwID: "openmetadata_database_mysqlprod_authtype_password"}
		srv.PutSecret(w.jwtID, om.BotToken("ingestion-bot"))
		w.setPassword = func(v string) { srv.PutSecret(w.pwID, v) }
		return w
	},
}

// TestProvidersEndToEnd runs resolve, check and run against each cloud
// store's wire server with an OpenMetadata pipeline whose
// secretsManagerProvider is that store's: the bot JWT and the service's
// password come from the store, a rotated password reaches the output
// within a refresh, and no planted value appears in any log, /status or
// /metrics.
func TestProvidersEndToEnd(t *testing.T) {
	t.Parallel()
	for name, world := range cloudWorlds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			om := omtest.New(t)
			w := world(t, om)
			w.setPassword("PLANTED-cloud-pw-1")
			om.PutService("databaseService", omtest.ServiceEntity("mysql_prod", "Mysql", map[string]any{
				"username": "reader",
				"authType": map[string]any{"password": "secret:" + w.pwID},
				"hostPort": "mysql:3306",
			}))
			env := append(w.env, "OMSECRETS_OM_HOSTS="+om.URL())
			defs, out := t.TempDir(), t.TempDir()
			def := strings.NewReplacer(
				"/openmetadata/bot/ingestion-bot/config/jwttoken", w.jwtID,
				`"secretsManagerProvider":"aws"`, `"secretsManagerProvider":"`+w.provider+`"`,
			).Replace(string(pipelineJSON(t, om, "mysql_prod_metadata", "mysql_prod")))
			require.NoError(t, os.WriteFile(filepath.Join(defs, "mysql_prod_metadata.json"), []byte(def), 0o644))
			planted := append([]string{"PLANTED", om.BotToken("ingestion-bot")}, w.extraPlanted...)
			var printed strings.Builder

			r := omsecrets(t, env, "resolve", "--allow-disk", "--out-dir", out, filepath.Join(defs, "mysql_prod_metadata.json"))
			require.Equal(t, 0, r.code, r.stderr)
			printed.WriteString(r.stdout + r.stderr)
			assert.Contains(t, readFile(t, filepath.Join(out, "mysql_prod_metadata.json")), `"password": "PLANTED-cloud-pw-1"`)

			r = omsecrets(t, env, "check", filepath.Join(defs, "mysql_prod_metadata.json"))
			require.Equal(t, 0, r.code, r.stderr)
			printed.WriteString(r.stdout + r.stderr)
			assert.Regexp(t, `secret:`+regexp.QuoteMeta(w.pwID)+`\s+`+name+`\s+ok`, r.stdout)

			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr resolvertest.LogBuffer
			done := make(chan int)
			runOut := t.TempDir()
			go func() {
				done <- run(ctx, []string{"run", "--watch-dirs", defs, "--out-dir", runOut, "--allow-disk", "--http-addr", "127.0.0.1:0",
					"--refresh-interval", "1s", "--watch-quiet", "20ms", "--log-format", "json"}, withPolicy(env), &stdout, &stderr)
			}()
			addr := regexp.MustCompile(`"http":"([0-9.:]+)"`)
			var base string
			require.Eventually(t, func() bool {
				if m := addr.FindStringSubmatch(stderr.String()); m != nil {
					base = "http://" + m[1]
				}
				return base != ""
			}, 20*time.Second, 10*time.Millisecond, stderr.String())
			output := filepath.Join(runOut, "mysql_prod_metadata.json")
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(output)
				return strings.Contains(string(b), "PLANTED-cloud-pw-1")
			}, 20*time.Second, 20*time.Millisecond, stderr.String())

			rotated := time.Now()
			w.setPassword("PLANTED-cloud-pw-2")
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(output)
				return strings.Contains(string(b), "PLANTED-cloud-pw-2")
			}, 20*time.Second, 20*time.Millisecond, "the rotated secret reaches the output")
			t.Logf("%s: rotation reached the output after %s (refresh 1s)", name, time.Since(rotated).Round(time.Millisecond))

			for _, path := range []string{"/status", "/metrics", "/readyz"} {
				resp, err := http.Get(base + path)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				printed.Write(b)
				if path == "/metrics" {
					assert.Contains(t, string(b), `store="`+name+`"`)
				}
			}
			cancel()
			select {
			case c := <-done:
				assert.Equal(t, 0, c)
			case <-time.After(20 * time.Second):
				t.Fatal("run did not stop")
			}
			printed.WriteString(stdout.String() + stderr.String())
			for _, v := range planted {
				assert.NotContains(t, printed.String(), v)
			}
		})
	}
}
