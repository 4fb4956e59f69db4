package resolver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/db"
	"omsecrets/resolver/resolvertest"
)

// sref parses s and names it in store.
func sref(t *testing.T, store, s string) resolver.StoreRef {
	t.Helper()
	ref, err := resolver.ParseRef(s)
	require.NoError(t, err, s)
	return resolver.StoreRef{Store: store, Ref: ref}
}

// fastRetry keeps retry waits short in tests; tests that measure waits
// set their own policy.
var fastRetry = resolver.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// newResolver returns a Resolver over stores, with fastRetry and no cache,
// that logs to the returned buffer at debug level.
func newResolver(stores map[string]resolver.Getter, concurrency int) (*resolver.Resolver, *resolvertest.LogBuffer) {
	var logs resolvertest.LogBuffer
	r := resolver.New(resolver.Options{
		Stores:      stores,
		Concurrency: concurrency,
		Retry:       fastRetry,
		Logger:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return r, &logs
}

// refErrors returns the *RefError leaves of err in order, failing the test
// for any other leaf.
func refErrors(t *testing.T, err error) []*resolver.RefError {
	t.Helper()
	var out []*resolver.RefError
	for _, e := range resolver.Unjoin(err) {
		var re *resolver.RefError
		require.ErrorAs(t, e, &re)
		out = append(out, re)
	}
	return out
}

// refError returns the *RefError in err for sr.
func refError(t *testing.T, err error, sr resolver.StoreRef) *resolver.RefError {
	t.Helper()
	for _, re := range refErrors(t, err) {
		if re.Store == sr.Store && re.Ref == sr.Ref {
			return re
		}
	}
	require.Failf(t, "no error for reference", "%s in store %s", sr.Ref, sr.Store)
	return nil
}

func TestResolveEmpty(t *testing.T) {
	t.Parallel()
	r, _ := newResolver(nil, 0)
	got, err := r.Resolve(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestResolveDedup checks that references to one id, with or without
// different keys, cost a single store call.
func TestResolveDedup(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/db": `{"user":"dedup-user","password":"dedup-pass"}`})
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 0)
	whole, user, pass := sref(t, "aws", "secret:/db"), sref(t, "aws", "secret:/db#user"), sref(t, "aws", "secret:/db#password")

	got, err := r.Resolve(t.Context(), []resolver.StoreRef{whole, user, pass, user})
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Gets())
	assert.Equal(t, []string{"/db"}, fake.Requested())
	assert.Len(t, got, 3)
	assert.Equal(t, `{"user":"dedup-user","password":"dedup-pass"}`, got[whole].Value())
	assert.Equal(t, "dedup-user", got[user].Value())
	assert.Equal(t, "dedup-pass", got[pass].Value())
}

// TestResolveSameIDInTwoStores checks that deduplication is per store.
func TestResolveSameIDInTwoStores(t *testing.T) {
	t.Parallel()
	a := resolvertest.NewFake(map[string]string{"/x": "value-in-a"})
	b := resolvertest.NewFake(map[string]string{"/x": "value-in-b"})
	r, _ := newResolver(map[string]resolver.Getter{"a": a, "b": b}, 0)
	ra, rb := sref(t, "a", "secret:/x"), sref(t, "b", "secret:/x")
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{ra, rb})
	require.NoError(t, err)
	assert.Equal(t, "value-in-a", got[ra].Value())
	assert.Equal(t, "value-in-b", got[rb].Value())
	assert.Equal(t, 1, a.Gets())
	assert.Equal(t, 1, b.Gets())
}

// TestResolveBatching checks that a BatchGetter gets ceil(n/MaxBatch) calls
// that together ask for every id once, and no single Get.
func TestResolveBatching(t *testing.T) {
	t.Parallel()
	values := make(map[string]string)
	var refs []resolver.StoreRef
	for i := range 45 {
		id := fmt.Sprintf("/batch/%02d", i)
		values[id] = fmt.Sprintf("batch-value-%02d", i)
		refs = append(refs, sref(t, "aws", "secret:"+id))
	}
	// A second reference to some ids must not enlarge the batches.
	refs = append(refs, sref(t, "aws", "secret:/batch/00"), sref(t, "aws", "secret:/batch/44"))
	fake := resolvertest.NewBatchFake(values, 20)
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 0)

	got, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, 3, fake.Batches())
	assert.Equal(t, 0, fake.Gets())
	sizes := fake.BatchSizes()
	slices.Sort(sizes)
	assert.Equal(t, []int{5, 20, 20}, sizes)
	requested := fake.Requested()
	slices.Sort(requested)
	assert.Equal(t, slices.Sorted(mapKeys(values)), requested, "every id exactly once")
	require.Len(t, got, 45)
	for _, sr := range refs {
		assert.Equal(t, values[sr.Ref.ID], got[sr].Value(), sr.Ref.String())
	}
}

