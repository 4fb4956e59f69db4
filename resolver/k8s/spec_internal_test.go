package k8s

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"

	"omsecrets/internal/testbed/kubetest"
	"omsecrets/resolver"
)

func TestSettings(t *testing.T) {
	assert.Equal(t, []string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_NAMESPACE", "KUBERNETES_NAMESPACE"}, NamespaceSetting.Env)
	assert.Equal(t, []string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_IN_CLUSTER", "KUBERNETES_IN_CLUSTER"}, InClusterSetting.Env)
	assert.Equal(t, []string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_KUBECONFIG_PATH", "KUBERNETES_KUBECONFIG_PATH"}, KubeconfigSetting.Env)
	assert.Equal(t, "OMSECRETS_KUBERNETES_NAMESPACE", NamespaceSetting.Twin("OMSECRETS_"))
	assert.Equal(t, []string{"kubernetes"}, Spec.Providers)
	assert.Equal(t, 1, Spec.BatchSize)
	assert.Equal(t, resolver.Limit{Rate: 50, Burst: 100}, Spec.Limit)
}

func storeConfig(settings, env map[string]string) resolver.StoreConfig {
	if settings == nil {
		settings = map[string]string{}
	}
	if env == nil {
		env = map[string]string{}
	}
	return resolver.StoreConfig{Settings: settings, Env: env}
}

// TestSource covers the choice between the pod's service account and a
// kubeconfig, without a server: nothing here is dialled.
func TestSource(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".kube"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".kube", "config"), []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	pod := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(pod, "token"), []byte("tok"), 0o600))
	files := inDir(pod)
	inPod := map[string]string{EnvServiceHost: "10.0.0.1", EnvServicePort: "443"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	for _, tc := range []struct {
		name     string
		settings map[string]string
		env      map[string]string
		files    podFiles
		want     string // Describe, or "" for not configured
		wantErr  string
	}{
		{name: "nothing", want: ""},
		{name: "pod", env: inPod, files: files, want: "in-cluster service account"},
		{name: "pod without token", env: inPod, files: inDir(t.TempDir()), want: ""},
		{name: "pod but in-cluster false", settings: map[string]string{"kubernetes-in-cluster": "false"}, env: inPod, files: files, want: ""},
		{name: "in-cluster true", settings: map[string]string{"kubernetes-in-cluster": "True"}, env: inPod, files: files, want: "in-cluster service account"},
		{name: "in-cluster true outside a pod", settings: map[string]string{"kubernetes-in-cluster": "true"}, wantErr: "not in a pod"},
		{name: "in-cluster not a boolean", settings: map[string]string{"kubernetes-in-cluster": "maybe"}, wantErr: `kubernetes-in-cluster: "maybe" is not a boolean`},
		{name: "explicit kubeconfig", settings: map[string]string{"kubernetes-kubeconfig-path": kubeconfig}, env: inPod, files: files, want: "kubeconfig " + kubeconfig},
		{name: "KUBECONFIG wins over the pod", env: with(inPod, "KUBECONFIG", kubeconfig), files: files, want: "kubeconfig " + kubeconfig},
		{name: "KUBECONFIG list, missing files skipped", env: map[string]string{"KUBECONFIG": "/nonexistent" + string(filepath.ListSeparator) + kubeconfig}, want: "kubeconfig " + kubeconfig},
		{name: "stale KUBECONFIG", env: with(inPod, "KUBECONFIG", "/nonexistent"), files: files, want: "in-cluster service account"},
		{name: "home kubeconfig", env: map[string]string{"HOME": home}, want: "kubeconfig " + filepath.Join(home, ".kube", "config")},
		{name: "home without kubeconfig", env: map[string]string{"HOME": t.TempDir()}, want: ""},
		{name: "in-cluster false and home", settings: map[string]string{"kubernetes-in-cluster": "no"}, env: with(inPod, "HOME", home), files: files, want: "kubeconfig " + filepath.Join(home, ".kube", "config")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.files
			if f.token == "" {
				f = inDir(t.TempDir())
			}
			src, err := source(storeConfig(tc.settings, tc.env), f)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.False(t, errors.Is(err, resolver.ErrNotConfigured))
				return
			}
			if tc.want == "" {
				var nc *resolver.NotConfiguredError
				require.ErrorAs(t, err, &nc)
				assert.Equal(t, []string{"kubernetes-in-cluster", "kubernetes-kubeconfig-path"}, nc.Need)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, src.Describe)
		})
	}
}

func TestNamespace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "namespace")
	for _, tc := range []struct {
		name, setting, file, want, wantErr string
	}{
		{name: "setting", setting: " airflow ", want: "airflow"},
		{name: "pod file", file: "pipelines\n", want: "pipelines"},
		{name: "setting wins", setting: "a", file: "b", want: "a"},
		{name: "default", want: "default"},
		{name: "bad setting", setting: "Bad_NS", wantErr: `kubernetes-namespace "Bad_NS" is not a namespace name`},
		{name: "dots", setting: "a.b", wantErr: "dots are not allowed"},
		{name: "too long", setting: strings.Repeat("n", 64), wantErr: "longer than 63"},
		{name: "path trick", setting: "../kube-system", wantErr: "not a namespace name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(file)
			if tc.file != "" {
				require.NoError(t, os.WriteFile(file, []byte(tc.file), 0o600))
			}
			ns, err := namespace(tc.setting, file)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, ns)
		})
	}
}

