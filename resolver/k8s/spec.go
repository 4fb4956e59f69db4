package k8s

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
)

// Name is the store's name, OpenMetadata's provider name.
const Name = "kubernetes"

// Variables read from StoreConfig.Env besides the settings'.
const (
	EnvServiceHost = "KUBERNETES_SERVICE_HOST"
	EnvServicePort = "KUBERNETES_SERVICE_PORT"
	EnvKubeconfig  = "KUBECONFIG"
	EnvHome        = "HOME"
)

// Settings of the store.
var (
	NamespaceSetting = resolver.Setting{
		Name: "kubernetes-namespace",
		Env: []string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_NAMESPACE",
			"KUBERNETES_NAMESPACE",
		},
		Usage: "namespace of the Secrets; default: the pod's own namespace, else \"default\"",
	}
	InClusterSetting = resolver.Setting{
		Name: "kubernetes-in-cluster",
		Env: []string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_IN_CLUSTER",
			"KUBERNETES_IN_CLUSTER",
		},
		Usage: "true: use the pod's service account; false: a kubeconfig; unset: a kubeconfig if there is one, else the pod's service account",
	}
	KubeconfigSetting = resolver.Setting{
		Name: "kubernetes-kubeconfig-path",
		Env: []string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_KUBECONFIG_PATH",
			"KUBERNETES_KUBECONFIG_PATH",
		},
		Usage: "kubeconfig file of the Kubernetes store; default: $KUBECONFIG, else ~/.kube/config",
	}
)

// Spec describes the Kubernetes store to the store table: on in a pod
// (KUBERNETES_SERVICE_HOST and _PORT set) or with a kubeconfig; see the
// package documentation for the order.
var Spec = resolver.Spec{
	Name:      Name,
	Providers: []string{"kubernetes"},
	Summary:   "Kubernetes Secrets",
	Settings:  []resolver.Setting{NamespaceSetting, InClusterSetting, KubeconfigSetting},
	// kube-apiserver publishes no per-client quota: API Priority and
	// Fairness queues requests per flow and answers 429 when a priority
	// level's seats and queues are full (Kubernetes docs, "API Priority
	// and Fairness"). Service accounts fall in flow schema
	// service-accounts, priority level workload-low: 100 of the 245
	// nominal shares of the default 400+200 seats
	// (k8s.io/apiserver pkg/apis/flowcontrol/bootstrap). A GET of a
	// Secret holds a seat for about a millisecond, so 50 calls per
	// second, in bursts of 100, use well under one seat. That is
	// kubectl's discovery rate (k8s.io/kubectl pkg/cmd/cmd.go,
	// WithDiscoveryQPS(50)) and ten times client-go's controller default
	// (rest.DefaultQPS 5, DefaultBurst 10), at which a cold start of 800
	// Secrets would take well over a minute.
	Limit:     resolver.Limit{Rate: 50, Burst: 100},
	BatchSize: 1,
	// OpenMetadata's KubernetesSecretsManager (after PR #25988): "-"
	// between the parts, none before the first, what is not
	// [A-Za-z0-9-] replaced by "-". (Its final sanitizeForK8s also
	// collapses runs of "-", which no pipeline or bot name here has.)
	IDs:   resolver.IDScheme{Sep: "-", NoLeadingSep: true, Clean: dashes},
	Open:  open,
	Costs: costs,
}

// dashes replaces every character of an id part but ASCII letters,
// digits and "-" with "-".
func dashes(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return r
		}
		return '-'
	}, s)
}

// podFiles are the files kubelet mounts into a pod for its service
// account.
type podFiles struct {
	token, ca, namespace string
}

var defaultPodFiles = podFiles{
	token:     "/var/run/secrets/kubernetes.io/serviceaccount/token",
	ca:        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
	namespace: "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
}

// inDir returns the pod files of a service account directory, for tests.
func inDir(dir string) podFiles {
	return podFiles{token: filepath.Join(dir, "token"), ca: filepath.Join(dir, "ca.crt"), namespace: filepath.Join(dir, "namespace")}
}

func open(ctx context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
	return openWith(ctx, cfg, defaultPodFiles)
}