// TestResolveMaxBatchOne checks that a BatchGetter whose MaxBatch is 1 is
// used through Get.
func TestResolveMaxBatchOne(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewBatchFake(map[string]string{"/a": "one-a", "/b": "one-b"}, 1)
	r, _ := newResolver(map[string]resolver.Getter{"ssm": fake}, 0)
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{sref(t, "ssm", "secret:/a"), sref(t, "ssm", "secret:/b")})
	require.NoError(t, err)
	assert.Len(t, got, 2)
	assert.Equal(t, 2, fake.Gets())
	assert.Equal(t, 0, fake.Batches())
}

// TestResolveBatchMixed checks that per-id outcomes of one batch reach the
// right references.
func TestResolveBatchMixed(t *testing.T) {
	t.Parallel()
	for _, silent := range []bool{false, true} {
		t.Run(fmt.Sprint("silent missing ", silent), func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewBatchFake(map[string]string{
				"/found": "mixed-found",
				"/json":  `{"k":"mixed-key"}`,
			}, 10)
			fake.Errs = map[string]error{
				"/denied":    resolver.ErrPermission,
				"/throttled": fmt.Errorf("rate exceeded: %w", resolver.ErrUnavailable),
			}
			fake.SilentMissing = silent
			r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 0)
			found, key, missing := sref(t, "aws", "secret:/found"), sref(t, "aws", "secret:/json#k"), sref(t, "aws", "secret:/missing")
			denied, throttled := sref(t, "aws", "secret:/denied"), sref(t, "aws", "secret:/throttled")

			got, err := r.Resolve(t.Context(), []resolver.StoreRef{found, key, missing, denied, throttled})
			require.Error(t, err)
			// One batch, then the transient failure alone is retried
			// until the default MaxAttempts.
			assert.Equal(t, resolver.DefaultMaxAttempts, fake.Batches())
			assert.Equal(t, []int{5, 1, 1, 1, 1}, fake.BatchSizes())
			assert.Equal(t, "mixed-found", got[found].Value())
			assert.Equal(t, "mixed-key", got[key].Value())
			assert.Len(t, got, 2)

			assert.Len(t, refErrors(t, err), 3)
			assert.ErrorIs(t, refError(t, err, missing), resolver.ErrNotFound)
			assert.ErrorIs(t, refError(t, err, denied), resolver.ErrPermission)
			assert.ErrorIs(t, refError(t, err, throttled), resolver.ErrUnavailable)
			assert.Equal(t, "not_found", resolver.Class(refError(t, err, missing)))
			assert.Equal(t, "permission", resolver.Class(refError(t, err, denied)))
			assert.Equal(t, "unavailable", resolver.Class(refError(t, err, throttled)))
		})
	}
}

// TestResolveBatchWholeFailure checks that a failed batch call fails every
// reference of the batch, with the store's error.
func TestResolveBatchWholeFailure(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewBatchFake(map[string]string{"/a": "whole-a", "/b": "whole-b"}, 10)
	fake.BatchErr = fmt.Errorf("AccessDeniedException: %w", resolver.ErrPermission)
	other := resolvertest.NewFake(map[string]string{"/c": "other-c"})
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake, "db": other}, 0)
	a, aKey, b, c := sref(t, "aws", "secret:/a"), sref(t, "aws", "secret:/a#k"), sref(t, "aws", "secret:/b"), sref(t, "db", "secret:/c")

	got, err := r.Resolve(t.Context(), []resolver.StoreRef{a, aKey, b, c})
	require.Error(t, err)
	assert.Equal(t, map[resolver.StoreRef]string{c: "other-c"}, values(got), "other stores still resolve")
	for _, sr := range []resolver.StoreRef{a, aKey, b} {
		re := refError(t, err, sr)
		assert.ErrorIs(t, re, resolver.ErrPermission, sr.Ref.String())
		assert.Contains(t, re.Error(), "AccessDeniedException")
	}
	assert.Len(t, refErrors(t, err), 3)
}

