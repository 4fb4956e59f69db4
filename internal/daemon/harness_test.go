package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/metrics"
	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/status"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/internal/watch"
	"omsecrets/resolver"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/resolvertest"
	"omsecrets/sink"
)

// Planted values: every secret in these tests contains plant, so a scan
// of everything the daemon printed can prove none leaked.
const plant = "PLANTED"

const (
	jwtID      = "/openmetadata/bot/ingestion-bot/config/jwttoken"
	passwordID = "/openmetadata/database/mysql_prod/authtype/password"
)

// harness is an OpenMetadata test server, a file store on disk, a watched
// definitions directory, an output directory and a daemon over them.
type harness struct {
	t        *testing.T
	om       *omtest.Server
	secrets  sync.Map // env store variables
	defs     string   // watched definitions dir
	out      string   // output dir
	logs     *resolvertest.LogBuffer
	board    *status.Board
	metrics  *metrics.Recorder
	opts     options
	d        *daemon.Daemon
	botToken string
	planted  []string
	// storeDown makes the store answer unavailable, as in an outage.
	storeDown atomic.Bool
}

// outage is the env store, answering unavailable while down is set.
type outage struct {
	resolver.Getter
	down *atomic.Bool
}

func (o outage) Get(ctx context.Context, id string) (resolver.Secret, error) {
	if o.down.Load() {
		return resolver.Secret{}, fmt.Errorf("%w: outage", resolver.ErrUnavailable)
	}
	return o.Getter.Get(ctx, id)
}

// options are the daemon's and the reconciler's options a test may edit.
type options struct {
	daemon.Options
	Resolver *resolver.Resolver
	// Store is the env store Resolver reads, for edits that build
	// another Resolver over it.
	Store                          resolver.Getter
	Provider                       string
	Layout, JWTFile, HostPort      string
	Policy                         reconcile.Policy
	Timeout                        time.Duration
	OMRetryMax                     int
	OMRetryWaitMin, OMRetryWaitMax time.Duration
}

// reconciler builds the reconciler of o, as cmd does.
func (o *options) reconciler(t *testing.T) *reconcile.Reconciler {
	t.Helper()
	ropts := reconcile.Options{
		Resolver:  o.Resolver,
		Providers: reconcile.NewProviders([]resolver.Spec{{Name: "env", Providers: []string{"env"}}, {Name: "db", Providers: []string{"db"}}}),
		Provider:  o.Provider,
		Services: omclient.NewPool(omclient.PoolOptions{
			RetryMax: o.OMRetryMax, RetryWaitMin: o.OMRetryWaitMin, RetryWaitMax: o.OMRetryWaitMax,
			Logger: o.Logger, Observe: o.Metrics.OMRequest,
		}),
		Layout:   o.Layout,
		HostPort: o.HostPort,
		Policy:   o.Policy,
		Workers:  o.Workers,
		Timeout:  o.Timeout,
	}
	if o.JWTFile != "" {
		path := o.JWTFile
		ropts.JWT = func() (string, error) {
			data, err := os.ReadFile(path)
			return strings.TrimSpace(string(data)), err
		}
	}
	r, err := reconcile.New(ropts)
	require.NoError(t, err)
	return r
}

func newHarness(t *testing.T, edit ...func(*options)) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		om:      omtest.New(t),
		defs:    t.TempDir(),
		out:     t.TempDir(),
		logs:    &resolvertest.LogBuffer{},
		board:   status.New(),
		metrics: metrics.New(),
	}
	h.botToken = h.om.BotToken("ingestion-bot")
	h.planted = append(h.planted, h.botToken)
	h.setSecret(jwtID, h.botToken)
	h.setSecret(passwordID, plant+"-mysql-password-1")
	h.om.PutService("databaseService", omtest.ServiceEntity("mysql_prod", "Mysql", map[string]any{
		"username": "openmetadata_user",
		"authType": map[string]any{"password": "secret:" + passwordID},
		"hostPort": "mysql:3306",
	}))

	env := envvar.New(envvar.DefaultPrefix, func(k string) (string, bool) {
		v, ok := h.secrets.Load(k)
		if !ok {
			return "", false
		}
		return v.(string), true
	})
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	snk, err := sink.New(sink.Options{Dir: h.out, Group: -1, AllowDisk: true})
	require.NoError(t, err)
	store := outage{env, &h.storeDown}
	h.opts = options{
		Store: store,
		Resolver: resolver.New(resolver.Options{
			Stores:   map[string]resolver.Getter{"env": store},
			Retry:    resolver.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
			CacheTTL: time.Minute,
			Observer: h.metrics,
			Logger:   logger,
		}),
		Provider:       "env",
		Timeout:        30 * time.Second,
		OMRetryMax:     2,
		OMRetryWaitMin: 5 * time.Millisecond,
		OMRetryWaitMax: 20 * time.Millisecond,
		Options: daemon.Options{
			Sink:    snk,
			Workers: 4,
			Refresh: time.Hour,
			Logger:  logger,
			Metrics: h.metrics,
			Board:   h.board,
		},
	}
	for _, e := range edit {
		e(&h.opts)
	}
	h.opts.Reconciler = h.opts.reconciler(t)
	h.d, err = daemon.New(h.opts.Options)
	require.NoError(t, err)
	t.Cleanup(h.scanForLeaks)
	return h
}

