package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// opTimeout bounds one admin call of a helper.
const opTimeout = 30 * time.Second

func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// Namespace creates a namespace named after tb's test, unique in the
// binary, and returns its name. It is left in place: without a
// controller manager a deleted namespace never finishes terminating, and
// the cluster is thrown away with the binary.
func (c *Cluster) Namespace(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(tb.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	suffix := "-" + strconv.FormatInt(c.nsCounter.Add(1), 10)
	name := strings.TrimSuffix(b.String(), "-")
	if max := 63 - len("t-") - len(suffix); len(name) > max {
		name = strings.TrimSuffix(name[:max], "-")
	}
	name = "t-" + name + suffix
	ctx, cancel := opContext()
	defer cancel()
	if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	return name
}

// ServiceAccount creates the service account ns/name if it does not
// exist and returns it with a token from the TokenRequest API, valid for
// an hour and bound to nothing but the account.
func (c *Cluster) ServiceAccount(tb testing.TB, ns, name string) User {
	tb.Helper()
	ctx, cancel := opContext()
	defer cancel()
	_, err := c.admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("kubetest: create service account %s/%s: %v", ns, name, err)
	}
	return User{
		Name:           "system:serviceaccount:" + ns + ":" + name,
		Token:          c.TokenRequest(tb, ns, name, nil),
		ServiceAccount: name,
		Namespace:      ns,
	}
}

// TokenRequest returns a new token of the service account ns/sa, valid
// for an hour. With bound set the token is bound to that object (a
// Secret or a Pod of ns) and stops working when the object is deleted, as
// the projected token of a deleted pod does.
func (c *Cluster) TokenRequest(tb testing.TB, ns, sa string, bound *authenticationv1.BoundObjectReference) string {
	tb.Helper()
	ctx, cancel := opContext()
	defer cancel()
	ttl := int64(3600)
	tr, err := c.admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl, BoundObjectRef: bound},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: token request for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// Subject is u as an RBAC subject.
func (u User) Subject() rbacv1.Subject {
	if u.ServiceAccount != "" {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: u.ServiceAccount, Namespace: u.Namespace}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u.Name}
}

// Grant lets u use verbs on the Secrets of ns named names (all Secrets of
// ns when names is empty): a Role with that one rule and a RoleBinding of
// it to u, as an operator would write them.
func (c *Cluster) Grant(tb testing.TB, ns string, u User, verbs []string, names ...string) {
	tb.Helper()
	c.GrantRule(tb, ns, u, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: verbs, ResourceNames: names})
}

// GrantRule binds a Role of ns with rule to u.
func (c *Cluster) GrantRule(tb testing.TB, ns string, u User, rule rbacv1.PolicyRule) {
	tb.Helper()
	ctx, cancel := opContext()
	defer cancel()
	role, err := c.admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kubetest-"},
		Rules:      []rbacv1.PolicyRule{rule},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create role in %s: %v", ns, err)
	}
	_, err = c.admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		Subjects:   []rbacv1.Subject{u.Subject()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create role binding in %s: %v", ns, err)
	}
	c.waitAllowed(tb, ns, u, rule)
}

