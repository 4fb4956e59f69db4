package omtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/omtest"
	"omsecrets/internal/testbed/schematest"
)

// plainClient opens a new connection per request, so that a dropped
// connection is never retried transparently by the transport.
var plainClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   30 * time.Second,
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends GET url with "Authorization: Bearer token" (none if token is
// empty) and extra headers.
func get(t *testing.T, c *http.Client, u, token string, extra map[string]string) (response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// mustGet is get that requires a response.
func mustGet(t *testing.T, u, token string) response {
	t.Helper()
	r, err := get(t, plainClient, u, token, nil)
	require.NoError(t, err)
	return r
}

// decode decodes a JSON object body.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body: %s", b)
	return m
}

// requireError checks an OpenMetadata error response.
func requireError(t *testing.T, r response, status int, message string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	m := decode(t, r.body)
	assert.EqualValues(t, status, m["code"])
	assert.Equal(t, message, m["message"])
}

// config reads connection.config from a service body.
func config(t *testing.T, b []byte) map[string]any {
	t.Helper()
	conn, ok := decode(t, b)["connection"].(map[string]any)
	require.True(t, ok, "no connection object in %s", b)
	cfg, ok := conn["config"].(map[string]any)
	require.True(t, ok, "no connection.config in %s", b)
	return cfg
}

// mysql is a service entity whose password is a secret reference.
func mysql(name string) map[string]any {
	return omtest.ServiceEntity(name, "Mysql", map[string]any{
		"username": "om_user",
		"hostPort": "mysql:3306",
		"authType": map[string]any{"password": "secret:/omsecrets/mysql/password"},
	})
}

func svcURL(s *omtest.Server, coll, rest string) string {
	return s.URL() + "/v1/services/" + coll + "/" + rest
}

func TestServiceByIDAndName(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("mysql_prod"))

	byID := mustGet(t, svcURL(s, "databaseServices", id), bot)
	require.Equal(t, http.StatusOK, byID.status, "body: %s", byID.body)
	assert.Equal(t, "application/json", byID.header.Get("Content-Type"))
	m := decode(t, byID.body)
	assert.Equal(t, id, m["id"])
	assert.Equal(t, "mysql_prod", m["name"])
	assert.Equal(t, "mysql_prod", m["fullyQualifiedName"])
	assert.Equal(t, "Mysql", m["serviceType"])
	assert.Equal(t, false, m["deleted"])
	assert.EqualValues(t, 0.1, m["version"])
	assert.Equal(t, svcURL(s, "databaseServices", id), m["href"])
	cfg := config(t, byID.body)
	assert.Equal(t, "Mysql", cfg["type"], "ServiceEntity sets config.type")
	assert.Equal(t, map[string]any{"password": "secret:/omsecrets/mysql/password"}, cfg["authType"],
		"a bot sees secret references as stored")

	byName := mustGet(t, svcURL(s, "databaseServices", "name/mysql_prod?include=all"), bot)
	require.Equal(t, http.StatusOK, byName.status)
	assert.JSONEq(t, string(byID.body), string(byName.body))

	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, omtest.Request{Method: "GET", Path: "/api/v1/services/databaseServices/" + id, Status: 200, TokenKind: omtest.TokenBot}, reqs[0])
	assert.Equal(t, omtest.Request{Method: "GET", Path: "/api/v1/services/databaseServices/name/mysql_prod", Query: "include=all", Status: 200, TokenKind: omtest.TokenBot}, reqs[1])
	assert.Equal(t, 1, s.Count("/api/v1/services/databaseServices/"+id))
	assert.Equal(t, 0, s.Count("/api/v1/services/databaseServices/other"))
}

func TestEveryCollection(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	for coll, typ := range map[string]string{
		"databaseServices": "databaseService", "dashboardServices": "dashboardService",
		"messagingServices": "messagingService", "pipelineServices": "pipelineService",
		"mlmodelServices": "mlmodelService", "storageServices": "storageService",
		"metadataServices": "metadataService", "searchServices": "searchService",
		"apiServices": "apiService", "driveServices": "driveService",
		"securityServices": "securityService", "llmServices": "llmService",
	} {
		id := s.PutService(typ, omtest.ServiceEntity("svc_"+typ, "Custom", nil))
		r := mustGet(t, svcURL(s, coll, id), bot)
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", coll, r.body)
		// The same id under another collection is not found.
		other := mustGet(t, svcURL(s, "databaseServices", id), bot)
		if typ != "databaseService" {
			requireError(t, other, http.StatusNotFound, "databaseService instance for "+id+" not found")
		}
	}
}

