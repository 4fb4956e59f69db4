package awsssm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/resolvertest"
)

func newProvider(t *testing.T) (*awsssm.Provider, *awstest.Server, *resolvertest.LogBuffer) {
	t.Helper()
	s := awstest.New(t)
	var log resolvertest.LogBuffer
	p := awsssm.New(s.Config(), awsssm.Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return p, s, &log
}

// refErrors splits a GetBatch error into per-id errors and the others.
func refErrors(t *testing.T, err error) (map[string]error, []error) {
	t.Helper()
	perID := map[string]error{}
	var whole []error
	for _, e := range resolver.Unjoin(err) {
		var re *resolver.RefError
		if errors.As(e, &re) {
			assert.Empty(t, re.Store)
			perID[re.Ref.ID] = re
			continue
		}
		whole = append(whole, e)
	}
	return perID, whole
}

func values(m map[string]resolver.Secret) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.Value()
	}
	return out
}

func classes(perID map[string]error) map[string]string {
	out := make(map[string]string, len(perID))
	for id, e := range perID {
		out[id] = resolver.Class(e)
	}
	return out
}

func TestConformance(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutParameter("/openmetadata/db/password", "ssm-value-plain", false)
	s.PutParameter("/openmetadata/db/secure", "ssm-value-secure-v1", true)
	s.PutParameter("/openmetadata/db/secure", "ssm-value-secure-v2", true)
	s.LabelParameter("/openmetadata/db/secure", 1, "previous")
	s.PutStringList("/openmetadata/list", "ssm-item-a", "ssm-item-b")
	s.PutParameter("null-param", "null", true)
	s.PutParameter("json", `{"user":"ssm-json-user","password":"ssm-json-pass"}`, true)
	s.PutParameter("unicode", "ssm-value-юникод ✓", false)
	s.PutSecret("sm/db", "ssm-value-from-sm")
	s.PutParameter("/denied", "ssm-value-denied", true)
	s.DenyID("/denied")
	s.PutParameter("/kms", "ssm-value-kms", true)
	s.FailDecrypt("/kms")

	resolvertest.Run(t, p, []resolvertest.Case{
		{Name: "string", ID: "/openmetadata/db/password", Want: "ssm-value-plain"},
		{Name: "secure string decrypted", ID: "/openmetadata/db/secure", Want: "ssm-value-secure-v2"},
		{Name: "version selector", ID: "/openmetadata/db/secure:1", Want: "ssm-value-secure-v1"},
		{Name: "label selector", ID: "/openmetadata/db/secure:previous", Want: "ssm-value-secure-v1"},
		{Name: "string list", ID: "/openmetadata/list", Want: "ssm-item-a,ssm-item-b"},
		{Name: "null literal", ID: "null-param", WantNull: true},
		{Name: "json", ID: "json", Want: `{"user":"ssm-json-user","password":"ssm-json-pass"}`},
		{Name: "unicode", ID: "unicode", Want: "ssm-value-юникод ✓"},
		{Name: "secrets manager reference", ID: "/aws/reference/secretsmanager/sm/db", Want: "ssm-value-from-sm"},
		{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
		{Name: "missing version", ID: "/openmetadata/db/secure:9", WantErr: resolver.ErrNotFound},
		{Name: "missing label", ID: "/openmetadata/db/secure:nolabel", WantErr: resolver.ErrNotFound},
		{Name: "missing reference", ID: "/aws/reference/secretsmanager/sm/missing", WantErr: resolver.ErrNotFound},
		{Name: "denied", ID: "/denied", WantErr: resolver.ErrPermission},
		{Name: "kms", ID: "/kms", WantErr: resolver.ErrPermission},
		{Name: "space inside", ID: "/openmetadata/db password", WantErr: resolver.ErrBadRef},
		{Name: "too long", ID: "/" + strings.Repeat("x", 2048), WantErr: resolver.ErrBadRef},
	})
}

func TestGetBatchMixed(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.PutParameter("/m/plain", "mixed-plain", false)
	s.PutParameter("/m/secure", "mixed-secure", true)
	ids := []string{"/m/plain", "/m/secure", "/m/missing", "/m/secure:3", "", "/m/plain"}
	vals, err := p.GetBatch(t.Context(), ids)
	assert.Equal(t, map[string]string{"/m/plain": "mixed-plain", "/m/secure": "mixed-secure"}, values(vals))
	perID, whole := refErrors(t, err)
	assert.Empty(t, whole)
	assert.Equal(t, map[string]string{"/m/missing": "not_found", "/m/secure:3": "not_found", "": "bad_ref"}, classes(perID))
	assert.ErrorContains(t, perID["/m/missing"], "InvalidParameters")

	// One GetParameters call with the valid names, each once; the
	// SecureString came back decrypted, so WithDecryption was set.
	assert.Equal(t, [][]string{{"/m/plain", "/m/secure", "/m/missing", "/m/secure:3"}}, s.Requested(awstest.TargetGetParameters))
	assert.Zero(t, s.Calls(awstest.TargetGetParameter))
	assert.Equal(t, 10, p.MaxBatch())
	assert.Empty(t, log.String())
}

// TestSelectors checks that several selectors of one parameter in one
// call map back to the right versions although AWS names them all by the
// bare name.
func TestSelectors(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutParameter("/sel/p", "sel-v1", true)
	s.PutParameter("/sel/p", "sel-v2", true)
	s.PutParameter("/sel/p", "sel-v3", true)
	s.LabelParameter("/sel/p", 2, "prod")
	s.LabelParameter("/sel/p", 1, "old")
	ids := []string{"/sel/p", "/sel/p:1", "/sel/p:2", "/sel/p:prod", "/sel/p:old", "/sel/p:3"}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"/sel/p":      "sel-v3",
		"/sel/p:1":    "sel-v1",
		"/sel/p:2":    "sel-v2",
		"/sel/p:prod": "sel-v2",
		"/sel/p:old":  "sel-v1",
		"/sel/p:3":    "sel-v3",
	}, values(vals))
	for _, id := range ids {
		v, err := p.Get(t.Context(), id)
		require.NoError(t, err, id)
		assert.Equal(t, vals[id].Value(), v.Value(), id)
	}
}

