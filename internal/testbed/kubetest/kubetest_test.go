package kubetest_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"omsecrets/internal/testbed/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func client(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

func TestStart(t *testing.T) {
	c := kubetest.Shared(t)
	t.Logf("etcd and kube-apiserver ready in %v", c.Startup.Round(time.Millisecond))
	v, err := c.Admin().Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, kubetest.Version, v.GitVersion, "the binary reports the version it was built as")
	assert.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, v.Platform)
}

// TestRBAC checks the server enforces what Grant wrote: get and watch on
// named Secrets only.
func TestRBAC(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "allowed", "v1")
	c.PutValue(t, ns, "other", "v2")
	sa := c.ServiceAccount(t, ns, "reader")
	c.Grant(t, ns, sa, []string{"get", "watch"}, "allowed")
	cs := client(t, c.Config(sa))
	ctx := t.Context()

	s, err := cs.CoreV1().Secrets(ns).Get(ctx, "allowed", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v1", string(s.Data["value"]))

	_, err = cs.CoreV1().Secrets(ns).Get(ctx, "other", metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	assert.Contains(t, err.Error(), `cannot get resource "secrets"`)
	assert.Contains(t, err.Error(), sa.Name)

	_, err = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list is not granted: %v", err)

	// resourceNames allow a watch narrowed to the name by fieldSelector.
	w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", "allowed").String(),
		ResourceVersion: s.ResourceVersion,
	})
	require.NoError(t, err)
	defer w.Stop()
	c.PutValue(t, ns, "allowed", "v3")
	select {
	case ev := <-w.ResultChan():
		assert.Equal(t, watch.Modified, ev.Type)
		assert.Equal(t, "v3", string(ev.Object.(*corev1.Secret).Data["value"]))
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
	}
	_, err = cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=other"})
	assert.True(t, apierrors.IsForbidden(err), "watch of another name: %v", err)

	// Static users: nothing until granted.
	bob := c.User("bob")
	_, err = client(t, c.Config(bob)).CoreV1().Secrets(ns).Get(ctx, "allowed", metav1.GetOptions{})
	assert.True(t, apierrors.IsForbidden(err), "got %v", err)
	c.Grant(t, ns, bob, []string{"get"})
	_, err = client(t, c.Config(bob)).CoreV1().Secrets(ns).Get(ctx, "other", metav1.GetOptions{})
	assert.NoError(t, err, "a grant without names covers every Secret")

	_, err = client(t, c.Config(kubetest.User{Name: "nobody", Token: "not-a-token"})).CoreV1().Secrets(ns).Get(ctx, "allowed", metav1.GetOptions{})
	assert.True(t, apierrors.IsUnauthorized(err), "got %v", err)
}

func TestAudit(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "v")
	alice := c.User("alice")
	c.Grant(t, ns, alice, []string{"get", "watch"}, "s")
	cs := client(t, c.Config(alice))
	for range 3 {
		_, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{})
		require.NoError(t, err)
	}
	// Not among the Role's resourceNames: RBAC refuses it before the
	// server looks it up, so a missing Secret is 403, not 404.
	_, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "missing", metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=s"})
	require.NoError(t, err)

	assert.Equal(t, 3, c.Count(t, ns, "get", "s", "alice"))
	assert.Equal(t, 1, c.Count(t, ns, "get", "missing", ""))
	assert.Equal(t, 1, c.Count(t, ns, "watch", "s", "alice"), "a watch by name is logged under the name")
	assert.Zero(t, c.Count(t, ns, "get", "s", "bob"))
	w.Stop()
	cancel()

	var codes []int
	for _, r := range c.Requests(t, ns) {
		if r.Verb == "get" && r.User == "alice" {
			codes = append(codes, r.Code)
		}
	}
	assert.Equal(t, []int{200, 200, 200, 403}, codes)

	// Metadata level: the value is not in the log.
	b, err := os.ReadFile(filepath.Join(auditDir(t), "audit.log"))
	if err == nil {
		assert.NotContains(t, string(b), `"value"`)
	}
}

// auditDir is where the Cluster keeps its files; found through the CA
// file's directory.
func auditDir(t *testing.T) string {
	return filepath.Dir(kubetest.Shared(t).CAFile())
}

