package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Version is the Kubernetes version of the API server binary.
const Version = "v1.37.2"

// Environment variables that locate the binaries.
const (
	EnvAPIServer = "OMSECRETS_KUBE_APISERVER"
	EnvEtcd      = "OMSECRETS_ETCD"
)

// Timeouts of starting and stopping the servers. The API server is ready
// in seconds on an idle machine; the margins are for a loaded CI runner.
const (
	startTimeout = 120 * time.Second
	// stopTimeout is the grace period after SIGTERM. The API server's
	// graceful shutdown waits for open watches to end (a client that
	// keeps watching holds it for a minute); kubelet gives it
	// terminationGracePeriodSeconds, 30 by default, and then kills it.
	// The tests do not wait that long.
	stopTimeout = 5 * time.Second
)

// Users are the static restricted users of the token file. Each may do
// nothing until a test grants it something with Cluster.Grant.
var Users = []string{"alice", "bob", "carol"}

// AdminName is the static user in group system:masters.
const AdminName = "admin"

// Cluster is a running etcd and kube-apiserver. Its methods are safe for
// concurrent use, except Restart (see the package documentation).
type Cluster struct {
	dir    string
	pki    *pki
	tokens map[string]string // user -> token
	users  string            // the token file

	etcdURL  string
	etcdPeer string
	port     int
	etcd     *proc

	mu        sync.Mutex // guards apiserver
	apiserver *proc
	args      []string

	admin     *kubernetes.Clientset
	nsCounter atomic.Int64
	audit     auditTail

	// Startup is how long etcd and the API server took to become ready
	// the first time.
	Startup time.Duration
}

var (
	mainRunning atomic.Bool
	shared      struct {
		once sync.Once
		c    *Cluster
		err  error
	}
)

// Main runs the tests of m and then stops the shared Cluster, if a test
// started it. Call it from TestMain: os.Exit(kubetest.Main(m)).
func Main(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	return code
}

// Shared returns the Cluster of the test binary, starting it on the first
// call. It fails tb when the binaries are missing or the servers do not
// start, every time it is called after such a failure too.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatal("kubetest: the test binary's TestMain must run the tests through kubetest.Main, which stops the servers")
	}
	shared.once.Do(func() {
		start := time.Now()
		shared.c, shared.err = start0()
		if shared.err == nil {
			shared.c.Startup = time.Since(start)
		}
	})
	if shared.err != nil {
		tb.Fatalf("kubetest: %v", shared.err)
	}
	return shared.c
}

// Start starts a Cluster of tb's own, stopped when tb's test or
// benchmark ends; it needs no TestMain. Prefer Shared in tests: each
// Cluster costs seconds and a few hundred MB.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	start := time.Now()
	c, err := start0()
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	c.Startup = time.Since(start)
	tb.Cleanup(c.stop)
	return c
}

// start0 starts etcd and the API server; on failure it stops what it
// started and removes its directory.
func start0() (c *Cluster, err error) {
	apiserverBin, etcdBin, err := binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir, tokens: make(map[string]string)}
	defer func() {
		if err != nil {
			c.stop()
			c = nil
		}
	}()
	if c.pki, err = newPKI(dir); err != nil {
		return c, fmt.Errorf("generate certificates: %w", err)
	}
	if err = c.writeConfig(); err != nil {
		return c, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return c, err
	}
	c.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.etcdPeer = "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.port = ports[2]

	c.etcd, err = startProc(etcdBin, filepath.Join(dir, "etcd.log"),
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+c.etcdURL,
		"--advertise-client-urls="+c.etcdURL,
		"--listen-peer-urls="+c.etcdPeer,
		"--initial-advertise-peer-urls="+c.etcdPeer,
		"--initial-cluster=default="+c.etcdPeer,
		"--log-level=warn",
	)
	if err != nil {
		return c, err
	}
	if err = waitHTTP(c.etcd, nil, c.etcdURL+"/health", ""); err != nil {
		return c, fmt.Errorf("etcd: %w", err)
	}

	c.args = c.apiserverArgs(c.port, filepath.Join(dir, "audit.log"))
	if err = c.startAPIServer(apiserverBin); err != nil {
		return c, err
	}
	admin := c.Config(c.User(AdminName))
	admin.QPS = -1 // no client-side rate limit: tests time what the server does
	c.admin, err = kubernetes.NewForConfig(admin)
	if err != nil {
		return c, err
	}
	return c, nil
}

