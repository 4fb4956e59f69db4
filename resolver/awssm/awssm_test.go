package awssm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/resolvertest"
)

// newProvider returns a Provider on a fresh awstest.Server, and the
// Server and the Provider's log.
func newProvider(t *testing.T) (*awssm.Provider, *awstest.Server, *resolvertest.LogBuffer) {
	t.Helper()
	s := awstest.New(t)
	var log resolvertest.LogBuffer
	p := awssm.New(s.Config(), awssm.Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return p, s, &log
}

// refErrors returns the per-id errors of a GetBatch error by id, and the
// errors that are not per-id.
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

func TestConformance(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	arn := s.PutSecret("/openmetadata/db/password", "sm-value-plain")
	s.PutSecret("json", `{"user":"sm-json-user","password":"sm-json-pass"}`)
	s.PutSecret("null-secret", "null")
	s.PutSecret("unicode", "sm-value-юникод ✓")
	s.PutSecret("spaces", "  sm-value-spaced \n")
	s.PutSecretBinary("binary", []byte("sm-binary-bytes"))
	s.PutSecret("denied", "sm-value-denied")
	s.DenyID("denied")
	s.PutSecret("kms", "sm-value-kms")
	s.FailDecrypt("kms")
	s.PutSecret("deleting", "sm-value-deleting")
	s.ScheduleSecretDeletion("deleting")

	resolvertest.Run(t, p, []resolvertest.Case{
		{Name: "by name", ID: "/openmetadata/db/password", Want: "sm-value-plain"},
		{Name: "by ARN", ID: arn, Want: "sm-value-plain"},
		{Name: "by partial ARN", ID: arn[:len(arn)-7], Want: "sm-value-plain"},
		{Name: "json", ID: "json", Want: `{"user":"sm-json-user","password":"sm-json-pass"}`},
		{Name: "null literal", ID: "null-secret", WantNull: true},
		{Name: "unicode", ID: "unicode", Want: "sm-value-юникод ✓"},
		{Name: "spaces kept", ID: "spaces", Want: "  sm-value-spaced \n"},
		{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
		{Name: "binary", ID: "binary", WantErr: resolver.ErrBadRef},
		{Name: "denied", ID: "denied", WantErr: resolver.ErrPermission},
		{Name: "kms", ID: "kms", WantErr: resolver.ErrPermission},
		{Name: "marked for deletion", ID: "deleting", WantErr: resolver.ErrNotFound},
		{Name: "too long", ID: strings.Repeat("x", 2049), WantErr: resolver.ErrBadRef},
	})
}

func TestGetBatchMixed(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	arnA := s.PutSecret("mixed/a", "mixed-value-a")
	s.PutSecret("mixed/b", "mixed-value-b")
	s.PutSecretBinary("mixed/bin", []byte{1, 2, 3})
	s.PutSecret("mixed/denied", "mixed-value-denied")
	s.DenyID("mixed/denied")
	s.PutSecret("mixed/kms", "mixed-value-kms")
	s.FailDecrypt("mixed/kms")

	ids := []string{arnA, "mixed/b", "mixed/missing", "mixed/bin", "mixed/denied", "mixed/kms", ""}
	vals, err := p.GetBatch(t.Context(), ids)
	require.Len(t, vals, 2)
	assert.Equal(t, "mixed-value-a", vals[arnA].Value())
	assert.Equal(t, "mixed-value-b", vals["mixed/b"].Value())

	perID, whole := refErrors(t, err)
	assert.Empty(t, whole)
	want := map[string]string{
		"mixed/missing": "not_found",
		"mixed/bin":     "bad_ref",
		"mixed/denied":  "permission",
		"mixed/kms":     "permission",
		"":              "bad_ref",
	}
	got := map[string]string{}
	for id, e := range perID {
		got[id] = resolver.Class(e)
	}
	assert.Equal(t, want, got)
	assert.ErrorContains(t, perID["mixed/bin"], "binary secret is not supported; store the value as SecretString")
	assert.ErrorContains(t, perID["mixed/kms"], "DecryptionFailure")
	assert.ErrorContains(t, perID["mixed/missing"], "ResourceNotFoundException")

	// One call, with every valid id and nothing else.
	assert.Equal(t, [][]string{ids[:6]}, s.Requested(awstest.TargetBatchGetSecretValue))
	assert.Zero(t, s.Calls(awstest.TargetGetSecretValue))
}

// TestGetBatchARNs checks that results are mapped back to the form of id
// that asked: name, full ARN or partial ARN, even several forms of the
// same secret in one call.
func TestGetBatchARNs(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	arn := s.PutSecret("prod/db", "arn-value")
	arn2 := s.PutSecret("prod/db-2", "arn-value-2")
	partial := arn[:len(arn)-7]

	vals, err := p.GetBatch(t.Context(), []string{partial, arn, "prod/db", arn2, arn2[:len(arn2)-7]})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		partial:            "arn-value",
		arn:                "arn-value",
		"prod/db":          "arn-value",
		arn2:               "arn-value-2",
		arn2[:len(arn2)-7]: "arn-value-2",
	}, values(vals))

	// An ARN cut short is neither a full nor a partial ARN.
	short := arn[:len(arn)-1]
	vals, err = p.GetBatch(t.Context(), []string{short})
	perID, _ := refErrors(t, err)
	assert.Empty(t, vals)
	assert.ErrorIs(t, perID[short], resolver.ErrNotFound)
}