func TestResolveUnknownStore(t *testing.T) {
	t.Parallel()
	db := resolvertest.NewFake(map[string]string{"/ok": "known-store-value"})
	r, _ := newResolver(map[string]resolver.Getter{"db": db}, 0)
	ok, v1, v2, g := sref(t, "db", "secret:/ok"), sref(t, "vault", "secret:/a"), sref(t, "vault", "secret:/b#k"), sref(t, "gcp", "secret:/a")

	got, err := r.Resolve(t.Context(), []resolver.StoreRef{v1, ok, v2, g})
	require.Error(t, err)
	assert.Equal(t, map[resolver.StoreRef]string{ok: "known-store-value"}, values(got))
	errs := refErrors(t, err)
	require.Len(t, errs, 3)
	for _, sr := range []resolver.StoreRef{v1, v2, g} {
		re := refError(t, err, sr)
		assert.ErrorIs(t, re, resolver.ErrUnknownStore)
		assert.Equal(t, "unknown_store", resolver.Class(re))
		assert.Contains(t, re.Error(), fmt.Sprintf("%q", sr.Store))
	}
}

func TestResolveNull(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/unset": "null", "/upper": "NULL", "/quoted": `"null"`})
	r, _ := newResolver(map[string]resolver.Getter{"db": fake}, 0)
	unset, upper, quoted, withKey := sref(t, "db", "secret:/unset"), sref(t, "db", "secret:/upper"), sref(t, "db", "secret:/quoted"), sref(t, "db", "secret:/unset#k")

	got, err := r.Resolve(t.Context(), []resolver.StoreRef{unset, upper, quoted, withKey})
	require.Error(t, err)
	assert.True(t, got[unset].IsNull(), "the literal null")
	assert.Empty(t, got[unset].Value())
	assert.False(t, got[upper].IsNull(), "only the exact literal is null")
	assert.Equal(t, "NULL", got[upper].Value())
	assert.False(t, got[quoted].IsNull())
	assert.Equal(t, `"null"`, got[quoted].Value())

	re := refError(t, err, withKey)
	assert.ErrorIs(t, re, resolver.ErrBadRef, "a key of a null secret")
	assert.Len(t, refErrors(t, err), 1)
}

// TestResolveKey covers #key selection of a JSON object secret.
func TestResolveKey(t *testing.T) {
	t.Parallel()
	const obj = `{"password":"key-pass","port":3306,"ratio":1.50,"ssl":true,"none":null,"nested":{"a": [1, 2]},"list":["x"],"empty":"","masked":"*********","escaped":"a\"b\\c\u00e9"}`
	fake := resolvertest.NewFake(map[string]string{
		"/obj":      obj,
		"/text":     "plain-text-value",
		"/array":    `["key-array"]`,
		"/number":   `42`,
		"/string":   `"json-string"`,
		"/trailing": `{"password":"x"} trailing`,
	})
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 0)
	for _, tc := range []struct {
		name, ref string
		want      string
		wantNull  bool
		wantErr   error
	}{
		{name: "string", ref: "secret:/obj#password", want: "key-pass"},
		{name: "number is its JSON text", ref: "secret:/obj#port", want: "3306"},
		{name: "decimal kept as written", ref: "secret:/obj#ratio", want: "1.50"},
		{name: "bool", ref: "secret:/obj#ssl", want: "true"},
		{name: "null value", ref: "secret:/obj#none", wantNull: true},
		{name: "object compacted", ref: "secret:/obj#nested", want: `{"a":[1,2]}`},
		{name: "array", ref: "secret:/obj#list", want: `["x"]`},
		{name: "empty string", ref: "secret:/obj#empty", want: ""},
		{name: "escapes decoded", ref: "secret:/obj#escaped", want: `a"b\cé`},
		{name: "masked value under a key", ref: "secret:/obj#masked", wantErr: resolver.ErrMasked},
		{name: "missing key", ref: "secret:/obj#user", wantErr: resolver.ErrNotFound},
		{name: "key is case sensitive", ref: "secret:/obj#Password", wantErr: resolver.ErrNotFound},
		{name: "not JSON", ref: "secret:/text#password", wantErr: resolver.ErrBadRef},
		{name: "JSON array", ref: "secret:/array#0", wantErr: resolver.ErrBadRef},
		{name: "JSON number", ref: "secret:/number#k", wantErr: resolver.ErrBadRef},
		{name: "JSON string", ref: "secret:/string#k", wantErr: resolver.ErrBadRef},
		{name: "trailing data", ref: "secret:/trailing#password", wantErr: resolver.ErrBadRef},
		{name: "missing secret", ref: "secret:/absent#password", wantErr: resolver.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sr := sref(t, "aws", tc.ref)
			got, err := r.Resolve(t.Context(), []resolver.StoreRef{sr})
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Equal(t, resolver.Class(tc.wantErr), resolver.Class(err))
				assert.NotContains(t, got, sr)
				assert.Contains(t, err.Error(), tc.ref)
				return
			}
			require.NoError(t, err)
			require.Contains(t, got, sr)
			assert.Equal(t, tc.wantNull, got[sr].IsNull())
			assert.Equal(t, tc.want, got[sr].Value())
		})
	}
}