// binaries finds the kube-apiserver and etcd binaries, or says how to get
// them.
func binaries() (apiserver, etcd string, err error) {
	apiserver = os.Getenv(EnvAPIServer)
	if apiserver == "" {
		root, rerr := moduleRoot()
		if rerr != nil {
			return "", "", fmt.Errorf("kube-apiserver binary not found (%v): set %s or run `make kube-apiserver` in the module root", rerr, EnvAPIServer)
		}
		apiserver = filepath.Join(root, ".cache", "kube-apiserver", Version, "kube-apiserver")
	}
	if fi, serr := os.Stat(apiserver); serr != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", "", fmt.Errorf("kube-apiserver binary %s is missing or not executable: run `make kube-apiserver` (or set %s)", apiserver, EnvAPIServer)
	}
	etcd = os.Getenv(EnvEtcd)
	if etcd == "" {
		etcd = "/usr/bin/etcd"
		if _, serr := os.Stat(etcd); serr != nil {
			if p, lerr := exec.LookPath("etcd"); lerr == nil {
				etcd = p
			}
		}
	}
	if _, serr := os.Stat(etcd); serr != nil {
		return "", "", fmt.Errorf("etcd binary %s not found: run `apt-get install etcd-server` (or set %s)", etcd, EnvEtcd)
	}
	return apiserver, etcd, nil
}

// moduleRoot is the directory of the go.mod of module omsecrets above the
// working directory (a test's package directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module omsecrets\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module omsecrets above the working directory")
		}
		dir = parent
	}
}