func values(m map[string]resolver.Secret) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.Value()
	}
	return out
}

// TestValuesAsStored checks that values come back byte for byte, the
// literal "null" included.
func TestValuesAsStored(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	stored := map[string]string{
		"null":      "null",
		"quoted":    `"null"`,
		"empty-obj": "{}",
		"trailing":  "value\n",
		"crlf":      "a\r\nb",
		"tabs":      "\tx\t",
	}
	var ids []string
	for id, v := range stored {
		s.PutSecret(id, v)
		ids = append(ids, id)
	}
	vals, err := p.GetBatch(t.Context(), ids)
	require.NoError(t, err)
	assert.Equal(t, stored, values(vals))
	for id, want := range stored {
		v, err := p.Get(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, want, v.Value(), id)
		assert.False(t, v.IsNull(), "the store does not interpret %q", id)
	}
}

// TestGetBatchChunks checks that GetBatch never sends more than 20 ids,
// even when its caller passes more, and fetches duplicates once.
func TestGetBatchChunks(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var ids []string
	want := map[string]string{}
	for i := range 45 {
		id := fmt.Sprintf("chunk/%02d", i)
		s.PutSecret(id, "chunk-value-"+id)
		ids = append(ids, id)
		want[id] = "chunk-value-" + id
	}
	assert.Equal(t, 20, p.MaxBatch())
	vals, err := p.GetBatch(t.Context(), append(ids, ids[:5]...))
	require.NoError(t, err)
	assert.Equal(t, want, values(vals))
	var sizes []int
	var sent []string
	for _, call := range s.Requested(awstest.TargetBatchGetSecretValue) {
		sizes = append(sizes, len(call))
		sent = append(sent, call...)
	}
	assert.Equal(t, []int{20, 20, 5}, sizes)
	assert.Equal(t, ids, sent)
}

// TestGetBatchNextToken checks that GetBatch follows NextToken if the
// service pages a SecretIdList after all.
func TestGetBatchNextToken(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.SetPageSize(2)
	s.PutSecret("n1", "next-1")
	s.PutSecret("n3", "next-3")
	s.PutSecret("n5", "next-5")
	vals, err := p.GetBatch(t.Context(), []string{"n1", "n2", "n3", "n4", "n5"})
	assert.Equal(t, map[string]string{"n1": "next-1", "n3": "next-3", "n5": "next-5"}, values(vals))
	perID, whole := refErrors(t, err)
	assert.Empty(t, whole)
	assert.ErrorIs(t, perID["n2"], resolver.ErrNotFound)
	assert.ErrorIs(t, perID["n4"], resolver.ErrNotFound)
	assert.Equal(t, 3, s.Calls(awstest.TargetBatchGetSecretValue))
}

