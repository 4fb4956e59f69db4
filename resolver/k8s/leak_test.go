package k8s_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"omsecrets/internal/testbed/kubetest"
	"omsecrets/resolver"
	"omsecrets/resolver/k8s"
	"omsecrets/resolver/resolvertest"
)

// TestNoLeaks plants values and bearer tokens, drives the store through
// every path that logs or fails (found, not found, forbidden, refused
// token, throttled, server errors, dropped connections, a refused watch,
// watch events, binary data) with its log at debug level, and checks no
// planted value or token appears in a log line or an error message.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	planted := []string{
		"leak-value-3f9a1c", "leak-key-b-77d0e2", "leak-forbidden-5a5a", "leak-binary-tail-9e",
		f.user.Token, f.c.User("alice").Token,
	}
	f.c.PutValue(t, f.ns, "s", planted[0])
	f.c.PutSecret(t, f.ns, "keys", map[string][]byte{"a": []byte("x"), "b": []byte(planted[1]), "bin": append([]byte{0xff}, planted[3]...)})
	f.c.PutValue(t, f.ns, "hidden", planted[2])
	f.grant(t, []string{"get"}, "s", "keys", "missing") // no watch: the refusal is logged
	p := f.c.Proxy(t)
	var logs resolvertest.LogBuffer
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	s := f.store(t, p.Config(f.user), k8s.Options{Logger: logger(&logs), RequestTimeout: time.Second})
	n := listen(s)
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{k8s.Name: s}, Logger: logger(&logs), Retry: resolver.RetryPolicy{MaxAttempts: 1}})
	resolve := func(refs ...resolver.StoreRef) {
		_, err := r.Refresh(t.Context(), refs)
		collect(err)
	}
	ref := func(id, key string) resolver.StoreRef {
		return resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: id, Key: key}}
	}
	all := []resolver.StoreRef{ref("s", ""), ref("keys", "a"), ref("keys", "b"), ref("keys", "bin"), ref("keys", "nope"), ref("missing", ""), ref("hidden", ""), ref("BAD", "")}
	resolve(all...)
	for _, fault := range []kubetest.Fault{
		{Status: http.StatusTooManyRequests, RetryAfter: "1"},
		{Status: http.StatusInternalServerError},
		{Status: http.StatusServiceUnavailable},
		{Drop: true},
		{Delay: 2 * time.Second},
	} {
		// Faults for the GETs, not the watches the store opens meanwhile.
		fault.Match = func(r *http.Request) bool { return r.URL.Query().Get("watch") == "" }
		p.Inject(fault, 1)
		resolve(ref("s", ""))
	}
	f.c.PutValue(t, f.ns, "s", planted[0]+"-v2")
	n.none(t, 300*time.Millisecond) // watch refused

	bad := kubetest.User{Name: "bad", Token: "leak-bad-token-4c4c"}
	planted = append(planted, bad.Token)
	sb := f.store(t, p.Config(bad), k8s.Options{Logger: logger(&logs), Reload: func() (*rest.Config, error) { return p.Config(bad), nil }})
	_, err := sb.Get(t.Context(), "s")
	collect(err)

	require.NotEmpty(t, errs)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
	}
	text := strings.Join(msgs, "\n") + "\n" + logs.String()
	assert.Contains(t, logs.String(), "watching Secrets is forbidden", "the paths ran")
	assert.Contains(t, text, "result=throttled")
	assert.Contains(t, text, "401 Unauthorized")
	for _, v := range planted {
		assert.NotContains(t, text, v, "a planted value or token leaked")
	}
}