// Source is where the store's client configuration comes from.
type Source struct {
	// Describe names it for a log line: "in-cluster" or "kubeconfig
	// <path>"; never a credential.
	Describe string
	// Load builds the client configuration, reading the token or the
	// kubeconfig file again; the store calls it at start and after the
	// API server refused a token (401).
	Load func() (*rest.Config, error)
	// InCluster is set for the pod's service account.
	InCluster bool
}

// openWith is Spec.Open with the pod's files at files.
func openWith(ctx context.Context, cfg resolver.StoreConfig, files podFiles) (resolver.Getter, error) {
	src, err := source(cfg, files)
	if err != nil {
		return nil, err
	}
	ns, err := namespace(cfg.Settings[NamespaceSetting.Name], files.namespace)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s, err := NewFromSource(ctx, src, Options{Namespace: ns, Logger: logger})
	if err != nil {
		return nil, err
	}
	logger.Debug("store configured", "namespace", ns, "credentials", src.Describe)
	return s, nil
}

// source decides between the pod's service account and a kubeconfig:
//
//   - kubernetes-in-cluster true: the service account; the pod's
//     variables must be set;
//   - kubernetes-kubeconfig-path set: that file;
//   - else the files of $KUBECONFIG that exist, else ~/.kube/config if it
//     exists;
//   - else, unless kubernetes-in-cluster is false, the service account
//     if the pod's variables are set and its token is mounted;
//   - else the store is not configured.
//
// Only the explicit settings fail Open when what they name is missing:
// the other sources are tried because they are there, and a pod without
// a mounted token (automountServiceAccountToken: false) or a stale
// $KUBECONFIG leaves the store off instead of stopping omsecrets.
func source(cfg resolver.StoreConfig, files podFiles) (Source, error) {
	env := cfg.Env
	inCluster, err := parseBool(cfg.Settings[InClusterSetting.Name])
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", InClusterSetting.Name, err)
	}
	path := strings.TrimSpace(cfg.Settings[KubeconfigSetting.Name])
	inPod := env[EnvServiceHost] != "" && env[EnvServicePort] != ""
	switch {
	case inCluster == isTrue:
		if !inPod {
			return Source{}, fmt.Errorf("%s is true but %s and %s are not set: not in a pod", InClusterSetting.Name, EnvServiceHost, EnvServicePort)
		}
		return inClusterSource(env, files), nil
	case path != "":
		return kubeconfigSource(&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, path), nil
	}
	if v := env[EnvKubeconfig]; v != "" {
		var existing []string
		for _, p := range filepath.SplitList(v) {
			if isFile(p) {
				existing = append(existing, p)
			}
		}
		if len(existing) > 0 {
			return kubeconfigSource(&clientcmd.ClientConfigLoadingRules{Precedence: existing}, strings.Join(existing, string(filepath.ListSeparator))), nil
		}
	}
	if h := env[EnvHome]; h != "" {
		if home := filepath.Join(h, ".kube", "config"); isFile(home) {
			return kubeconfigSource(&clientcmd.ClientConfigLoadingRules{ExplicitPath: home}, home), nil
		}
	}
	if inCluster != isFalse && inPod && isFile(files.token) {
		return inClusterSource(env, files), nil
	}
	return Source{}, &resolver.NotConfiguredError{Store: Name, Need: []string{InClusterSetting.Name, KubeconfigSetting.Name}}
}

// maxKubeconfig bounds the kubeconfig, token and namespace files read.
const maxKubeconfig = 4 << 20

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

type tristate int

const (
	unset tristate = iota
	isTrue
	isFalse
)

// parseBool reads a boolean setting the way Airflow's conf.getboolean
// does (true/false, 1/0, yes/no, on/off, any case); "" is unset.
func parseBool(v string) (tristate, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return unset, nil
	case "true", "1", "yes", "on", "t", "y":
		return isTrue, nil
	case "false", "0", "no", "off", "f", "n":
		return isFalse, nil
	}
	return unset, fmt.Errorf("%q is not a boolean (true or false)", v)
}