// TestResolveInvalidUTF8 checks that a value that is not UTF-8 text is
// refused, whole or under a key.
func TestResolveInvalidUTF8(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/bin": "bin\xff\xfe", "/ok": "é"})
	r, _ := newResolver(map[string]resolver.Getter{"file": fake}, 0)
	bin, ok := sref(t, "file", "secret:/bin"), sref(t, "file", "secret:/ok")
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{bin, ok})
	require.Error(t, err)
	assert.ErrorIs(t, refError(t, err, bin), resolver.ErrBadRef)
	assert.Equal(t, "é", got[ok].Value())
}

func TestResolveMasked(t *testing.T) {
	t.Parallel()
	require.Equal(t, "*********", resolver.Mask)
	fake := resolvertest.NewFake(map[string]string{
		"/masked":    resolver.Mask,
		"/longer":    resolver.Mask + "*",
		"/shorter":   "********",
		"/contained": "a" + resolver.Mask,
	})
	r, _ := newResolver(map[string]resolver.Getter{"db": fake}, 0)
	masked := sref(t, "db", "secret:/masked")
	others := []resolver.StoreRef{sref(t, "db", "secret:/longer"), sref(t, "db", "secret:/shorter"), sref(t, "db", "secret:/contained")}

	got, err := r.Resolve(t.Context(), append([]resolver.StoreRef{masked}, others...))
	require.Error(t, err)
	re := refError(t, err, masked)
	assert.ErrorIs(t, re, resolver.ErrMasked)
	assert.Equal(t, "masked", resolver.Class(re))
	assert.Contains(t, err.Error(), "not a bot's")
	assert.Len(t, refErrors(t, err), 1, "only the exact mask is refused")
	for _, sr := range others {
		assert.Contains(t, got, sr)
	}
}

// TestResolveErrorListsEveryFailure checks that the error names every
// failing reference once, sorted by store, id and key, whatever the order
// of the references.
func TestResolveErrorListsEveryFailure(t *testing.T) {
	t.Parallel()
	aws := resolvertest.NewBatchFake(map[string]string{"/ok": "list-ok", "/obj": `{"a":"1"}`}, 10)
	aws.Errs = map[string]error{"/denied": resolver.ErrPermission}
	db := resolvertest.NewFake(map[string]string{"/text": "list-text"})
	r, _ := newResolver(map[string]resolver.Getter{"aws": aws, "db": db}, 0)

	want := []resolver.StoreRef{
		sref(t, "aws", "secret:/denied"),
		sref(t, "aws", "secret:/missing"),
		sref(t, "aws", "secret:/obj#b"),
		sref(t, "aws", "secret:/obj#c"),
		sref(t, "db", "secret:/missing"),
		sref(t, "db", "secret:/text#a"),
		sref(t, "db", "secret:/text#b"),
		sref(t, "vault", "secret:/a"),
	}
	refs := slices.Clone(want)
	refs = append(refs, sref(t, "aws", "secret:/ok"), sref(t, "aws", "secret:/obj#a"), want[2], want[6])
	slices.Reverse(refs)

	got, err := r.Resolve(t.Context(), refs)
	require.Error(t, err)
	assert.Len(t, got, 2)
	errs := refErrors(t, err)
	var gotRefs []resolver.StoreRef
	for _, re := range errs {
		gotRefs = append(gotRefs, resolver.StoreRef{Store: re.Store, Ref: re.Ref})
	}
	assert.Equal(t, want, gotRefs)

	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(want), "one line per failing reference")
	for i, sr := range want {
		assert.True(t, strings.HasPrefix(lines[i], sr.Ref.String()+" (store "+sr.Store+"): "), "line %d: %s", i, lines[i])
	}
}

