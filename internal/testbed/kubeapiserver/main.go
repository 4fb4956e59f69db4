// Command kube-apiserver is the upstream Kubernetes API server (k8s.io/kubernetes
// v1.37.2, cmd/kube-apiserver), built from this nested module so the Kubernetes
// store's tests (internal/testbed/kubetest) run against the real thing: real RBAC, real
// watch, real status bodies, real etcd. `make kube-apiserver` builds it into
// .cache/kube-apiserver/<version>/.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob, as upstream

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