// TestOpenKubeconfig opens the store the way cmd does, from KUBECONFIG
// and the OpenMetadata namespace variable's value, and reads a Secret.
func TestOpenKubeconfig(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "via-kubeconfig")
	u := c.ServiceAccount(t, ns, "omsecrets")
	c.Grant(t, ns, u, []string{"get"}, "s")
	env := map[string]string{}
	for _, kv := range c.Env(t, u, ns) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	g, err := Spec.Open(t.Context(), storeConfig(map[string]string{"kubernetes-namespace": env["KUBERNETES_NAMESPACE"]}, env))
	require.NoError(t, err)
	v, err := g.Get(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, `{"value":"via-kubeconfig"}`, v.Value())

	path := c.Kubeconfig(t, u, ns, "")
	g, err = Spec.Open(t.Context(), storeConfig(map[string]string{"kubernetes-kubeconfig-path": path, "kubernetes-namespace": ns}, nil))
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "s")
	require.NoError(t, err)

	_, err = Spec.Open(t.Context(), storeConfig(map[string]string{"kubernetes-kubeconfig-path": filepath.Join(t.TempDir(), "missing")}, nil))
	require.Error(t, err, "an explicit kubeconfig must exist")
	assert.False(t, errors.Is(err, resolver.ErrNotConfigured))
}

// TestInCluster runs the store as in a pod: the service address from
// the environment, the token, CA and namespace from the mounted files.
// The token is then rotated as kubelet does and the old one revoked: the
// first read after that gets 401, reads the token file again and
// succeeds, one retry.
func TestInCluster(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.PutValue(t, ns, "s", "in-cluster")
	u := c.ServiceAccount(t, ns, "pod")
	c.Grant(t, ns, u, []string{"get"}, "s")
	anchorA := c.PutValue(t, ns, "anchor-a", "x")
	tokenA := c.TokenRequest(t, ns, "pod", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchorA.Name, UID: anchorA.UID})
	u.Token = tokenA
	dir, env := c.PodFiles(t, u)
	// Through the proxy, to count requests.
	p := c.Proxy(t)
	pu, err := url.Parse(p.URL())
	require.NoError(t, err)
	env[EnvServiceHost], env[EnvServicePort] = pu.Hostname(), pu.Port()

	g, err := openWith(t.Context(), storeConfig(nil, env), inDir(dir))
	require.NoError(t, err)
	s := g.(*Store)
	assert.Equal(t, ns, s.Namespace(), "the pod's namespace")
	v, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, `{"value":"in-cluster"}`, v.Value())
	path := "/api/v1/namespaces/" + ns + "/secrets/s"
	require.Equal(t, 1, p.Count(http.MethodGet, path))

	// Rotate: a new token in the file, the old one revoked.
	anchorB := c.PutValue(t, ns, "anchor-b", "x")
	kubetest.WriteToken(t, dir, c.TokenRequest(t, ns, "pod", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchorB.Name, UID: anchorB.UID}))
	c.DeleteSecret(t, ns, "anchor-a")
	// The server caches a token's validity for a few seconds; wait
	// until it refuses token A.
	require.Eventually(t, func() bool {
		_, err := kubetestGet(t, c, ns, tokenA)
		return err != nil
	}, 30*time.Second, 200*time.Millisecond)

	before := p.Count(http.MethodGet, path)
	v, err = s.Get(t.Context(), "s")
	require.NoError(t, err, "the token file is read again after a 401")
	assert.Equal(t, `{"value":"in-cluster"}`, v.Value())
	assert.Equal(t, before+2, p.Count(http.MethodGet, path), "the refused request and one retry")

	// A token that is refused after reading it again: permission.
	kubetest.WriteToken(t, dir, "garbage-token-7c1d")
	c.DeleteSecret(t, ns, "anchor-b")
	require.Eventually(t, func() bool {
		_, err := s.Get(t.Context(), "s")
		return errors.Is(err, resolver.ErrPermission)
	}, 30*time.Second, 200*time.Millisecond)
	_, err = s.Get(t.Context(), "s")
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.NotContains(t, err.Error(), "garbage-token-7c1d")
}

// kubetestGet reads ns/s with token, directly from the server.
func kubetestGet(t *testing.T, c *kubetest.Cluster, ns, token string) (resolver.Secret, error) {
	cfg := c.Config(kubetest.User{Name: "x", Token: token})
	s, err := New(context.Background(), cfg, Options{Namespace: ns})
	require.NoError(t, err)
	return s.get0(t.Context(), "s")
}

// get0 is Get without reading the credentials again.
func (s *Store) get0(ctx context.Context, name string) (resolver.Secret, error) {
	sec, err := s.client.Load().get(ctx, s.ns, name, s.timeout)
	if err != nil {
		return resolver.Secret{}, err
	}
	return resolver.NewSecret(s.encode(name, sec.Data)), nil
}