// waitAllowed waits until the authorizer allows what rule grants u: the
// RBAC authorizer reads Roles and RoleBindings from an informer, so a
// new binding takes effect a moment after it was written.
func (c *Cluster) waitAllowed(tb testing.TB, ns string, u User, rule rbacv1.PolicyRule) {
	tb.Helper()
	name := ""
	if len(rule.ResourceNames) > 0 {
		name = rule.ResourceNames[0]
	}
	resource := "secrets"
	if len(rule.Resources) > 0 {
		resource = rule.Resources[0]
	}
	groups := []string{"system:authenticated"}
	if u.ServiceAccount != "" {
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+u.Namespace)
	}
	deadline := time.Now().Add(opTimeout)
	for _, verb := range rule.Verbs {
		for {
			ctx, cancel := opContext()
			r, err := c.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   u.Name,
					Groups: groups,
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: ns, Verb: verb, Resource: resource, Name: name,
					},
				},
			}, metav1.CreateOptions{})
			cancel()
			if err != nil {
				tb.Fatalf("kubetest: subject access review: %v", err)
			}
			if r.Status.Allowed {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("kubetest: RBAC does not allow %s to %s %s/%s after %v", u.Name, verb, ns, name, opTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// PutSecret creates or replaces the Opaque Secret ns/name with data and
// returns it as stored.
func (c *Cluster) PutSecret(tb testing.TB, ns, name string, data map[string][]byte) *corev1.Secret {
	tb.Helper()
	ctx, cancel := opContext()
	defer cancel()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeOpaque, Data: data}
	// Update first: a test that changes a Secret times one request.
	out, err := c.admin.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		out, err = c.admin.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		tb.Fatalf("kubetest: put secret %s/%s: %v", ns, name, err)
	}
	return out
}

// PutValue is PutSecret with the one data key "value", the way
// OpenMetadata's server stores a secret.
func (c *Cluster) PutValue(tb testing.TB, ns, name, value string) *corev1.Secret {
	tb.Helper()
	return c.PutSecret(tb, ns, name, map[string][]byte{"value": []byte(value)})
}

// DeleteSecret deletes ns/name; a Secret that does not exist is not an
// error.
func (c *Cluster) DeleteSecret(tb testing.TB, ns, name string) {
	tb.Helper()
	ctx, cancel := opContext()
	defer cancel()
	if err := c.admin.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		tb.Fatalf("kubetest: delete secret %s/%s: %v", ns, name, err)
	}
}

// Kubeconfig writes a kubeconfig file for u, with ns as its context's
// namespace, into a directory of tb and returns its path. server, if not
// empty, replaces the API server's URL (a Proxy's).
func (c *Cluster) Kubeconfig(tb testing.TB, u User, ns, server string) string {
	tb.Helper()
	if server == "" {
		server = c.URL()
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: u.Token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "user", Namespace: ns}
	cfg.CurrentContext = "kubetest"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tb.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return path
}

// Env returns the environment that points the omsecrets Kubernetes store
// at the server as u, reading Secrets of ns: KUBECONFIG naming a
// kubeconfig file for u (see Kubeconfig) and KUBERNETES_NAMESPACE, the
// namespace variable of OpenMetadata's env loader. It is for end-to-end
// tests of the omsecrets binary.
func (c *Cluster) Env(tb testing.TB, u User, ns string) []string {
	tb.Helper()
	return []string{
		"KUBECONFIG=" + c.Kubeconfig(tb, u, ns, ""),
		"KUBERNETES_NAMESPACE=" + ns,
	}
}

// PodFiles writes what kubelet mounts into a pod for service account u
// (token, ca.crt, namespace) into a directory of tb and returns it, with
// the KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT variables a pod
// gets. WriteToken replaces the token, as kubelet does when it rotates
// it.
func (c *Cluster) PodFiles(tb testing.TB, u User) (dir string, env map[string]string) {
	tb.Helper()
	if u.ServiceAccount == "" {
		tb.Fatalf("kubetest: PodFiles needs a service account, not user %s", u.Name)
	}
	dir = tb.TempDir()
	WriteToken(tb, dir, u.Token)
	for name, b := range map[string][]byte{"ca.crt": c.pki.caPEM, "namespace": []byte(u.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatalf("kubetest: %v", err)
		}
	}
	host, port := c.HostPort()
	return dir, map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
}

// WriteToken replaces dir/token with token atomically (kubelet swaps a
// ..data symlink; a rename is as atomic for a reader).
func WriteToken(tb testing.TB, dir, token string) {
	tb.Helper()
	tmp := filepath.Join(dir, ".token.tmp")
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "token")); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
}

// String names u; never its token.
func (u User) String() string { return fmt.Sprintf("user %s", u.Name) }
