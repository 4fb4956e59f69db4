package omclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/omclient"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/internal/testbed/schematest"
	"omsecrets/internal/workflow"
)

// classes are the error classes a failure may match.
var classes = []error{
	omclient.ErrUnauthorized, omclient.ErrForbidden, omclient.ErrNotFound,
	omclient.ErrUnavailable, omclient.ErrBadResponse, omclient.ErrBadRef,
}

// requireClass checks that err matches want and no other class.
func requireClass(t *testing.T, err error, want error) {
	t.Helper()
	require.Error(t, err)
	for _, c := range classes {
		assert.Equal(t, c == want, errors.Is(err, c), "errors.Is(%q, %v)", err, c)
	}
}

// fastOptions returns Options for base with short retry waits.
func fastOptions(base string) omclient.Options {
	return omclient.Options{
		BaseURL:      base,
		Timeout:      20 * time.Second,
		RetryMax:     2,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 20 * time.Millisecond,
	}
}

func newClient(t *testing.T, opts omclient.Options) *omclient.Client {
	t.Helper()
	c, err := omclient.New(opts)
	require.NoError(t, err)
	return c
}

// mysql is a service entity whose password is a secret reference.
func mysql(name string) map[string]any {
	return omtest.ServiceEntity(name, "Mysql", map[string]any{
		"username": "om_user",
		"hostPort": "mysql:3306",
		"authType": map[string]any{"password": "secret:/omsecrets/mysql/password"},
	})
}

func TestServiceByID(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("mysql_prod"))
	c := newClient(t, fastOptions(s.URL()))

	svc, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService", Name: "mysql_prod"})
	require.NoError(t, err)
	assert.Equal(t, "databaseService", svc.EntityType)
	assert.Equal(t, id, svc.ID)
	assert.Equal(t, "mysql_prod", svc.Name)
	assert.Equal(t, "mysql_prod", svc.FQN)
	assert.Equal(t, "Mysql", svc.ServiceType)
	assert.False(t, svc.Deleted)
	assert.JSONEq(t, `{"config":{"type":"Mysql","username":"om_user","hostPort":"mysql:3306",
		"authType":{"password":"secret:/omsecrets/mysql/password"}}}`, string(svc.Connection))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(svc.Raw, &raw))
	assert.Equal(t, id, raw["id"])
	assert.Contains(t, raw, "href")

	reqs := s.Requests()
	require.Len(t, reqs, 1, "no fallback when the id is found")
	assert.Equal(t, omtest.Request{Method: "GET", Path: "/api/v1/services/databaseServices/" + id,
		Query: "include=all", Status: 200, TokenKind: omtest.TokenBot}, reqs[0])
	h := s.LastHeaders()
	assert.Equal(t, "application/json", h.Get("Accept"))
	assert.Equal(t, omclient.DefaultUserAgent, h.Get("User-Agent"))
}

func TestNameFallback(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	oldID := s.PutService("databaseService", mysql("mysql_prod"))
	newID := s.RecreateService("databaseService", oldID)
	c := newClient(t, fastOptions(s.URL()))

	svc, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: oldID, Type: "databaseService", Name: "mysql_prod"})
	require.NoError(t, err)
	assert.Equal(t, newID, svc.ID, "found by name under its new id")
	var paths []string
	for _, r := range s.Requests() {
		paths = append(paths, fmt.Sprintf("%s %d", r.Path, r.Status))
	}
	assert.Equal(t, []string{
		"/api/v1/services/databaseServices/" + oldID + " 404",
		"/api/v1/services/databaseServices/name/mysql_prod 200",
	}, paths)

	// Only a name: one request, by name.
	svc, err = c.Service(t.Context(), bot, omclient.ServiceRef{Type: "databaseService", FQN: "mysql_prod"})
	require.NoError(t, err)
	assert.Equal(t, newID, svc.ID)
	assert.Len(t, s.Requests(), 3)

	// An id that is not a UUID is a JAX-RS 404 and falls back too.
	_, err = c.Service(t.Context(), bot, omclient.ServiceRef{ID: "not-a-uuid", Type: "databaseService", Name: "mysql_prod"})
	require.NoError(t, err)

	// Without a name there is nothing to fall back on.
	_, err = c.Service(t.Context(), bot, omclient.ServiceRef{ID: oldID, Type: "databaseService"})
	requireClass(t, err, omclient.ErrNotFound)
	var apiErr *omclient.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "/api/v1/services/databaseServices/"+oldID, apiErr.Path)
	assert.Equal(t, "databaseService instance for "+oldID+" not found", apiErr.Message)
	assert.Equal(t, 1, apiErr.Attempts, "a 404 is not retried")

	// Both gone: the name lookup's 404.
	s.DeleteService("databaseService", newID)
	_, err = c.Service(t.Context(), bot, omclient.ServiceRef{ID: oldID, Type: "databaseService", Name: "mysql_prod"})
	requireClass(t, err, omclient.ErrNotFound)
	assert.EqualError(t, err, "GET /api/v1/services/databaseServices/name/mysql_prod: 404 Not Found: databaseService instance for mysql_prod not found")
}