func TestFallbackToGetSecretValue(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.PutSecret("fb/a", "fallback-value-a")
	s.PutSecret("fb/b", "fallback-value-b")
	s.PutSecret("fb/c", "fallback-value-c")
	s.Deny(awstest.ActionBatchGetSecretValue)

	vals, err := p.GetBatch(t.Context(), []string{"fb/a", "fb/b", "fb/missing"})
	assert.Equal(t, map[string]string{"fb/a": "fallback-value-a", "fb/b": "fallback-value-b"}, values(vals))
	perID, whole := refErrors(t, err)
	assert.Empty(t, whole)
	require.Len(t, perID, 1)
	assert.ErrorIs(t, perID["fb/missing"], resolver.ErrNotFound)
	assert.Equal(t, 1, s.Calls(awstest.TargetBatchGetSecretValue))
	assert.Equal(t, [][]string{{"fb/a"}, {"fb/b"}, {"fb/missing"}}, s.Requested(awstest.TargetGetSecretValue))
	assert.Equal(t, 1, p.MaxBatch())

	// From now on BatchGetSecretValue is not tried again.
	vals, err = p.GetBatch(t.Context(), []string{"fb/c", "fb/a"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"fb/c": "fallback-value-c", "fb/a": "fallback-value-a"}, values(vals))
	v, err := p.Get(t.Context(), "fb/b")
	require.NoError(t, err)
	assert.Equal(t, "fallback-value-b", v.Value())
	assert.Equal(t, 1, s.Calls(awstest.TargetBatchGetSecretValue))
	assert.Equal(t, 6, s.Calls(awstest.TargetGetSecretValue))

	// Logged once, naming the action, without ids or values.
	out := log.String()
	assert.Equal(t, 1, strings.Count(out, "BatchGetSecretValue is denied"), out)
	assert.Contains(t, out, "action=secretsmanager:BatchGetSecretValue")
	assert.Contains(t, out, "level=WARN")
	assert.NotContains(t, out, "fb/")
	assert.NotContains(t, out, "fallback-value")
}

// TestFallbackConcurrent checks that concurrent batches that are all
// denied each get their results and log the switch once.
func TestFallbackConcurrent(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.Deny(awstest.ActionBatchGetSecretValue)
	for i := range 8 {
		s.PutSecret(fmt.Sprintf("cc/%d", i), fmt.Sprintf("cc-value-%d", i))
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("cc/%d", i)
			vals, err := p.GetBatch(t.Context(), []string{id})
			assert.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("cc-value-%d", i), vals[id].Value())
		})
	}
	wg.Wait()
	assert.Equal(t, 1, strings.Count(log.String(), "BatchGetSecretValue is denied"))
	assert.Equal(t, 8, s.Calls(awstest.TargetGetSecretValue))
}

// TestFallbackStopsOnTransient checks that reading ids one by one stops at
// a throttled call instead of sending the rest into the throttling.
func TestFallbackStopsOnTransient(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.Deny(awstest.ActionBatchGetSecretValue)
	for _, id := range []string{"st/a", "st/b", "st/c"} {
		s.PutSecret(id, "stop-value-"+id)
	}
	_, err := p.GetBatch(t.Context(), []string{"st/a"})
	require.NoError(t, err)
	require.Equal(t, 1, p.MaxBatch())
	s.Reset()

	s.Throttle(1)
	vals, err := p.GetBatch(t.Context(), []string{"st/a", "st/b", "st/c"})
	assert.Empty(t, vals)
	perID, whole := refErrors(t, err)
	assert.Empty(t, perID)
	require.Len(t, whole, 1)
	assert.Equal(t, "throttled", resolver.Class(whole[0]))
	assert.Equal(t, 1, s.TotalCalls())
}