func TestUserTokenSeesMask(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	user := s.UserToken("alice")
	svc := omtest.ServiceEntity("kafka", "Kafka", map[string]any{
		"bootstrapServers": "kafka:9092",
		"saslPassword":     "secret:/omsecrets/kafka/sasl",
		"consumerConfig":   map[string]any{"ssl.key.password": "secret:/omsecrets/kafka/key"},
		"list":             []any{"secret:/x", "plain"},
	})
	id := s.PutService("messagingService", svc)

	r := mustGet(t, svcURL(s, "messagingServices", id), user)
	require.Equal(t, http.StatusOK, r.status)
	cfg := config(t, r.body)
	assert.Equal(t, omtest.Mask, cfg["saslPassword"])
	assert.Equal(t, map[string]any{"ssl.key.password": omtest.Mask}, cfg["consumerConfig"])
	assert.Equal(t, []any{omtest.Mask, "plain"}, cfg["list"])
	assert.Equal(t, "kafka:9092", cfg["bootstrapServers"])
	assert.NotContains(t, string(r.body), "secret:")
	assert.Equal(t, omtest.TokenUser, s.Requests()[0].TokenKind)

	// Masking a response does not change what is stored.
	r = mustGet(t, svcURL(s, "messagingServices", id), s.BotToken("ingestion-bot"))
	assert.Equal(t, "secret:/omsecrets/kafka/sasl", config(t, r.body)["saslPassword"])
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	id := s.PutService("databaseService", mysql("db"))
	expired := s.BotToken("ingestion-bot")
	s.ExpireToken(expired)
	forbidden := s.UserToken("bob")
	s.ForbidToken(forbidden)
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	u := svcURL(s, "databaseServices", id)

	tests := []struct {
		name    string
		auth    string // the whole Authorization header; "" for none
		status  int
		message string
		kind    string
	}{
		{"no header", "", 401, "Not Authorized! Token not present", omtest.TokenNone},
		{"not bearer", "Basic dXNlcjpwYXNz", 401, "Not Authorized! Token not present", omtest.TokenNone},
		{"empty bearer", "Bearer ", 401, "Not Authorized! Token not present", omtest.TokenNone},
		{"opaque unknown", "Bearer not-a-jwt", 401, "Not Authorized! Invalid token.", omtest.TokenUnknown},
		{"jwt unknown", "Bearer " + jwtLike, 401, "Not Authorized! Invalid token. Token verification failed. Public key mismatch. due to com.auth0.jwt.exceptions.SignatureVerificationException: The Token's Signature resulted invalid when verified using the Algorithm: SHA256withRSA", omtest.TokenUnknown},
		{"expired", "Bearer " + expired, 401, "Expired token!", omtest.TokenExpired},
		{"forbidden", "Bearer " + forbidden, 403, "Principal: CatalogPrincipal{name='bob'} operations [ViewBasic] not allowed", omtest.TokenUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := map[string]string{}
			if tt.auth != "" {
				extra["Authorization"] = tt.auth
			}
			r, err := get(t, plainClient, u, "", extra)
			require.NoError(t, err)
			requireError(t, r, tt.status, tt.message)
			assert.Equal(t, "om-auth", r.header.Get("WWW-Authenticate"))
		})
	}
	reqs := s.Requests()
	require.Len(t, reqs, len(tests))
	for i, tt := range tests {
		assert.Equal(t, tt.kind, reqs[i].TokenKind, tt.name)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	s.PutService("databaseService", mysql("my.svc"))
	s.PutService("databaseService", mysql("a/b c"))
	missing := "2f4b8c1e-0000-4000-8000-000000000000"

	tests := []struct {
		name    string
		rest    string
		status  int
		message string
	}{
		{"unknown id", missing, 404, "databaseService instance for " + missing + " not found"},
		{"id not a uuid", "not-a-uuid", 404, "HTTP 404 Not Found"},
		{"unknown name", "name/nope", 404, "databaseService instance for nope not found"},
		{"dotted name unquoted", "name/my.svc", 404, "databaseService instance for my.svc not found"},
		{"dotted name quoted", "name/%22my.svc%22", 200, ""},
		{"slash and space escaped", "name/a%2Fb%20c", 200, ""},
		{"bad include", "name/%22my.svc%22?include=everything", 404, "HTTP 404 Not Found"},
		{"extra segment", missing + "/versions", 404, "HTTP 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustGet(t, svcURL(s, "databaseServices", tt.rest), bot)
			if tt.status == 200 {
				assert.Equal(t, 200, r.status, "body: %s", r.body)
				return
			}
			requireError(t, r, tt.status, tt.message)
		})
	}

	requireError(t, mustGet(t, s.URL()+"/v1/services/fooServices/"+missing, bot), 404, "HTTP 404 Not Found")
	requireError(t, mustGet(t, s.URL()+"/v1/tables/"+missing, bot), 404, "HTTP 404 Not Found")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, svcURL(s, "databaseServices", missing), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+bot)
	resp, err := plainClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestDeleteRecreateRename(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("dashboardService", omtest.ServiceEntity("looker", "Looker", nil))
	byID := func(id, query string) response { return mustGet(t, svcURL(s, "dashboardServices", id+query), bot) }

	s.SoftDeleteService("dashboardService", "looker")
	requireError(t, byID(id, ""), 404, "dashboardService instance for "+id+" not found")
	requireError(t, byID(id, "?include=non-deleted"), 404, "dashboardService instance for "+id+" not found")
	for _, q := range []string{"?include=all", "?include=deleted"} {
		r := byID(id, q)
		require.Equal(t, 200, r.status, q)
		assert.Equal(t, true, decode(t, r.body)["deleted"], q)
	}

	other := s.PutService("dashboardService", omtest.ServiceEntity("tableau", "Tableau", nil))
	requireError(t, byID(other, "?include=deleted"), 404, "dashboardService instance for "+other+" not found")

	newID := s.RecreateService("dashboardService", id)
	assert.NotEqual(t, id, newID)
	requireError(t, byID(id, "?include=all"), 404, "dashboardService instance for "+id+" not found")
	r := byID(newID, "?include=all")
	require.Equal(t, 200, r.status)
	m := decode(t, r.body)
	assert.Equal(t, "looker", m["name"])
	assert.Equal(t, svcURL(s, "dashboardServices", newID), m["href"])

	s.RenameService("dashboardService", newID, "looker.v2")
	r = mustGet(t, svcURL(s, "dashboardServices", "name/%22looker.v2%22?include=all"), bot)
	require.Equal(t, 200, r.status)
	assert.Equal(t, newID, decode(t, r.body)["id"])
	requireError(t, mustGet(t, svcURL(s, "dashboardServices", "name/looker?include=all"), bot), 404,
		"dashboardService instance for looker not found")

	s.DeleteService("dashboardService", "tableau")
	requireError(t, byID(other, "?include=all"), 404, "dashboardService instance for "+other+" not found")
}