func TestNames(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	c := newClient(t, fastOptions(s.URL()))
	tests := []struct {
		name     string // the service name stored
		ref      omclient.ServiceRef
		wantPath string // the escaped name segment
	}{
		{"plain", omclient.ServiceRef{Name: "plain"}, "plain"},
		{"my.svc", omclient.ServiceRef{Name: "my.svc"}, "%22my.svc%22"},
		{"a.b", omclient.ServiceRef{FQN: `"a.b"`}, "%22a.b%22"},
		{"c.d", omclient.ServiceRef{Name: `"c.d"`}, "%22c.d%22"},
		{"with space+plus", omclient.ServiceRef{Name: "with space+plus"}, "with%20space%2Bplus"},
		{"a/b", omclient.ServiceRef{Name: "a/b"}, "a%2Fb"},
		{"50%?#", omclient.ServiceRef{Name: "50%?#"}, "50%25%3F%23"},
		{"dönerß", omclient.ServiceRef{Name: "dönerß"}, "d%C3%B6ner%C3%9F"},
	}
	for _, tt := range tests {
		id := s.PutService("databaseService", mysql(tt.name))
		t.Run(tt.name, func(t *testing.T) {
			ref := tt.ref
			ref.Type = "databaseService"
			svc, err := c.Service(t.Context(), bot, ref)
			require.NoError(t, err)
			assert.Equal(t, id, svc.ID)
			assert.Equal(t, tt.name, svc.Name)
			assert.Equal(t, 1, s.Count("/api/v1/services/databaseServices/name/"+tt.wantPath))
		})
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	id := s.PutService("databaseService", mysql("db"))
	ref := omclient.ServiceRef{ID: id, Type: "databaseService"}
	path := "/api/v1/services/databaseServices/" + id
	expired := s.BotToken("ingestion-bot")
	s.ExpireToken(expired)
	forbidden := s.UserToken("alice")
	s.ForbidToken(forbidden)
	bot := s.BotToken("ingestion-bot")

	tests := []struct {
		name     string
		token    string
		setup    func()
		class    error
		status   int
		message  string
		attempts int
	}{
		{"expired", expired, nil, omclient.ErrUnauthorized, 401, "Expired token!", 1},
		{"unknown token", "opaque-token", nil, omclient.ErrUnauthorized, 401, "Not Authorized! Invalid token.", 1},
		{"unknown jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", nil, omclient.ErrUnauthorized, 401,
			"Not Authorized! Invalid token. Token verification failed. Public key mismatch. due to com.auth0.jwt.exceptions.SignatureVerificationException: The Token's Signature resulted invalid when verified u...", 1},
		{"forbidden", forbidden, nil, omclient.ErrForbidden, 403, "Principal: CatalogPrincipal{name='alice'} operations [ViewBasic] not allowed", 1},
		{"429 exhausted", bot, func() { s.FailNext(3, 429, 0) }, omclient.ErrUnavailable, 429, "Too Many Requests", 3},
		{"503 exhausted", bot, func() { s.FailNext(3, 503, 0) }, omclient.ErrUnavailable, 503, "Service Unavailable", 3},
		{"500 exhausted", bot, func() { s.FailNext(3, 500, 0) }, omclient.ErrUnavailable, 500, "Internal Server Error", 3},
		{"400 not retried", bot, func() { s.FailNext(1, 400, 0) }, nil, 400, "Bad Request", 1},
		{"501 not retried", bot, func() { s.FailNext(1, 501, 0) }, omclient.ErrUnavailable, 501, "Not Implemented", 1},
	}
	c := newClient(t, fastOptions(s.URL()))
	for _, tt := range tests {
		// Sequential: the faults are queued on the shared server.
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			before := len(s.Requests())
			_, err := c.Service(t.Context(), tt.token, ref)
			requireClass(t, err, tt.class)
			var apiErr *omclient.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "GET", apiErr.Method)
			assert.Equal(t, path, apiErr.Path)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, tt.message, apiErr.Message)
			assert.Equal(t, tt.attempts, apiErr.Attempts)
			assert.Equal(t, tt.attempts, len(s.Requests())-before, "requests the server saw")
			msg := err.Error()
			assert.NotContains(t, msg, "\n")
			assert.Contains(t, msg, "GET "+path+": "+fmt.Sprint(tt.status))
			assert.NotContains(t, msg, tt.token)
		})
	}
	assert.Equal(t, 200, func() int {
		_, err := c.Service(t.Context(), bot, ref)
		require.NoError(t, err, "the queue of faults is empty again")
		return 200
	}())
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    func(s *omtest.Server)
		requests int
		minWait  time.Duration
	}{
		{"429 with Retry-After", func(s *omtest.Server) { s.FailNext(1, 429, time.Second) }, 2, 950 * time.Millisecond},
		{"503 twice", func(s *omtest.Server) { s.FailNext(2, 503, 0) }, 3, 0},
		{"500 then 502", func(s *omtest.Server) { s.FailNext(1, 500, 0); s.FailNext(1, 502, 0) }, 3, 0},
		{"dropped connection", func(s *omtest.Server) { s.DropNext(1) }, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := omtest.New(t)
			bot := s.BotToken("ingestion-bot")
			id := s.PutService("databaseService", mysql("db"))
			opts := fastOptions(s.URL())
			opts.RetryWaitMax = 5 * time.Second // room for Retry-After
			var mu sync.Mutex
			var observed []int
			opts.Observe = func(op string, status int, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				assert.Equal(t, omclient.OpServiceByID, op)
				observed = append(observed, status)
			}
			c := newClient(t, opts)
			tt.fault(s)

			start := time.Now()
			svc, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
			require.NoError(t, err)
			assert.Equal(t, id, svc.ID)
			assert.GreaterOrEqual(t, time.Since(start), tt.minWait)
			// The transport may retry a dropped idle connection by itself, so
			// the server can see more requests than attempts were made.
			assert.GreaterOrEqual(t, len(s.Requests()), tt.requests)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, observed, tt.requests)
			assert.Equal(t, 200, observed[len(observed)-1])
		})
	}
}

