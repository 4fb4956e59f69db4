package omclient_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/omclient"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver/resolvertest"
)

// slogJSON returns a debug-level JSON logger writing to w.
func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestNoLeaks runs the client through successes, fallbacks, every failure
// class, retries, drops and timeouts with a planted token, planted secret
// values in bodies and a planted extra header value, capturing every log
// line, error string and formatted result, and checks that none of the
// planted values appears in any of them.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	const (
		secretValue  = "PLANTED-db-password-7d1e"
		secretInBody = "PLANTED-description-value-0c4a"
		headerValue  = "PLANTED-extra-header-value-93b2"
	)
	s := omtest.New(t)
	bot := s.BotToken("ingestion-bot")
	expired := s.BotToken("old-bot")
	s.ExpireToken(expired)
	forbidden := s.UserToken("alice")
	s.ForbidToken(forbidden)

	svc := omtest.ServiceEntity("my.db", "Mysql", map[string]any{
		"username": "om_user",
		// The "db" secrets manager provider returns plain values to bots.
		"authType": map[string]any{"password": secretValue},
	})
	svc["description"] = secretInBody
	id := s.PutService("databaseService", svc)

	// A server that echoes the token and secrets in its error bodies.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusUnauthorized
		if strings.Contains(r.URL.Path, "/name/") {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"code":%d,"message":"bad token %s\n%s","details":%q,"header":%q}`,
			status, tok, secretValue, secretInBody, r.Header.Get("X-Api-Key"))
	}))
	t.Cleanup(echo.Close)

	var logs resolvertest.LogBuffer
	newLeakClient := func(base string, timeout time.Duration) *omclient.Client {
		opts := fastOptions(base)
		opts.Logger = slogJSON(&logs)
		opts.ExtraHeaders = map[string]string{"X-Api-Key": headerValue}
		opts.Timeout = timeout
		return newClient(t, opts)
	}
	c := newLeakClient(s.URL(), 20*time.Second)
	slow := newLeakClient(s.URL(), 150*time.Millisecond)
	echoClient := newLeakClient(echo.URL+"/api", 20*time.Second)

	var seen []string
	note := func(v any, err error) {
		if v != nil {
			seen = append(seen, fmt.Sprintf("%v|%+v|%#v", v, v, v))
		}
		if err != nil {
			seen = append(seen, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err))
		}
	}
	ref := omclient.ServiceRef{ID: id, Type: "databaseService", Name: "my.db"}
	ctx := t.Context()

	got, err := c.Service(ctx, bot, ref) // success by id
	require.NoError(t, err)
	require.Contains(t, string(got.Raw), secretValue, "the planted value did pass through")
	note(got, err)
	slogJSON(&logs).Info("fetched", "service", got)

	newID := s.RecreateService("databaseService", id) // fallback by name
	got, err = c.Service(ctx, bot, ref)
	require.NoError(t, err)
	require.Equal(t, newID, got.ID)
	note(got, err)
	ref.ID = newID

	for _, tok := range []string{expired, forbidden, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.PLANTED"} {
		got, err = c.Service(ctx, tok, ref)
		require.Error(t, err)
		note(got, err)
	}

	for _, fault := range []func(){
		func() { s.FailNext(1, 429, 0) },
		func() { s.FailNext(2, 503, 0) },
		func() { s.FailNext(3, 500, 0) }, // exhausted
		func() { s.DropNext(1) },
		func() { s.Down(true) }, // exhausted
	} {
		fault()
		got, err = c.Service(ctx, bot, ref)
		note(got, err)
		s.Down(false)
	}

	s.SetLatency(time.Minute)
	got, err = slow.Service(ctx, bot, ref) // attempt timeouts, exhausted
	require.Error(t, err)
	note(got, err)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	got, err = c.Service(cctx, bot, ref) // caller's deadline
	cancel()
	require.Error(t, err)
	note(got, err)
	s.SetLatency(0)

	s.DeleteService("databaseService", newID) // 404 by id, then by name
	got, err = c.Service(ctx, bot, ref)
	require.ErrorIs(t, err, omclient.ErrNotFound)
	note(got, err)

	got, err = echoClient.Service(ctx, bot, ref) // 401 by id, echoing
	require.ErrorIs(t, err, omclient.ErrUnauthorized)
	note(got, err)
	got, err = echoClient.Service(ctx, bot, omclient.ServiceRef{Type: "databaseService", Name: "x"}) // 500s, echoing
	require.ErrorIs(t, err, omclient.ErrUnavailable)
	note(got, err)

	got, err = c.Service(ctx, bot+" "+secretValue, ref) // unsendable token
	require.ErrorIs(t, err, omclient.ErrBadRef)
	note(got, err)

	out := logs.String()
	require.Contains(t, out, "performing request", "retryablehttp logged through our logger")
	require.Contains(t, out, "retrying request")
	require.Contains(t, out, "asking by name")
	all := out + "\n" + strings.Join(seen, "\n")
	for _, planted := range []string{bot, expired, forbidden, "PLANTED", secretValue, secretInBody, headerValue} {
		assert.NotContains(t, all, planted)
	}
	assert.Greater(t, len(seen), 15)
}