func TestHide(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	user := s.UserToken("alice")
	id := s.PutService("databaseService", mysql("db"))
	u := svcURL(s, "databaseServices", id)

	tests := []struct {
		name  string
		set   func()
		check func(t *testing.T, m map[string]any)
	}{
		{"omit", func() { s.HideConnections(true) }, func(t *testing.T, m map[string]any) {
			assert.NotContains(t, m, "connection")
		}},
		{"null", func() { s.SetHide(omtest.HideNull) }, func(t *testing.T, m map[string]any) {
			require.Contains(t, m, "connection")
			assert.Nil(t, m["connection"])
		}},
		{"secrets", func() { s.SetHide(omtest.HideSecrets) }, func(t *testing.T, m map[string]any) {
			cfg := m["connection"].(map[string]any)["config"].(map[string]any)
			assert.Equal(t, "om_user", cfg["username"])
			assert.Equal(t, map[string]any{}, cfg["authType"], "the secret field is gone")
		}},
		{"shown again", func() { s.HideConnections(false) }, func(t *testing.T, m map[string]any) {
			assert.Contains(t, m, "connection")
		}},
	}
	for _, tt := range tests {
		tt.set()
		for _, tok := range []string{bot, user} {
			r := mustGet(t, u, tok)
			require.Equal(t, 200, r.status)
			tt.check(t, decode(t, r.body))
		}
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	u := svcURL(s, "databaseServices", id)

	s.FailNext(2, http.StatusServiceUnavailable, 1500*time.Millisecond)
	s.FailNext(1, http.StatusTooManyRequests, 0)
	s.FailNext(1, http.StatusForbidden, 0)
	for range 2 {
		r := mustGet(t, u, bot)
		requireError(t, r, 503, "Service Unavailable")
		assert.Equal(t, "2", r.header.Get("Retry-After"), "rounded up to whole seconds")
	}
	r := mustGet(t, u, bot)
	requireError(t, r, 429, "Too Many Requests")
	assert.Empty(t, r.header.Get("Retry-After"))
	requireError(t, mustGet(t, u, bot), 403, "Principal: CatalogPrincipal{name='omtest'} operations [ViewBasic] not allowed")
	assert.Equal(t, 200, mustGet(t, u, bot).status, "faults are used up")

	// A fault answers whatever is asked, even without a token.
	s.FailNext(1, http.StatusInternalServerError, 0)
	requireError(t, mustGet(t, s.URL()+"/anything", ""), 500, "Internal Server Error")
}

func TestDropAndDown(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	u := svcURL(s, "databaseServices", id)

	s.DropNext(2)
	for range 2 {
		_, err := get(t, plainClient, u, bot, nil)
		require.Error(t, err)
	}
	assert.Equal(t, 200, mustGet(t, u, bot).status)

	s.Down(true)
	for range 3 {
		_, err := get(t, plainClient, u, bot, nil)
		require.Error(t, err)
	}
	s.Down(false)
	assert.Equal(t, 200, mustGet(t, u, bot).status)

	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{0, 0, 200, 0, 0, 0, 200}, statuses)
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	u := svcURL(s, "databaseServices", id)

	s.SetLatency(300 * time.Millisecond)
	start := time.Now()
	assert.Equal(t, 200, mustGet(t, u, bot).status)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	// A client that gives up gets nothing and is recorded with status 0.
	s.SetLatency(time.Hour)
	impatient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 100 * time.Millisecond}
	_, err := get(t, impatient, u, bot, nil)
	require.Error(t, err)
	// The handler records the abandoned request once it sees the client
	// hang up on the real TCP connection, which nothing here can wait on:
	// poll, bounded. (omtest serves on a real listener, so this cannot run
	// in a synctest bubble: network I/O does not block durably there, and
	// bubble time would not move.)
	require.Eventually(t, func() bool { return len(s.Requests()) == 2 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0, s.Requests()[1].Status)
	s.SetLatency(0)
}