func TestSecretsManagerReference(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	arn := s.PutSecret("prod/db", `{"password":"ref-json-pass"}`)
	s.PutParameter("/plain", "ref-plain", false)
	ref := "/aws/reference/secretsmanager/prod/db"
	byARN := "/aws/reference/secretsmanager/" + arn
	vals, err := p.GetBatch(t.Context(), []string{ref, byARN, "/plain"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{ref: `{"password":"ref-json-pass"}`, byARN: `{"password":"ref-json-pass"}`, "/plain": "ref-plain"}, values(vals))
	v, err := p.Get(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, `{"password":"ref-json-pass"}`, v.Value())

	// Parameter Store honours the secret's access rules.
	s.DenyID("prod/db")
	_, err = p.Get(t.Context(), ref)
	assert.ErrorIs(t, err, resolver.ErrPermission)
}

// TestFallbackActionDenied covers a policy that allows ssm:GetParameter
// but not ssm:GetParameters.
func TestFallbackActionDenied(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.PutParameter("/fb/a", "fallback-a", true)
	s.PutParameter("/fb/b", "fallback-b", false)
	s.Deny(awstest.ActionGetParameters)

	vals, err := p.GetBatch(t.Context(), []string{"/fb/a", "/fb/b", "/fb/missing"})
	assert.Equal(t, map[string]string{"/fb/a": "fallback-a", "/fb/b": "fallback-b"}, values(vals))
	perID, whole := refErrors(t, err)
	assert.Empty(t, whole)
	assert.Equal(t, map[string]string{"/fb/missing": "not_found"}, classes(perID))
	assert.Equal(t, 1, p.MaxBatch())
	assert.Equal(t, 1, s.Calls(awstest.TargetGetParameters))
	assert.Equal(t, 3, s.Calls(awstest.TargetGetParameter))

	vals, err = p.GetBatch(t.Context(), []string{"/fb/b"})
	require.NoError(t, err)
	assert.Equal(t, "fallback-b", vals["/fb/b"].Value())
	assert.Equal(t, 1, s.Calls(awstest.TargetGetParameters), "GetParameters is not tried again")

	out := log.String()
	assert.Equal(t, 1, strings.Count(out, "GetParameters is denied"), out)
	assert.Contains(t, out, "action=ssm:GetParameters")
	assert.NotContains(t, out, "/fb/")
	assert.NotContains(t, out, "fallback-")
}

// TestIsolateFailingName checks that one denied, undecryptable or invalid
// name fails alone instead of failing its whole GetParameters call, and
// that it does not switch the Provider to GetParameter.
func TestIsolateFailingName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*awstest.Server)
		badID     string
		wantClass string
	}{
		{name: "denied name", setup: func(s *awstest.Server) { s.DenyID("/iso/bad") }, badID: "/iso/bad", wantClass: "permission"},
		{name: "kms failure", setup: func(s *awstest.Server) { s.FailDecrypt("/iso/bad") }, badID: "/iso/bad", wantClass: "permission"},
		{name: "invalid name", setup: func(*awstest.Server) {}, badID: "/iso/bad#name", wantClass: "bad_ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, log := newProvider(t)
			s.PutParameter("/iso/a", "iso-a", true)
			s.PutParameter("/iso/b", "iso-b", false)
			s.PutParameter("/iso/bad", "iso-bad", true)
			tc.setup(s)
			vals, err := p.GetBatch(t.Context(), []string{"/iso/a", tc.badID, "/iso/b"})
			assert.Equal(t, map[string]string{"/iso/a": "iso-a", "/iso/b": "iso-b"}, values(vals))
			perID, whole := refErrors(t, err)
			assert.Empty(t, whole)
			assert.Equal(t, map[string]string{tc.badID: tc.wantClass}, classes(perID))
			assert.Equal(t, 1, s.Calls(awstest.TargetGetParameters))
			assert.Equal(t, 3, s.Calls(awstest.TargetGetParameter))
			assert.Equal(t, 10, p.MaxBatch(), "GetParameters stays in use")
			assert.Empty(t, log.String())

			// Without the bad name, batches work as before.
			vals, err = p.GetBatch(t.Context(), []string{"/iso/a", "/iso/b"})
			require.NoError(t, err)
			assert.Len(t, vals, 2)
			assert.Equal(t, 2, s.Calls(awstest.TargetGetParameters))
		})
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*awstest.Server)
		timeout   bool
		wantClass string
		wantMsg   string
		wantAfter time.Duration
	}{
		{name: "throttled", setup: func(s *awstest.Server) { s.Throttle(1) }, wantClass: "throttled", wantMsg: "ThrottlingException: Rate exceeded"},
		{name: "throttled with Retry-After", setup: func(s *awstest.Server) { s.Throttle(1); s.SetRetryAfter(4 * time.Second) }, wantClass: "throttled", wantAfter: 4 * time.Second},
		{name: "internal error", setup: func(s *awstest.Server) { s.FailNext(1, http.StatusInternalServerError) }, wantClass: "unavailable", wantMsg: "InternalServerError"},
		{name: "service unavailable", setup: func(s *awstest.Server) { s.FailNext(1, http.StatusServiceUnavailable) }, wantClass: "unavailable", wantMsg: "ServiceUnavailable"},
		{name: "dropped connection", setup: func(s *awstest.Server) { s.DropNext(1) }, wantClass: "unavailable"},
		{name: "timeout", setup: func(s *awstest.Server) { s.SetLatency(time.Minute) }, timeout: true, wantClass: "unavailable", wantMsg: "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newProvider(t)
			s.PutParameter("/ec/a", "error-class-value", true)
			ctx := func() (context.Context, context.CancelFunc) {
				if tc.timeout {
					return context.WithTimeout(t.Context(), 300*time.Millisecond)
				}
				return context.WithCancel(t.Context())
			}
			check := func(err error, calls int) {
				t.Helper()
				require.Error(t, err)
				assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
				assert.Contains(t, err.Error(), tc.wantMsg)
				after, ok := resolver.RetryAfter(err)
				assert.Equal(t, tc.wantAfter, after)
				assert.Equal(t, tc.wantAfter > 0, ok)
				assert.NotContains(t, err.Error(), "error-class-value")
				if tc.timeout {
					// A deadline may pass before the request is sent.
					assert.LessOrEqual(t, s.TotalCalls(), calls)
				} else {
					assert.Equal(t, calls, s.TotalCalls(), "one attempt per call")
				}
			}

			tc.setup(s)
			c1, cancel1 := ctx()
			defer cancel1()
			_, err := p.Get(c1, "/ec/a")
			check(err, 1)
			assert.Contains(t, err.Error(), `parameter "/ec/a"`)

			tc.setup(s)
			c2, cancel2 := ctx()
			defer cancel2()
			vals, err := p.GetBatch(c2, []string{"/ec/a", "/ec/b"})
			assert.Empty(t, vals)
			perID, whole := refErrors(t, err)
			assert.Empty(t, perID)
			require.Len(t, whole, 1)
			check(whole[0], 2)
			assert.Equal(t, 10, p.MaxBatch())
		})
	}
}