// setSecret sets a secret in the env store (the daemon's store in these
// tests, with a variable per id, so that a path and its children can both
// be secrets as in OpenMetadata's layout).
func (h *harness) setSecret(id, value string) {
	h.t.Helper()
	h.secrets.Store(envvar.VarName(envvar.DefaultPrefix, id), value)
	if strings.Contains(value, plant) {
		h.planted = append(h.planted, value)
	}
}

// pipeline returns an IngestionPipeline JSON as OpenMetadata deploys it,
// for a metadata pipeline of service mysql_prod unless edited.
func (h *harness) pipeline(name string, edit ...func(map[string]any)) []byte {
	h.t.Helper()
	p := map[string]any{
		"id":                 "9e555cea-6a5a-4fe5-a9ad-4ff65efc8289",
		"name":               name,
		"pipelineType":       "metadata",
		"fullyQualifiedName": "mysql_prod." + name,
		"sourceConfig": map[string]any{"config": map[string]any{
			"type": "DatabaseMetadata", "markDeletedTables": true, "includeTables": true,
		}},
		"openMetadataServerConnection": map[string]any{
			"clusterName":            "openmetadata",
			"type":                   "OpenMetadata",
			"hostPort":               h.om.URL(),
			"authProvider":           "openmetadata",
			"verifySSL":              "no-ssl",
			"securityConfig":         map[string]any{"jwtToken": "secret:" + jwtID},
			"secretsManagerProvider": "aws",
			"secretsManagerLoader":   "noop",
		},
		"airflowConfig": map[string]any{"scheduleInterval": "0 * * * *"},
		"service": map[string]any{
			"id": "891b373d-a253-4639-ad54-fc17491a7d5d", "type": "databaseService",
			"name": "mysql_prod", "fullyQualifiedName": "mysql_prod",
		},
		"loggerLevel":  "INFO",
		"raiseOnError": true,
		"deployed":     true,
		"enabled":      true,
	}
	for _, e := range edit {
		e(p)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	require.NoError(h.t, err)
	return b
}

// writeDef writes a definition the way OpenMetadata's deploy does: in
// place (open, truncate, write).
func (h *harness) writeDef(name string, data []byte) string {
	h.t.Helper()
	p := filepath.Join(h.defs, name)
	require.NoError(h.t, os.WriteFile(p, data, 0o644))
	return p
}

// output reads an output file, or returns nil when it does not exist.
func (h *harness) output(name string) map[string]any {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.out, name))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(h.t, err)
	var m map[string]any
	require.NoError(h.t, json.Unmarshal(data, &m), "output %s is not JSON", name)
	return m
}

// password returns the resolved MySQL password of an output, "" when
// there is no output.
func password(m map[string]any) string {
	v, _ := dig(m, "source", "serviceConnection", "config", "authType", "password").(string)
	return v
}

func dig(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// start runs the daemon over a watcher on h.defs until the test ends.
func (h *harness) start() {
	h.t.Helper()
	w, err := watch.New(watch.Options{
		Dirs: []string{h.defs}, Quiet: 20 * time.Millisecond, MaxWait: 200 * time.Millisecond,
		Rescan: 500 * time.Millisecond, Logger: h.opts.Logger, Observe: h.metrics.WatchEvent,
	})
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan watch.Event)
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx, events) })
	wg.Go(func() { h.d.Run(ctx, events, w.Synced()) })
	h.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// eventually waits for cond, failing with msg.
func (h *harness) eventually(cond func() bool, msg string, args ...any) {
	h.t.Helper()
	require.Eventually(h.t, cond, 20*time.Second, 10*time.Millisecond, fmt.Sprintf(msg, args...))
}

// scanForLeaks checks that no planted value reached the logs, the status
// document or the metrics.
func (h *harness) scanForLeaks() {
	h.t.Helper()
	srv := httptest.NewServer(h.board.Handler(h.metrics.Handler()))
	defer srv.Close()
	var printed strings.Builder
	printed.WriteString(h.logs.String())
	for _, path := range []string{"/status", "/metrics", "/readyz", "/healthz"} {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(h.t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(h.t, err)
		printed.Write(body)
	}
	out := printed.String()
	assert.NotContains(h.t, out, plant, "a planted secret value was printed")
	for _, v := range h.planted {
		assert.NotContains(h.t, out, v, "a secret value was printed")
	}
}

// storeCalls sums omsecrets_store_calls_total.
func (h *harness) storeCalls() float64 {
	h.t.Helper()
	mfs, err := h.metrics.Registry().Gather()
	require.NoError(h.t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "omsecrets_store_calls_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