func TestHeadersAndTokenPrivacy(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	assert.Nil(t, s.LastHeaders())
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	r, err := get(t, plainClient, svcURL(s, "databaseServices", id), bot, map[string]string{"X-Tenant": "blue"})
	require.NoError(t, err)
	require.Equal(t, 200, r.status)

	h := s.LastHeaders()
	assert.Equal(t, "blue", h.Get("X-Tenant"))
	assert.Equal(t, "[redacted]", h.Get("Authorization"))
	h.Set("X-Tenant", "changed")
	assert.Equal(t, "blue", s.LastHeaders().Get("X-Tenant"), "LastHeaders returns a copy")

	for _, rec := range s.Requests() {
		assert.NotContains(t, fmt.Sprintf("%+v", rec), bot)
	}
	assert.NotContains(t, fmt.Sprint(s.LastHeaders()), bot)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	a, b := s.BotToken("ingestion-bot"), s.BotToken("ingestion-bot")
	assert.NotEqual(t, a, b, "tokens are random")
	parts := strings.Split(a, ".")
	require.Len(t, parts, 3, "JWT-shaped")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	assert.JSONEq(t, `true`, string(mustField(t, claims, "isBot")))
	u := s.UserToken("alice")
	claims, err = base64.RawURLEncoding.DecodeString(strings.Split(u, ".")[1])
	require.NoError(t, err)
	assert.JSONEq(t, `false`, string(mustField(t, claims, "isBot")))

	// Another server does not know these tokens.
	other := omtest.New(t)
	id := other.PutService("databaseService", mysql("db"))
	requireError(t, mustGet(t, svcURL(other, "databaseServices", id), a), 401,
		"Not Authorized! Invalid token. Token verification failed. Public key mismatch. due to com.auth0.jwt.exceptions.SignatureVerificationException: The Token's Signature resulted invalid when verified using the Algorithm: SHA256withRSA")
}

func mustField(t *testing.T, obj []byte, k string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &m))
	require.Contains(t, m, k)
	return m[k]
}