func TestNoResponse(t *testing.T) {
	t.Parallel()
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		s := omtest.New(t)
		bot := s.BotToken("ingestion-bot")
		id := s.PutService("databaseService", mysql("db"))
		s.Down(true)
		c := newClient(t, fastOptions(s.URL()))
		_, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
		requireClass(t, err, omclient.ErrUnavailable)
		var apiErr *omclient.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 0, apiErr.StatusCode)
		assert.Equal(t, 3, apiErr.Attempts)
		assert.GreaterOrEqual(t, len(s.Requests()), 3)
		assert.Contains(t, err.Error(), "(after 3 attempts)")
		assert.NotContains(t, err.Error(), "http://", "the URL is not repeated")
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		c := newClient(t, fastOptions("http://"+addr+"/api"))
		_, err = c.Service(t.Context(), "tok", omclient.ServiceRef{ID: "x", Type: "databaseService"})
		requireClass(t, err, omclient.ErrUnavailable)
		assert.Contains(t, err.Error(), "connection refused")
	})
	t.Run("attempt timeout", func(t *testing.T) {
		t.Parallel()
		s := omtest.New(t)
		bot := s.BotToken("ingestion-bot")
		id := s.PutService("databaseService", mysql("db"))
		s.SetLatency(time.Minute)
		opts := fastOptions(s.URL())
		opts.Timeout = 200 * time.Millisecond
		opts.RetryMax = 1
		c := newClient(t, opts)
		_, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
		requireClass(t, err, omclient.ErrUnavailable)
		var apiErr *omclient.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 2, apiErr.Attempts)
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		assert.True(t, netErr.Timeout())
	})
	t.Run("caller context", func(t *testing.T) {
		t.Parallel()
		s := omtest.New(t)
		bot := s.BotToken("ingestion-bot")
		id := s.PutService("databaseService", mysql("db"))
		s.SetLatency(time.Minute)
		c := newClient(t, fastOptions(s.URL()))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Service(ctx, bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
		requireClass(t, err, omclient.ErrUnavailable)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestEveryServiceType(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	c := newClient(t, fastOptions(s.URL()))
	want := []string{"apiService", "dashboardService", "databaseService", "driveService", "llmService",
		"messagingService", "metadataService", "mlmodelService", "pipelineService", "searchService",
		"securityService", "storageService"}
	require.Equal(t, want, omclient.ServiceTypes())
	for _, typ := range omclient.ServiceTypes() {
		t.Run(typ, func(t *testing.T) {
			coll := typ + "s" // every resource class's @Path (see collections)
			id := s.PutService(typ, omtest.ServiceEntity("svc_"+typ, "Custom", map[string]any{"token": "secret:/t"}))
			svc, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: typ})
			require.NoError(t, err)
			assert.Equal(t, typ, svc.EntityType)
			assert.Equal(t, "svc_"+typ, svc.Name)
			assert.Equal(t, 1, s.Count("/api/v1/services/"+coll+"/"+id))
		})
	}
	// Any other type is refused before a request (TestBadRef).
}

func TestBadRef(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	c := newClient(t, fastOptions(s.URL()))
	tests := []struct {
		name    string
		token   string
		ref     omclient.ServiceRef
		message string
	}{
		{"unsupported type", bot, omclient.ServiceRef{ID: "x", Type: "tableService"}, `unsupported service type "tableService" (supported: apiService, `},
		{"empty type", bot, omclient.ServiceRef{ID: "x"}, `unsupported service type ""`},
		{"no id or name", bot, omclient.ServiceRef{Type: "databaseService"}, "databaseService reference has neither id nor name"},
		{"empty token", "", omclient.ServiceRef{ID: "x", Type: "databaseService"}, "empty token"},
		{"token with newline", bot + "\nX-Evil: 1", omclient.ServiceRef{ID: "x", Type: "databaseService"}, "white space or control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Service(t.Context(), tt.token, tt.ref)
			requireClass(t, err, omclient.ErrBadRef)
			assert.Contains(t, err.Error(), tt.message)
			assert.NotContains(t, err.Error(), bot)
		})
	}
	t.Cleanup(func() { assert.Empty(t, s.Requests(), "no request for a bad reference") })
}