// inClusterSource is rest.InClusterConfig with the variables of env and
// the files at files: the API server at the pod's service address, the
// service account token (client-go reads the file again every minute, and
// the store on a 401) and the cluster's CA.
func inClusterSource(env map[string]string, files podFiles) Source {
	host := "https://" + net.JoinHostPort(env[EnvServiceHost], env[EnvServicePort])
	return Source{
		Describe:  "in-cluster service account",
		InCluster: true,
		Load: func() (*rest.Config, error) {
			token, err := safefile.Read(files.token, maxKubeconfig)
			if err != nil {
				return nil, fmt.Errorf("read the service account token: %w", err)
			}
			if _, err := os.Stat(files.ca); err != nil {
				return nil, fmt.Errorf("read the cluster CA: %w", err)
			}
			return &rest.Config{
				Host:            host,
				BearerToken:     strings.TrimSpace(string(token)),
				BearerTokenFile: files.token,
				TLSClientConfig: rest.TLSClientConfig{CAFile: files.ca},
			}, nil
		},
	}
}

// kubeconfigSource loads the current context of the kubeconfig files of
// rules. It never falls back to the in-cluster configuration (client-go's
// deferred loading would, from the process environment).
func kubeconfigSource(rules *clientcmd.ClientConfigLoadingRules, describe string) Source {
	return Source{
		Describe: "kubeconfig " + describe,
		Load: func() (*rest.Config, error) {
			// client-go reads the files with os.ReadFile: a FIFO would
			// hang it, deaf to SIGTERM. Refuse what is not a bounded
			// regular file first.
			for _, p := range append([]string{rules.ExplicitPath}, rules.Precedence...) {
				if p == "" {
					continue
				}
				if _, err := safefile.Read(p, maxKubeconfig); err != nil {
					return nil, fmt.Errorf("kubeconfig %s: %w", p, err)
				}
			}
			raw, err := rules.Load()
			if err != nil {
				return nil, fmt.Errorf("load kubeconfig: %w", err)
			}
			cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, raw.CurrentContext, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
			if err != nil {
				if clientcmd.IsEmptyConfig(err) {
					return nil, fmt.Errorf("kubeconfig %s: no current context with a cluster", describe)
				}
				return nil, fmt.Errorf("kubeconfig %s: %w", describe, err)
			}
			return cfg, nil
		},
	}
}

// namespace is the setting, else the pod's namespace file, else
// "default", as OpenMetadata's clients decide.
func namespace(setting, file string) (string, error) {
	ns := strings.TrimSpace(setting)
	if ns == "" {
		b, err := safefile.Read(file, maxKubeconfig)
		switch {
		case err == nil:
			ns = strings.TrimSpace(string(b))
		case errors.Is(err, fs.ErrNotExist):
		default:
			return "", fmt.Errorf("read the pod's namespace: %w", err)
		}
	}
	if ns == "" {
		ns = "default"
	}
	if p := labelProblem(ns); p != "" {
		return "", fmt.Errorf("%s %q is not a namespace name: %s", NamespaceSetting.Name, ns, p)
	}
	return ns, nil
}

// labelProblem says why ns is not a namespace name (an RFC 1123 label of
// at most 63 characters), or returns "".
func labelProblem(ns string) string {
	if len(ns) > 63 {
		return "longer than 63 characters"
	}
	if strings.Contains(ns, ".") {
		return "dots are not allowed"
	}
	if p := nameProblem(ns); p != "" {
		return p
	}
	return ""
}

// String names the source, for %v.
func (s Source) String() string { return strconv.Quote(s.Describe) }

// costs are the published quotas of the store's calls and how its change
// detection refreshes (resolver.Costs), as checked on 2026-12-02. They
// change: each quota names its source.
var costs = &resolver.Costs{
	Fetch: resolver.Quota{
		Operation: "GET Secret",
		Published: "none published: API Priority and Fairness limits are the cluster operator's",
		Source:    "https://kubernetes.io/docs/concepts/cluster-administration/flow-control/",
		Confirmed: true,
	},
	Refresh: resolver.RefreshCost{
		Operation: "watch",
		Note:      "0 while the store's watches hold (each Secret it read is watched); a watch that is refused leaves its Secrets to full reads",
	},
}