func TestOneAttemptPerCall(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("/oa", "one-attempt", false)
	cfg := s.Config()
	cfg.Retryer = func() aws.Retryer { return retry.NewStandard() }
	cfg.RetryMaxAttempts = 5
	p := awsssm.New(cfg, awsssm.Options{})
	s.FailNext(3, http.StatusInternalServerError)
	_, err := p.Get(t.Context(), "/oa")
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	s.Throttle(3)
	_, err = p.GetBatch(t.Context(), []string{"/oa"})
	assert.ErrorIs(t, err, resolver.ErrThrottled)
	assert.Equal(t, 2, s.TotalCalls())
}

func TestEndpointOption(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("/ep", "endpoint-value", false)
	cfg := s.Config()
	cfg.BaseEndpoint = nil
	v, err := awsssm.New(cfg, awsssm.Options{Endpoint: s.URL()}).Get(t.Context(), "/ep")
	require.NoError(t, err)
	assert.Equal(t, "endpoint-value", v.Value())
}

// TestNoValueLeaks plants a marker in every parameter, drives every
// failure path and checks that no error message and no log line carries
// it.
func TestNoValueLeaks(t *testing.T) {
	t.Parallel()
	const marker = "LEAK-MARKER-93ab"
	p, s, log := newProvider(t)
	s.PutParameter("/leak/a", marker, true)
	s.PutParameter("/leak/plain", marker, false)
	s.PutParameter("/leak/denied", marker, true)
	s.DenyID("/leak/denied")
	s.PutParameter("/leak/kms", marker, true)
	s.FailDecrypt("/leak/kms")
	s.PutSecret("leak-sm", marker)
	ids := []string{"/leak/a", "/leak/plain", "/leak/denied", "/leak/kms", "/leak/missing", "/leak/a:7", "/aws/reference/secretsmanager/leak-sm"}

	var msgs []string
	record := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	for _, fault := range []func(){
		func() {},
		func() { s.Throttle(1); s.SetRetryAfter(time.Second) },
		func() { s.FailNext(1, http.StatusInternalServerError) },
		func() { s.DropNext(1) },
	} {
		fault()
		_, err := p.GetBatch(t.Context(), ids)
		record(err)
		for _, id := range ids {
			fault()
			_, err := p.Get(t.Context(), id)
			record(err)
		}
	}
	s.Deny(awstest.ActionGetParameters)
	_, err := p.GetBatch(t.Context(), ids)
	record(err)

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"Parameters":[{"Name":"/leak/a","Value":"` + marker + `",`))
	}))
	defer broken.Close()
	bp := awsssm.New(s.Config(), awsssm.Options{Endpoint: broken.URL, Logger: slog.New(slog.NewTextHandler(log, nil))})
	_, err = bp.GetBatch(t.Context(), []string{"/leak/a"})
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	record(err)
	_, err = bp.Get(t.Context(), "/leak/a")
	record(err)

	require.NotEmpty(t, msgs)
	for _, m := range msgs {
		assert.False(t, strings.Contains(m, marker), "an error message carries the value")
	}
	assert.NotContains(t, log.String(), marker)
}

// TestThroughResolver runs the Provider under resolver.Resolver: chunks of
// at most 10 names and one server call per store call, a throttled call
// being retried by the Resolver.
func TestThroughResolver(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var refs []resolver.StoreRef
	want := map[string]string{}
	for i := range 25 {
		id := fmt.Sprintf("/om/%02d", i)
		s.PutParameter(id, "through-"+id, i%2 == 0)
		want[id] = "through-" + id
		refs = append(refs, resolver.StoreRef{Store: "aws-ssm", Ref: resolver.Ref{ID: id}})
	}
	refs = append(refs, refs[0], resolver.StoreRef{Store: "aws-ssm", Ref: resolver.Ref{ID: "/om/missing"}})
	r := resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"aws-ssm": p},
		Retry:  resolver.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler),
	})
	s.Throttle(1)
	vals, err := r.Resolve(t.Context(), refs)
	got := map[string]string{}
	for sr, v := range vals {
		got[sr.Ref.ID] = v.Value()
	}
	assert.Equal(t, want, got)
	assert.Equal(t, "not_found", resolver.Class(err))
	calls := s.Requested(awstest.TargetGetParameters)
	assert.Len(t, calls, 4, "three chunks and one retry of the throttled one")
	for _, c := range calls {
		assert.LessOrEqual(t, len(c), awsssm.MaxBatch)
	}
	assert.Equal(t, len(calls), s.TotalCalls())
}