func TestHiddenConnection(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	user := s.UserToken("alice")
	id := s.PutService("databaseService", mysql("db"))
	c := newClient(t, fastOptions(s.URL()))
	ref := omclient.ServiceRef{ID: id, Type: "databaseService"}
	get := func(tok string) *omclient.Service {
		t.Helper()
		svc, err := c.Service(t.Context(), tok, ref)
		require.NoError(t, err)
		return svc
	}

	svc := get(user)
	assert.Contains(t, string(svc.Connection), `"password":"*********"`, "returned as is; judging the mask is the caller's job")

	for _, h := range []omtest.Hide{omtest.HideOmit, omtest.HideNull} {
		s.SetHide(h)
		assert.Nil(t, get(bot).Connection, "hide mode %d", h)
		assert.Nil(t, get(user).Connection, "hide mode %d", h)
	}
	s.SetHide(omtest.HideSecrets)
	svc = get(bot)
	require.NotNil(t, svc.Connection)
	assert.JSONEq(t, `{"config":{"type":"Mysql","username":"om_user","hostPort":"mysql:3306","authType":{}}}`, string(svc.Connection))
}

func TestSoftDeleted(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("pipelineService", omtest.ServiceEntity("airflow", "Airflow", nil))
	s.SoftDeleteService("pipelineService", id)
	c := newClient(t, fastOptions(s.URL()))
	svc, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "pipelineService"})
	require.NoError(t, err, "include=all returns soft-deleted services")
	assert.True(t, svc.Deleted)
	assert.Contains(t, svc.String(), "deleted")
}