// writeConfig writes the token file and the audit policy.
func (c *Cluster) writeConfig() error {
	var b strings.Builder
	c.tokens[AdminName] = randomToken()
	fmt.Fprintf(&b, "%s,%s,uid-%s,\"system:masters\"\n", c.tokens[AdminName], AdminName, AdminName)
	for _, u := range Users {
		c.tokens[u] = randomToken()
		fmt.Fprintf(&b, "%s,%s,uid-%s\n", c.tokens[u], u, u)
	}
	c.users = filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(c.users, []byte(b.String()), 0o600); err != nil {
		return err
	}
	// Metadata: who, what, which object, the answer's code; never a
	// body, so the log holds no value. Only secrets, and no
	// RequestReceived stage, to keep it small.
	const policy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: None
`
	return os.WriteFile(filepath.Join(c.dir, "audit-policy.yaml"), []byte(policy), 0o600)
}

// apiserverArgs are the flags of an API server on port writing its audit
// log to auditLog.
func (c *Cluster) apiserverArgs(port int, auditLog string) []string {
	return []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.certFile,
		"--tls-private-key-file=" + c.pki.keyFile,
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--token-auth-file=" + c.users,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.saKey,
		"--service-account-signing-key-file=" + c.pki.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--audit-policy-file=" + filepath.Join(c.dir, "audit-policy.yaml"),
		"--audit-log-path=" + auditLog,
		"--audit-log-format=json",
		// The endpoints of the "kubernetes" Service would point at a
		// loopback address, which the API server refuses to write.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

func (c *Cluster) startAPIServer(bin string) error {
	p, err := startProc(bin, filepath.Join(c.dir, "apiserver.log"), c.args...)
	if err != nil {
		return err
	}
	if err := waitHTTP(p, c.tlsConfig(), c.URL()+"/readyz", c.tokens[AdminName]); err != nil {
		p.stop()
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	c.apiserver = p
	return nil
}

// stop stops the API server, then etcd, and removes the directory.
func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil {
		c.apiserver.stop()
		c.apiserver = nil
	}
	if c.etcd != nil {
		c.etcd.stop()
		c.etcd = nil
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// Restart stops the API server (SIGTERM, as a rolling upgrade does, and
// SIGKILL after 5s if open watches hold its graceful shutdown), runs
// whileDown if it is not nil with an admin client of a second API server
// on the same etcd (so that a test can change objects while the first is
// down), stops that one, and starts the first again on its port. Only a
// test that does not call t.Parallel may call it.
func (c *Cluster) Restart(tb testing.TB, whileDown func(admin kubernetes.Interface)) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	bin := c.apiserver.cmd.Path
	start := time.Now()
	c.apiserver.stop()
	c.apiserver = nil
	stopped := time.Now()
	if whileDown != nil {
		c.runPeer(tb, bin, whileDown)
	}
	peer := time.Now()
	if err := c.startAPIServer(bin); err != nil {
		tb.Fatalf("kubetest: restart: %v", err)
	}
	tb.Logf("kubetest: API server restarted in %v (stop %v, peer %v, start %v)", time.Since(start).Round(time.Millisecond),
		stopped.Sub(start).Round(time.Millisecond), peer.Sub(stopped).Round(time.Millisecond), time.Since(peer).Round(time.Millisecond))
}

// runPeer runs fn against a second API server on the same etcd.
func (c *Cluster) runPeer(tb testing.TB, bin string, fn func(kubernetes.Interface)) {
	tb.Helper()
	ports, err := freePorts(1)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	args := c.apiserverArgs(ports[0], filepath.Join(c.dir, "audit-peer.log"))
	p, err := startProc(bin, filepath.Join(c.dir, "apiserver-peer.log"), args...)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	defer p.stop()
	url := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := waitHTTP(p, c.tlsConfig(), url+"/readyz", c.tokens[AdminName]); err != nil {
		tb.Fatalf("kubetest: peer API server: %v", err)
	}
	cfg := c.Config(c.User(AdminName))
	cfg.Host = url
	cfg.QPS = -1
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	fn(admin)
}

// URL is the API server's address, https://127.0.0.1:<port>.
func (c *Cluster) URL() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

// HostPort returns the API server's host and port, as a pod sees them in
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
func (c *Cluster) HostPort() (host, port string) { return "127.0.0.1", strconv.Itoa(c.port) }

// CAPEM is the PEM certificate of the CA that issued the server's
// certificate.
func (c *Cluster) CAPEM() []byte { return c.pki.caPEM }

// CAFile is the path of CAPEM's file.
func (c *Cluster) CAFile() string { return c.pki.caFile }

// Admin is a client of a system:masters user.
func (c *Cluster) Admin() kubernetes.Interface { return c.admin }

// User is one identity the server authenticates.
type User struct {
	// Name is the user name RBAC and the audit log see, e.g. "alice" or
	// "system:serviceaccount:ns:sa".
	Name string
	// Token is the bearer token.
	Token string
	// ServiceAccount and Namespace are set for a service account.
	ServiceAccount, Namespace string
}

// User returns the static user name ("admin" or one of Users).
func (c *Cluster) User(name string) User {
	tok, ok := c.tokens[name]
	if !ok {
		panic("kubetest: no static user " + strconv.Quote(name))
	}
	return User{Name: name, Token: tok}
}

// Config returns a client configuration for u, with the client-go
// defaults (a test of a store sets its own QPS and retries).
func (c *Cluster) Config(u User) *rest.Config {
	return &rest.Config{
		Host:            c.URL(),
		BearerToken:     u.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM},
	}
}

func (c *Cluster) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.pki.caPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// proc is a running server process; its output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process exited
	err  error         // Wait's result, set before done is closed
}

func startProc(bin, logPath string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Killed with the test binary, should it die without stopping it
	// (a test timeout's panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits; after stopTimeout it kills the process.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the end of the process's log, for an error message.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitHTTP polls url until it answers 200, the process exits or
// startTimeout passes.
func waitHTTP(p *proc, tlsConf *tls.Config, url, token string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready (%v); log:\n%s", p.err, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v (last answer: %s); log:\n%s", startTimeout, last, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n ports of 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