// TestErrorClasses checks the class of whole-call failures, for Get and
// for GetBatch.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*awstest.Server)
		ctx       func(context.Context) (context.Context, context.CancelFunc)
		wantClass string
		wantMsg   string
		wantAfter time.Duration
	}{
		{name: "throttled", setup: func(s *awstest.Server) { s.Throttle(1) }, wantClass: "throttled", wantMsg: "ThrottlingException: Rate exceeded"},
		{name: "throttled with Retry-After", setup: func(s *awstest.Server) { s.Throttle(1); s.SetRetryAfter(3 * time.Second) }, wantClass: "throttled", wantAfter: 3 * time.Second},
		{name: "storm", setup: func(s *awstest.Server) { s.SetThrottling(true) }, wantClass: "throttled"},
		{name: "internal error", setup: func(s *awstest.Server) { s.FailNext(1, http.StatusInternalServerError) }, wantClass: "unavailable", wantMsg: "InternalServiceError"},
		{name: "service unavailable", setup: func(s *awstest.Server) { s.FailNext(1, http.StatusServiceUnavailable) }, wantClass: "unavailable", wantMsg: "ServiceUnavailable"},
		{name: "HTTP 429", setup: func(s *awstest.Server) { s.FailNext(1, http.StatusTooManyRequests); s.SetRetryAfter(time.Second) }, wantClass: "throttled", wantMsg: "TooManyRequestsException", wantAfter: time.Second},
		{name: "dropped connection", setup: func(s *awstest.Server) { s.DropNext(1) }, wantClass: "unavailable"},
		{name: "timeout", setup: func(s *awstest.Server) { s.SetLatency(time.Minute) }, ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 300*time.Millisecond)
		}, wantClass: "unavailable", wantMsg: "deadline exceeded"},
		{name: "action denied", setup: func(s *awstest.Server) { s.Deny(awstest.ActionGetSecretValue) }, wantClass: "permission", wantMsg: "AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newProvider(t)
			s.PutSecret("ec/a", "error-class-value")
			tc.setup(s)
			ctx := t.Context()
			if tc.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tc.ctx(ctx)
				defer cancel()
			}
			check := func(err error) {
				t.Helper()
				require.Error(t, err)
				assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
				assert.Contains(t, err.Error(), tc.wantMsg)
				after, ok := resolver.RetryAfter(err)
				assert.Equal(t, tc.wantAfter, after)
				assert.Equal(t, tc.wantAfter > 0, ok)
				assert.NotContains(t, err.Error(), "error-class-value")
			}

			// One attempt per call; a deadline may pass before the request
			// is even sent on a loaded machine.
			checkCalls := func(want int) {
				t.Helper()
				if tc.ctx != nil {
					assert.LessOrEqual(t, s.TotalCalls(), want)
				} else {
					assert.Equal(t, want, s.TotalCalls())
				}
			}

			_, err := p.Get(ctx, "ec/a")
			check(err)
			assert.Contains(t, err.Error(), `secret "ec/a"`)
			checkCalls(1)

			if tc.name == "action denied" {
				return // BatchGetSecretValue is a separate action
			}
			ctx2 := t.Context()
			if tc.ctx != nil {
				var cancel context.CancelFunc
				ctx2, cancel = tc.ctx(ctx2)
				defer cancel()
			}
			tc.setup(s)
			vals, err := p.GetBatch(ctx2, []string{"ec/a", "ec/b"})
			assert.Empty(t, vals)
			perID, whole := refErrors(t, err)
			assert.Empty(t, perID, "a whole-call failure is not per id")
			require.Len(t, whole, 1)
			check(whole[0])
			checkCalls(2)
			assert.Equal(t, 20, p.MaxBatch(), "only AccessDenied switches to GetSecretValue")
		})
	}
}