// TestResolveStripsStoreRefError checks that a store's own *RefError is
// replaced by the Resolver's, which names the store and the full
// reference.
func TestResolveStripsStoreRefError(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(nil) // fails with *RefError{Store: ""}
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 0)
	sr := sref(t, "aws", "secret:/missing#k")
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{sr})
	require.Error(t, err)
	re := refError(t, err, sr)
	assert.Equal(t, "aws", re.Store)
	var inner *resolver.RefError
	assert.False(t, errors.As(re.Err, &inner), "no second RefError in the chain")
	assert.NotContains(t, err.Error(), "(store )")
	assert.Equal(t, 1, strings.Count(err.Error(), "(store aws)"))
}

// TestResolveErrorsDoNotLeak plants values in every failure path and checks
// that neither the error nor the debug log contains them.
func TestResolveErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	planted := map[string]string{
		"/bait":        `{"password": tru`, // a JSON parser error would quote it
		"/bait2":       `{"pw":"leak-bait-2"`,
		"/text":        "leak-plain-text-value",
		"/array":       `["leak-array-value"]`,
		"/masked":      resolver.Mask,
		"/obj":         `{"other":"leak-object-value"}`,
		"/null":        "null",
		"/ok":          "leak-ok-value",
		"/nul-in-json": "{\"k\":\"leak-\x00\"}",
	}
	fake := resolvertest.NewFake(planted)
	batch := resolvertest.NewBatchFake(planted, 3)
	r, logs := newResolver(map[string]resolver.Getter{"one": fake, "batch": batch}, 0)
	var refs []resolver.StoreRef
	for _, store := range []string{"one", "batch"} {
		for _, s := range []string{
			"secret:/bait#password", "secret:/bait2#pw", "secret:/text#password", "secret:/array#0",
			"secret:/masked", "secret:/obj#password", "secret:/null#password", "secret:/ok", "secret:/nul-in-json#k",
		} {
			refs = append(refs, sref(t, store, s))
		}
	}
	got, err := r.Resolve(t.Context(), refs)
	require.Error(t, err)
	assert.Len(t, got, 2, "only /ok resolves")
	assert.Len(t, refErrors(t, err), 16)

	for _, out := range map[string]string{"error": err.Error(), "error %+v": fmt.Sprintf("%+v", err), "debug log": logs.String()} {
		for id, v := range planted {
			if v == "null" || v == resolver.Mask {
				continue // these appear in messages by design
			}
			assert.NotContains(t, out, v, "value of %s", id)
		}
		assert.NotContains(t, out, "leak-", "no fragment of a planted value")
	}
	assert.Contains(t, logs.String(), `"msg":"store get"`)
	assert.Contains(t, logs.String(), `"msg":"store batch get"`)
}

// gauge counts calls in flight across stores.
type gauge struct {
	cur, max atomic.Int32
}

func (g *gauge) enter() {
	n := g.cur.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.cur.Add(-1) }

// gaugedGetter counts its Gets in a gauge shared with other stores.
type gaugedGetter struct {
	resolver.Getter
	g *gauge
}

func (s gaugedGetter) Get(ctx context.Context, id string) (resolver.Secret, error) {
	s.g.enter()
	defer s.g.leave()
	return s.Getter.Get(ctx, id)
}

// gaugedBatchGetter counts its GetBatch calls in a shared gauge.
type gaugedBatchGetter struct {
	resolver.BatchGetter
	g *gauge
}

func (s gaugedBatchGetter) GetBatch(ctx context.Context, ids []string) (map[string]resolver.Secret, error) {
	s.g.enter()
	defer s.g.leave()
	return s.BatchGetter.GetBatch(ctx, ids)
}