func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "v")
	sa := c.ServiceAccount(t, ns, "pod")
	c.Grant(t, ns, sa, []string{"get"}, "s")
	anchor := c.PutValue(t, ns, "anchor", "x")
	bound := c.TokenRequest(t, ns, "pod", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchor.Name, UID: anchor.UID})
	cs := client(t, c.Config(kubetest.User{Name: sa.Name, Token: bound}))
	_, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{})
	require.NoError(t, err)
	c.DeleteSecret(t, ns, "anchor")
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{})
		return apierrors.IsUnauthorized(err)
	}, 20*time.Second, 100*time.Millisecond, "a token bound to a deleted object stops working")

	dir, env := c.PodFiles(t, sa)
	assert.Equal(t, "127.0.0.1", env["KUBERNETES_SERVICE_HOST"])
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	require.NoError(t, err)
	assert.Equal(t, sa.Token, string(tok))
	nsb, err := os.ReadFile(filepath.Join(dir, "namespace"))
	require.NoError(t, err)
	assert.Equal(t, ns, string(nsb))
	kubetest.WriteToken(t, dir, "rotated")
	tok, _ = os.ReadFile(filepath.Join(dir, "token"))
	assert.Equal(t, "rotated", string(tok))
}

func TestKubeconfigAndEnv(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "from-kubeconfig")
	carol := c.User("carol")
	c.Grant(t, ns, carol, []string{"get"}, "s")
	env := c.Env(t, carol, ns)
	require.Len(t, env, 2)
	path, ok := strings.CutPrefix(env[0], "KUBECONFIG=")
	require.True(t, ok)
	assert.Equal(t, "KUBERNETES_NAMESPACE="+ns, env[1])
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	s, err := client(t, cfg).CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "from-kubeconfig", string(s.Data["value"]))
	raw, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, ns, raw.Contexts[raw.CurrentContext].Namespace)
}

func TestProxy(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "v")
	p := c.Proxy(t)
	admin := c.User(kubetest.AdminName)
	cfg := p.Config(admin)
	cfg.QPS = -1
	cs := client(t, cfg)
	get := func() error {
		_, err := cs.CoreV1().RESTClient().Get().Namespace(ns).Resource("secrets").Name("s").MaxRetries(0).Do(t.Context()).Get()
		return err
	}
	require.NoError(t, get())

	p.Inject(kubetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3"}, 1)
	err := get()
	require.True(t, apierrors.IsTooManyRequests(err), "got %v", err)
	d, ok := apierrors.SuggestsClientDelay(err)
	assert.True(t, ok)
	assert.Equal(t, 3, d)

	p.Inject(kubetest.Fault{Status: http.StatusServiceUnavailable}, 1)
	err = get()
	assert.True(t, apierrors.IsServiceUnavailable(err), "got %v", err)

	p.Inject(kubetest.Fault{Drop: true}, 1)
	err = get()
	require.Error(t, err)
	assert.False(t, apierrors.IsForbidden(err))

	p.Inject(kubetest.Fault{Status: http.StatusInternalServerError, Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/other") }}, 1)
	require.NoError(t, get(), "a fault that matches another path is left queued")
	_, err = cs.CoreV1().Secrets(ns).Get(t.Context(), "other", metav1.GetOptions{})
	assert.True(t, apierrors.IsInternalError(err), "got %v", err)
	assert.Equal(t, 5, p.Count(http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets/s"))

	p.SetDown(true)
	assert.Error(t, get())
	p.SetDown(false)
	require.NoError(t, get())

	// ResourceVersion "0": start from any state, with the existing object
	// as ADDED, not through WatchList (which Debian's etcd refuses).
	w, err := cs.CoreV1().Secrets(ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=s", ResourceVersion: "0"})
	require.NoError(t, err)
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		require.Equal(t, watch.Added, ev.Type, "a watch without resourceVersion starts with the existing object")
	case <-time.After(10 * time.Second):
		t.Fatal("no initial event")
	}
	require.Equal(t, 1, p.Watches())
	assert.Equal(t, 1, p.CutWatches())
	timeout := time.After(10 * time.Second)
	for ended := false; !ended; {
		select {
		case ev, open := <-w.ResultChan():
			// A broken stream may report an Error event before
			// the channel closes; nothing else comes.
			ended = !open
			if open {
				assert.Equal(t, watch.Error, ev.Type, "a cut watch delivers no object")
			}
		case <-timeout:
			t.Fatal("the cut watch did not end")
		}
	}
}

// TestRestart restarts the shared server: not parallel.
func TestRestart(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "before")
	c.Restart(t, func(admin kubernetes.Interface) {
		_, err := c.Admin().CoreV1().Secrets(ns).Get(context.Background(), "s", metav1.GetOptions{})
		assert.Error(t, err, "the first server is down")
		s, err := admin.CoreV1().Secrets(ns).Get(context.Background(), "s", metav1.GetOptions{})
		require.NoError(t, err)
		s.Data["value"] = []byte("while-down")
		_, err = admin.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{})
		require.NoError(t, err)
	})
	s, err := c.Admin().CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "while-down", string(s.Data["value"]), "same etcd")
}