func TestTLS(t *testing.T) {
	t.Parallel()
	assert.Nil(t, omtest.New(t).CAPEM())

	s := omtest.New(t, omtest.TLS())
	require.True(t, strings.HasPrefix(s.URL(), "https://"), s.URL())
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	u := svcURL(s, "databaseServices", id)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.CAPEM()))
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	r, err := get(t, trusting, u, bot, nil)
	require.NoError(t, err)
	assert.Equal(t, 200, r.status)

	// localhost is in the certificate too.
	lu, err := url.Parse(u)
	require.NoError(t, err)
	lu.Host = "localhost:" + lu.Port()
	r, err = get(t, trusting, lu.String(), bot, nil)
	require.NoError(t, err)
	assert.Equal(t, 200, r.status)

	_, err = get(t, plainClient, u, bot, nil)
	var verr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verr, "the system roots do not trust the generated CA")
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for range 8 {
				if err := fetch(client, svcURL(s, "databaseServices", id), bot); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			s.PutService("pipelineService", omtest.ServiceEntity(fmt.Sprintf("p%d", i), "Airflow", nil))
			s.SetHide(omtest.Hide(i % 4))
			s.FailNext(1, 503, 0)
			_ = s.Requests()
			_ = s.LastHeaders()
			s.BotToken(fmt.Sprintf("bot%d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, s.Requests(), 64)
}

// fetch GETs u as token and accepts 200 or 503; it is safe to call from
// any goroutine.
func fetch(c *http.Client, u, token string) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 && resp.StatusCode != 503 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestPutServiceInputs(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")

	raw := json.RawMessage(`{"id":"11111111-2222-4333-8444-555555555555","name":"pg","serviceType":"Postgres","version":1.5,"connection":{"config":{"type":"Postgres"}}}`)
	id := s.PutService("databaseService", raw)
	assert.Equal(t, "11111111-2222-4333-8444-555555555555", id, "a given id is kept")
	r := mustGet(t, svcURL(s, "databaseServices", id), bot)
	require.Equal(t, 200, r.status)
	m := decode(t, r.body)
	assert.EqualValues(t, 1.5, m["version"], "given fields are kept")
	assert.Equal(t, "pg", m["fullyQualifiedName"])

	// Replacing by id.
	raw = json.RawMessage(`{"id":"11111111-2222-4333-8444-555555555555","name":"pg","serviceType":"Postgres","description":"v2"}`)
	s.PutService("databaseService", raw)
	r = mustGet(t, svcURL(s, "databaseServices", id), bot)
	assert.Equal(t, "v2", decode(t, r.body)["description"])

	cfg := map[string]any{"username": "u"}
	svc := omtest.ServiceEntity("x", "Mysql", cfg)
	assert.NotContains(t, cfg, "type", "ServiceEntity does not change its argument")
	assert.Equal(t, "Mysql", svc["connection"].(map[string]any)["config"].(map[string]any)["type"])
	svc = omtest.ServiceEntity("y", "Mysql", map[string]any{"type": "CustomDatabase"})
	assert.Equal(t, "CustomDatabase", svc["connection"].(map[string]any)["config"].(map[string]any)["type"])
}

// TestSharedExample stores the Python SDK docs' DatabaseService payload as
// is and reads it back.
func TestSharedExample(t *testing.T) {
	t.Parallel()
	dir := schematest.SharedDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "examples", "docs-python-sdk-database-service.json"))
	require.NoError(t, err)
	s := omtest.New(t)
	id := s.PutService("databaseService", json.RawMessage(raw))
	assert.Equal(t, "a823952a-1fc1-46d4-bd0e-27f9812871f4", id)
	r := mustGet(t, svcURL(s, "databaseServices", "name/test-service-table"), s.UserToken("alice"))
	require.Equal(t, 200, r.status)
	cfg := config(t, r.body)
	assert.Equal(t, "**********", cfg["password"], "a plain value (the docs' own mask) is not a secret reference")
	assert.Equal(t, "http://localhost:8585/api/v1/services/databaseServices/a823952a-1fc1-46d4-bd0e-27f9812871f4",
		decode(t, r.body)["href"], "a given href is kept")
}

func TestCleanupReleasesWaiters(t *testing.T) {
	t.Parallel()
	var s *omtest.Server
	done := make(chan error, 1)
	t.Run("server", func(t *testing.T) {
		s = omtest.New(t)
		s.SetLatency(time.Hour)
		bot := s.BotToken("ingestion-bot")
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, svcURL(s, "databaseServices", "x"), nil)
			req.Header.Set("Authorization", "Bearer "+bot)
			resp, err := plainClient.Do(req)
			if err == nil {
				resp.Body.Close()
				err = errors.New("got a response")
			}
			done <- err
		}()
		// The request reaches the handler over real TCP: poll, bounded,
		// as in TestLatency.
		require.Eventually(t, func() bool { return s.LastHeaders() != nil }, 10*time.Second, 5*time.Millisecond)
	})
	// The subtest's cleanup closed the server without waiting an hour.
	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("request still waiting after the server was closed")
	}
}