// TestResolveConcurrencyBound checks that the store calls one Resolve has in
// flight, over all its stores, never exceed Options.Concurrency (or
// DefaultConcurrency).
func TestResolveConcurrencyBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		concurrency int
		want        int
	}{
		{name: "one", concurrency: 1, want: 1},
		{name: "three", concurrency: 3, want: 3},
		{name: "default", concurrency: 0, want: resolver.DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			values := make(map[string]string)
			var refs []resolver.StoreRef
			for i := range 30 {
				id := fmt.Sprintf("/c/%02d", i)
				values[id] = "concurrency-value"
				for _, store := range []string{"a", "b", "batch"} {
					refs = append(refs, sref(t, store, "secret:"+id))
				}
			}
			const delay = 5 * time.Millisecond
			a := &resolvertest.Fake{Values: values, Delay: delay}
			b := &resolvertest.Fake{Values: values, Delay: delay}
			batch := resolvertest.NewBatchFake(values, 2)
			batch.Delay = delay
			var g gauge
			r, _ := newResolver(map[string]resolver.Getter{
				"a":     gaugedGetter{a, &g},
				"b":     gaugedGetter{b, &g},
				"batch": gaugedBatchGetter{batch, &g},
			}, tc.concurrency)

			got, err := r.Resolve(t.Context(), refs)
			require.NoError(t, err)
			assert.Len(t, got, 90)
			assert.Equal(t, 15, batch.Batches())
			assert.LessOrEqual(t, int(g.max.Load()), tc.want, "calls in flight over all stores")
			assert.LessOrEqual(t, a.MaxInFlight(), tc.want)
			assert.LessOrEqual(t, batch.MaxInFlight(), tc.want)
			if tc.want > 1 {
				assert.Greater(t, int(g.max.Load()), 1, "calls do run concurrently")
			}
		})
	}
}

// TestResolveCanceledContext checks that a canceled context fails the
// references, without a panic, with the store's class.
func TestResolveCanceledContext(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/a": "canceled-a"})
	batch := resolvertest.NewBatchFake(map[string]string{"/b": "canceled-b", "/c": "canceled-c"}, 5)
	r, _ := newResolver(map[string]resolver.Getter{"one": fake, "batch": batch}, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	refs := []resolver.StoreRef{sref(t, "one", "secret:/a"), sref(t, "batch", "secret:/b"), sref(t, "batch", "secret:/c#k")}

	var got map[resolver.StoreRef]resolver.Secret
	var err error
	require.NotPanics(t, func() { got, err = r.Resolve(ctx, refs) })
	require.Error(t, err)
	assert.Empty(t, got)
	for _, sr := range refs {
		re := refError(t, err, sr)
		assert.ErrorIs(t, re, resolver.ErrUnavailable)
		assert.ErrorIs(t, re, context.Canceled)
	}
}

// TestResolveConcurrentCalls checks that one Resolver serves concurrent
// Resolve calls.
func TestResolveConcurrentCalls(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewBatchFake(map[string]string{"/a": "cc-a", "/b": `{"k":"cc-b"}`}, 5)
	r, _ := newResolver(map[string]resolver.Getter{"aws": fake}, 2)
	a, b, missing := sref(t, "aws", "secret:/a"), sref(t, "aws", "secret:/b#k"), sref(t, "aws", "secret:/missing")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			got, err := r.Resolve(context.Background(), []resolver.StoreRef{a, b, missing})
			assert.ErrorIs(t, err, resolver.ErrNotFound)
			assert.Equal(t, "cc-a", got[a].Value())
			assert.Equal(t, "cc-b", got[b].Value())
		})
	}
	wg.Wait()
	// Calls that overlap share the fetches in flight (see
	// TestSingleflight*), so there are at most 20 batches.
	assert.Positive(t, fake.Batches())
	assert.LessOrEqual(t, fake.Batches(), 20)
}

func TestResolveLogsEveryStoreCall(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/a": "log-a"})
	batch := resolvertest.NewBatchFake(map[string]string{"/b": "log-b"}, 5)
	r, logs := newResolver(map[string]resolver.Getter{"one": fake, "batch": batch}, 0)
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{sref(t, "one", "secret:/a"), sref(t, "one", "secret:/x"), sref(t, "batch", "secret:/b")})
	require.Error(t, err)
	out := logs.String()
	assert.Equal(t, 2, strings.Count(out, `"msg":"store get"`))
	assert.Equal(t, 1, strings.Count(out, `"msg":"store batch get"`))
	assert.Contains(t, out, `"result":"not_found"`)
	assert.NotContains(t, out, "log-a")
	assert.NotContains(t, out, "log-b")
}

func TestClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: "ok"},
		{name: "not found", err: resolver.ErrNotFound, want: "not_found"},
		{name: "permission", err: resolver.ErrPermission, want: "permission"},
		{name: "unavailable", err: resolver.ErrUnavailable, want: "unavailable"},
		{name: "bad ref", err: resolver.ErrBadRef, want: "bad_ref"},
		{name: "masked", err: resolver.ErrMasked, want: "masked"},
		{name: "unknown store", err: resolver.ErrUnknownStore, want: "unknown_store"},
		{name: "wrapped", err: fmt.Errorf("x: %w", resolver.ErrPermission), want: "permission"},
		{name: "in RefError", err: &resolver.RefError{Err: resolver.ErrBadRef}, want: "bad_ref"},
		{name: "joined", err: errors.Join(errors.New("x"), resolver.ErrUnavailable), want: "unavailable"},
		{name: "other", err: errors.New("boom"), want: "error"},
		{name: "context", err: context.Canceled, want: "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, resolver.Class(tc.err))
		})
	}
}

func TestRefError(t *testing.T) {
	t.Parallel()
	e := &resolver.RefError{Store: "aws", Ref: resolver.Ref{ID: "/x", Key: "k"}, Err: resolver.ErrNotFound}
	assert.Equal(t, "secret:/x#k (store aws): not found", e.Error())
	assert.ErrorIs(t, e, resolver.ErrNotFound)
	assert.Equal(t, resolver.ErrNotFound, errors.Unwrap(e))
}

func TestUnjoin(t *testing.T) {
	t.Parallel()
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	assert.Nil(t, resolver.Unjoin(nil))
	assert.Equal(t, []error{a}, resolver.Unjoin(a))
	assert.Equal(t, []error{a, b, c}, resolver.Unjoin(errors.Join(a, errors.Join(b, c))))
	wrapped := fmt.Errorf("w: %w", errors.Join(a, b))
	assert.Equal(t, []error{wrapped}, resolver.Unjoin(wrapped), "only joins are split")
}

func values(m map[resolver.StoreRef]resolver.Secret) map[resolver.StoreRef]string {
	out := make(map[resolver.StoreRef]string, len(m))
	for k, v := range m {
		out[k] = v.Value()
	}
	return out
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// FuzzResolveNoLeak resolves a value holding a marker, with or without a
// key, and checks that no error or log line carries the marker (unless the
// key itself does, since messages name the reference).
func FuzzResolveNoLeak(f *testing.F) {
	const marker = "ZQXJ-marker"
	for _, s := range [][3]string{
		{`{"password": tru`, `e`, "password"},
		{`{"a":"`, `"}`, "a"},
		{`{"a":"`, `"}`, "b"},
		{`{"a":`, `}`, "a"},
		{`["`, `"]`, "0"},
		{"", "", ""},
		{"\xff", "", ""},
		{`{"a":"x"} `, "", "a"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, before, after, key string) {
		ref, err := resolver.ParseRef("secret:/x#" + key)
		if key == "" {
			ref, err = resolver.ParseRef("secret:/x")
		}
		if err != nil || strings.Contains(key, marker) {
			return
		}
		var logs resolvertest.LogBuffer
		batch := resolvertest.NewBatchFake(map[string]string{"/x": before + marker + after}, 5)
		// The first batch fails transiently, so the value also goes
		// through a retry.
		batch.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
			if c.N == 1 {
				return map[string]error{"/x": resolver.Throttled("slow down", 0)}, nil
			}
			return nil, nil
		}
		r := resolver.New(resolver.Options{
			Stores: map[string]resolver.Getter{
				"one":   resolvertest.NewFake(map[string]string{"/x": before + marker + after}),
				"batch": batch,
			},
			CacheTTL: time.Hour,
			Retry:    resolver.RetryPolicy{BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond},
			Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		refs := []resolver.StoreRef{{Store: "one", Ref: ref}, {Store: "batch", Ref: ref}}
		// Fetch, then from the cache, then fetch again.
		for i, resolve := range []func(context.Context, []resolver.StoreRef) (map[resolver.StoreRef]resolver.Secret, error){r.Resolve, r.Resolve, r.Refresh} {
			_, err = resolve(context.Background(), refs)
			if err != nil {
				assert.NotContains(t, err.Error(), marker, "pass %d", i)
				assert.NotContains(t, fmt.Sprintf("%+v", err), marker, "pass %d", i)
			}
		}
		assert.Equal(t, 3, batch.Batches(), "a retry and a refresh")
		assert.NotContains(t, logs.String(), marker)
	})
}

// TestValueIDsAreNeverPrinted: for a store whose ids are values (db), the
// id appears neither in errors nor in logs; only [redacted] does.
func TestValueIDsAreNeverPrinted(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	r := resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"db": db.New()},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	assert.True(t, r.HidesIDs("db"))
	ref := resolver.Ref{ID: "hunter2-" + planted, Key: "password"}
	_, err := r.Resolve(context.Background(), []resolver.StoreRef{{Store: "db", Ref: ref}})
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrBadRef, "the db value is not a JSON object")
	assert.NotContains(t, err.Error(), planted)
	assert.Contains(t, err.Error(), "secret:[redacted]#password (store db)")
	assert.NotContains(t, logs.String(), planted)
	assert.Equal(t, "secret:[redacted]#password", ref.Label(r.HidesIDs("db")))
	assert.False(t, r.HidesIDs("other"))
	other := resolver.Ref{ID: "/a", Key: "k"}
	assert.Equal(t, "secret:/a#k", other.Label(r.HidesIDs("other")))
}