func TestExtraHeaders(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	opts := fastOptions(s.URL())
	opts.ExtraHeaders = map[string]string{"x-tenant": "blue", "X-Api-Key": "k-123", "User-Agent": "custom-agent"}
	opts.UserAgent = "ignored-by-extra"
	c := newClient(t, opts)
	_, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
	require.NoError(t, err)
	h := s.LastHeaders()
	assert.Equal(t, "blue", h.Get("X-Tenant"))
	assert.Equal(t, "k-123", h.Get("X-Api-Key"))
	assert.Equal(t, "custom-agent", h.Get("User-Agent"), "extra headers override User-Agent")
	assert.Equal(t, "application/json", h.Get("Accept"))
	assert.Equal(t, omtest.TokenBot, s.Requests()[0].TokenKind)

	for _, tt := range []struct{ name, key, value, message string }{
		{"authorization", "authorization", "Bearer other", "extra header Authorization is not allowed"},
		{"accept", "Accept", "text/html", "extra header Accept is not allowed"},
		{"host", "HOST", "evil", "extra header Host is not allowed"},
		{"bad name", "X Bad", "value-1", `extra header name "X Bad" is not a valid HTTP header name`},
		{"empty name", "", "value-2", `extra header name "" is not a valid`},
		{"crlf value", "X-Key", "v\r\nX-Injected: secret-header-value", "extra header X-Key: value holds a line break"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := fastOptions(s.URL())
			opts.ExtraHeaders = map[string]string{tt.key: tt.value}
			_, err := omclient.New(opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.message)
			assert.NotContains(t, err.Error(), tt.value, "header values are never quoted")
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mod     func(*omclient.Options)
		message string
	}{
		{"defaults", func(*omclient.Options) {}, ""},
		{"no retries", func(o *omclient.Options) { o.RetryMax = -1 }, ""},
		{"wait max below min", func(o *omclient.Options) { o.RetryWaitMin, o.RetryWaitMax = time.Second, time.Millisecond }, "retry wait max 1ms is less than min 1s"},
		{"negative timeout", func(o *omclient.Options) { o.Timeout = -time.Second }, "negative timeout"},
		{"no api", func(o *omclient.Options) { o.BaseURL = "http://om:8585" }, "must end in /api"},
		{"credentials", func(o *omclient.Options) { o.BaseURL = "http://bot:pa55word@om:8585/api" }, "holds user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := omclient.Options{BaseURL: "http://om:8585/api/"}
			tt.mod(&opts)
			c, err := omclient.New(opts)
			if tt.message == "" {
				require.NoError(t, err)
				assert.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.message)
			assert.NotContains(t, err.Error(), "pa55word")
		})
	}
}

func TestNoRetriesAndTrailingSlash(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	opts := fastOptions(s.URL() + "/")
	opts.RetryMax = -1
	c := newClient(t, opts)
	s.FailNext(1, 503, 0)
	_, err := c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
	requireClass(t, err, omclient.ErrUnavailable)
	_, err = c.Service(t.Context(), bot, omclient.ServiceRef{ID: id, Type: "databaseService"})
	require.NoError(t, err)
	assert.Equal(t, 2, s.Count("/api/v1/services/databaseServices/"+id), "one attempt each, no double slash")
}