// TestWrongCredentials checks that authentication failures are permission
// errors.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("wc", "wrong-creds-value")
	cfg := s.Config()
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: "not-the-key"}, nil
	})
	p := awssm.New(cfg, awssm.Options{})
	_, err := p.Get(t.Context(), "wc")
	assert.ErrorIs(t, err, resolver.ErrPermission)
	assert.ErrorContains(t, err, "InvalidSignatureException")
	_, err = p.GetBatch(t.Context(), []string{"wc"})
	assert.ErrorIs(t, err, resolver.ErrPermission)
	assert.Equal(t, 20, p.MaxBatch(), "an authentication failure is not a denied action")
}

// TestOneAttemptPerCall checks that New disables the SDK's retries even
// when the config asks for them.
func TestOneAttemptPerCall(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("oa", "one-attempt-value")
	cfg := s.Config()
	cfg.Retryer = func() aws.Retryer { return retry.NewStandard() }
	cfg.RetryMaxAttempts = 5
	p := awssm.New(cfg, awssm.Options{})

	s.FailNext(3, http.StatusInternalServerError)
	_, err := p.Get(t.Context(), "oa")
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	s.Throttle(3)
	_, err = p.GetBatch(t.Context(), []string{"oa"})
	assert.ErrorIs(t, err, resolver.ErrThrottled)
	assert.Equal(t, 2, s.TotalCalls())
}

func TestEndpointOption(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("ep", "endpoint-value")
	cfg := s.Config()
	cfg.BaseEndpoint = nil
	p := awssm.New(cfg, awssm.Options{Endpoint: s.URL()})
	v, err := p.Get(t.Context(), "ep")
	require.NoError(t, err)
	assert.Equal(t, "endpoint-value", v.Value())
}

// TestNoValueLeaks plants a marker in every secret, binary ones included,
// drives every failure path and checks that no error message and no log
// line carries it.
func TestNoValueLeaks(t *testing.T) {
	t.Parallel()
	const marker = "LEAK-MARKER-7c1d"
	p, s, log := newProvider(t)
	s.PutSecret("leak/a", marker)
	s.PutSecret("leak/json", `{"password":"`+marker+`"}`)
	s.PutSecretBinary("leak/bin", []byte(marker))
	s.PutSecret("leak/denied", marker)
	s.DenyID("leak/denied")
	s.PutSecret("leak/kms", marker)
	s.FailDecrypt("leak/kms")
	ids := []string{"leak/a", "leak/json", "leak/bin", "leak/denied", "leak/kms", "leak/missing"}

	var msgs []string
	record := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	faults := []func(){
		func() {},
		func() { s.Throttle(1); s.SetRetryAfter(time.Second) },
		func() { s.FailNext(1, http.StatusInternalServerError) },
		func() { s.DropNext(1) },
	}
	for _, fault := range faults {
		fault()
		_, err := p.GetBatch(t.Context(), ids)
		record(err)
		for _, id := range ids {
			fault()
			_, err := p.Get(t.Context(), id)
			record(err)
		}
	}
	// And after falling back to GetSecretValue.
	s.Deny(awstest.ActionBatchGetSecretValue)
	_, err := p.GetBatch(t.Context(), ids)
	record(err)
	require.Equal(t, 1, p.MaxBatch())

	// A response that does not decode, holding the value.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"SecretValues":[{"Name":"leak/a","SecretString":"` + marker + `",`))
	}))
	defer broken.Close()
	bp := awssm.New(s.Config(), awssm.Options{Endpoint: broken.URL, Logger: slog.New(slog.NewTextHandler(log, nil))})
	_, err = bp.GetBatch(t.Context(), []string{"leak/a"})
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	record(err)
	_, err = bp.Get(t.Context(), "leak/a")
	require.Error(t, err)
	record(err)

	require.NotEmpty(t, msgs)
	for _, m := range msgs {
		assert.False(t, strings.Contains(m, marker), "an error message carries the value")
		assert.False(t, strings.Contains(m, "TEFLLUTBUktFUi03YzFk"), "an error message carries the value in base64")
	}
	assert.NotContains(t, log.String(), marker)
	assert.True(t, slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "malformed response") }))
}