func TestMaskUnderKeyIsMasked(t *testing.T) {
	t.Parallel()
	f := resolvertest.NewFake(map[string]string{"/m": resolver.Mask})
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": f}})
	_, err := r.Resolve(context.Background(), []resolver.StoreRef{{Store: "s", Ref: resolver.Ref{ID: "/m", Key: "password"}}})
	assert.ErrorIs(t, err, resolver.ErrMasked)
}

func TestNilStoreIsUnknown(t *testing.T) {
	t.Parallel()
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": nil}})
	_, err := r.Resolve(context.Background(), []resolver.StoreRef{{Store: "s", Ref: resolver.Ref{ID: "/x"}}})
	assert.ErrorIs(t, err, resolver.ErrUnknownStore)
}

func TestRefErrorWithoutStore(t *testing.T) {
	t.Parallel()
	err := &resolver.RefError{Ref: resolver.Ref{ID: "/x"}, Err: resolver.ErrNotFound}
	assert.Equal(t, "secret:/x: not found", err.Error())
}

func TestUnjoinSplitsOnlyJoinedErrors(t *testing.T) {
	t.Parallel()
	th := resolver.Throttled("rate exceeded on batch", 0)
	leaves := resolver.Unjoin(th)
	require.Len(t, leaves, 1, "a multi-%%w error is one error")
	assert.Contains(t, leaves[0].Error(), "rate exceeded on batch")
	assert.Equal(t, "throttled", resolver.Class(leaves[0]))

	a, b := errors.New("a"), errors.New("b")
	assert.Equal(t, []error{a, th, b}, resolver.Unjoin(errors.Join(a, errors.Join(th, b))))
	assert.Nil(t, resolver.Unjoin(nil))
}

func TestRefErrorsIndexesByReference(t *testing.T) {
	t.Parallel()
	a := resolver.StoreRef{Store: "aws", Ref: resolver.Ref{ID: "/a"}}
	b := resolver.StoreRef{Store: "env", Ref: resolver.Ref{ID: "/b", Key: "k"}}
	err := errors.Join(
		&resolver.RefError{Store: a.Store, Ref: a.Ref, Err: resolver.ErrNotFound},
		errors.New("not about one reference"),
		&resolver.RefError{Store: b.Store, Ref: b.Ref, Err: resolver.ErrPermission},
	)
	got := resolver.RefErrors(err)
	require.Len(t, got, 2)
	assert.ErrorIs(t, got[a], resolver.ErrNotFound)
	assert.ErrorIs(t, got[b], resolver.ErrPermission)
	assert.Empty(t, resolver.RefErrors(nil))
}