// TestBadResponses uses a hand-written server for answers omtest never
// gives.
func TestBadResponses(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		n := hits[r.URL.Path]
		mu.Unlock()
		name := strings.TrimPrefix(r.URL.Path, "/api/v1/services/databaseServices/name/")
		switch name {
		case "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>PLANTED-secret-in-html</html>"))
		case "noid":
			_, _ = w.Write([]byte(`{"name":"noid","connection":{"config":{"password":"PLANTED-secret"}}}`))
		case "connstring":
			_, _ = w.Write([]byte(`{"id":"i","name":"connstring","connection":"PLANTED-secret"}`))
		case "huge":
			_, _ = w.Write([]byte(`{"id":"i","name":"huge","pad":"`))
			_, _ = w.Write([]byte(strings.Repeat("x", omclient.MaxBodySize)))
			_, _ = w.Write([]byte(`"}`))
		case "redirect":
			http.Redirect(w, r, "http://elsewhere.invalid/steal", http.StatusFound)
		case "cut":
			if n == 1 {
				// Promise a longer body than is sent, then hang up.
				w.Header().Set("Content-Length", "1000")
				w.WriteHeader(200)
				_, _ = w.Write([]byte(`{"id":"i",`))
				w.(http.Flusher).Flush()
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
			_, _ = w.Write([]byte(`{"id":"i","name":"cut"}`))
		case "echo":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"code":401,"message":"Not Authorized! token %s is bad","details":"PLANTED-secret"}`, r.Header.Get("Authorization")[len("Bearer "):])
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, fastOptions(srv.URL+"/api"))
	const token = "opaque-token-value-1234"
	get := func(name string) (*omclient.Service, error) {
		return c.Service(t.Context(), token, omclient.ServiceRef{Type: "databaseService", FQN: name})
	}

	for _, tt := range []struct{ name, message string }{
		{"html", "not a service entity: invalid JSON at byte 1"},
		{"noid", "not a service entity: entity has no id or name"},
		{"connstring", "not a service entity: connection is not a JSON object"},
		{"huge", "body exceeds 8388608 bytes"},
	} {
		_, err := get(tt.name)
		requireClass(t, err, omclient.ErrBadResponse)
		assert.Contains(t, err.Error(), tt.message, tt.name)
		assert.Contains(t, err.Error(), "GET /api/v1/services/databaseServices/name/"+tt.name, tt.name)
		assert.NotContains(t, err.Error(), "PLANTED", tt.name)
	}

	_, err := get("redirect")
	requireClass(t, err, nil)
	var apiErr *omclient.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusFound, apiErr.StatusCode, "redirects are not followed")

	svc, err := get("cut")
	require.NoError(t, err, "a body cut short is retried")
	assert.Equal(t, "cut", svc.Name)
	assert.Equal(t, 2, hits["/api/v1/services/databaseServices/name/cut"])

	_, err = get("echo")
	requireClass(t, err, omclient.ErrUnauthorized)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "Not Authorized! token [redacted] is bad", apiErr.Message)
	assert.NotContains(t, err.Error(), token)
	assert.NotContains(t, err.Error(), "PLANTED")
}

func TestServiceFormatting(t *testing.T) {
	t.Parallel()
	svc := &omclient.Service{
		Service: workflow.Service{
			EntityType: "databaseService", ID: "i", Name: "my.svc", FQN: `"my.svc"`, ServiceType: "Mysql",
			Connection: json.RawMessage(`{"config":{"password":"PLANTED-value"}}`),
		},
		Raw: json.RawMessage(`{"connection":{"config":{"password":"PLANTED-value"}}}`),
	}
	for _, s := range []string{fmt.Sprint(svc), fmt.Sprintf("%v %+v %#v %s", svc, svc, svc, svc), fmt.Sprintf("%v", *svc)} {
		assert.NotContains(t, s, "PLANTED")
	}
	assert.Equal(t, `databaseService "\"my.svc\"" (id i)`, svc.String())
	var buf strings.Builder
	slogJSON(&buf).Info("fetched", "service", svc)
	assert.NotContains(t, buf.String(), "PLANTED")
	assert.Contains(t, buf.String(), `"serviceType":"Mysql"`)
	assert.Contains(t, buf.String(), `"connection":true`)
	var nilSvc *omclient.Service
	assert.Equal(t, "<nil service>", nilSvc.String())
}

// TestSharedExample serves the Python SDK docs' DatabaseService payload.
func TestSharedExample(t *testing.T) {
	t.Parallel()
	dir := schematest.SharedDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "examples", "docs-python-sdk-database-service.json"))
	require.NoError(t, err)
	s := omtest.New(t)
	s.PutService("databaseService", json.RawMessage(raw))
	c := newClient(t, fastOptions(s.URL()))
	svc, err := c.Service(t.Context(), s.BotToken("ingestion-bot"), omclient.ServiceRef{
		ID: "a823952a-1fc1-46d4-bd0e-27f9812871f4", Type: "databaseService", Name: "test-service-table",
	})
	require.NoError(t, err)
	assert.Equal(t, "Mysql", svc.ServiceType)
	assert.Equal(t, "test-service-table", svc.FQN, "FQN defaults to the name")
	var conn struct {
		Config map[string]any `json:"config"`
	}
	require.NoError(t, json.Unmarshal(svc.Connection, &conn))
	assert.Equal(t, "Mysql", conn.Config["type"])
	assert.Equal(t, "mysql+pymysql", conn.Config["scheme"])
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	s := omtest.New(t)
	opts := fastOptions(s.URL())
	opts.RetryMax = 4 // more attempts than queued faults: every call succeeds
	c := newClient(t, opts)
	var ids [8]string
	var toks [8]string
	for i := range ids {
		ids[i] = s.PutService("databaseService", mysql(fmt.Sprintf("db%d", i)))
		toks[i] = s.BotToken(fmt.Sprintf("bot%d", i))
	}
	s.FailNext(4, 503, 0)
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Go(func() {
			svc, err := c.Service(context.Background(), toks[i], omclient.ServiceRef{ID: ids[i], Type: "databaseService"})
			if err == nil && svc.ID != ids[i] {
				err = fmt.Errorf("got %s for %s", svc.ID, ids[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}