// TestThroughResolver runs the Provider under resolver.Resolver: chunks of
// at most 20 ids, one server call per store call (a throttled call is
// retried by the Resolver, not the SDK), and the switch to GetSecretValue.
func TestThroughResolver(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var refs []resolver.StoreRef
	want := map[string]string{}
	for i := range 45 {
		id := fmt.Sprintf("/om/%02d", i)
		s.PutSecret(id, "through-"+id)
		want[id] = "through-" + id
		refs = append(refs, resolver.StoreRef{Store: "aws", Ref: resolver.Ref{ID: id}})
	}
	refs = append(refs, refs[3], resolver.StoreRef{Store: "aws", Ref: resolver.Ref{ID: "/om/missing"}})
	r := resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"aws": p},
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
	require.Error(t, err)
	assert.Equal(t, "not_found", resolver.Class(err))
	assert.Contains(t, err.Error(), "/om/missing")
	calls := s.Requested(awstest.TargetBatchGetSecretValue)
	assert.Len(t, calls, 4, "three chunks and one retry of the throttled one")
	for _, c := range calls {
		assert.LessOrEqual(t, len(c), awssm.MaxBatch)
	}
	assert.Equal(t, s.TotalCalls(), len(calls))

	// A policy without BatchGetSecretValue.
	p2, s2, _ := newProvider(t)
	for id := range want {
		s2.PutSecret(id, want[id])
	}
	s2.Deny(awstest.ActionBatchGetSecretValue)
	r2 := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": p2}, Logger: slog.New(slog.DiscardHandler)})
	vals, err = r2.Resolve(t.Context(), refs[:45])
	require.NoError(t, err)
	assert.Len(t, vals, 45)
	// The chunks of the first Resolve run at once: each may be denied
	// before the first denial switches the Provider.
	batches := s2.Calls(awstest.TargetBatchGetSecretValue)
	assert.GreaterOrEqual(t, batches, 1)
	assert.LessOrEqual(t, batches, 3)
	vals, err = r2.Resolve(t.Context(), refs[:45])
	require.NoError(t, err)
	assert.Len(t, vals, 45)
	assert.Equal(t, batches, s2.Calls(awstest.TargetBatchGetSecretValue), "not tried again")
	assert.Equal(t, 2*45, s2.Calls(awstest.TargetGetSecretValue))
}

// TestCacheOnTheWire proves the resolver's cache and Refresh by the calls
// the AWS test server counts: a warm Resolve makes none, a Refresh fetches
// again and sees a rotated value, and concurrent Resolves of one id share
// one call.
func TestCacheOnTheWire(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("/om/db/password", "v1")
	s.PutSecret("/om/bot/jwt", "jwt")
	refs := []resolver.StoreRef{
		{Store: "aws", Ref: resolver.Ref{ID: "/om/db/password"}},
		{Store: "aws", Ref: resolver.Ref{ID: "/om/bot/jwt"}},
	}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": p}, CacheTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})

	vals, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, "v1", vals[refs[0]].Value())
	assert.Equal(t, 1, s.TotalCalls(), "cold: one BatchGetSecretValue for both")

	s.PutSecret("/om/db/password", "v2") // rotated in the store
	vals, err = r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, "v1", vals[refs[0]].Value(), "warm: served from the cache")
	assert.Equal(t, 1, s.TotalCalls(), "warm: no call")

	vals, err = r.Refresh(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, "v2", vals[refs[0]].Value(), "refresh sees the rotation")
	assert.Equal(t, 2, s.TotalCalls())

	// Concurrent cold lookups of one id share one call.
	r2 := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": p}, CacheTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	s.SetLatency(50 * time.Millisecond)
	before := s.TotalCalls()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := r2.Resolve(t.Context(), refs[:1])
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, s.TotalCalls()-before, "singleflight: one call for 8 concurrent lookups")
}
