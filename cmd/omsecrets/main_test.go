package main

import (
	"os"
	"testing"

	"omsecrets/internal/testbed/kubetest"
)

// TestMain runs the tests through kubetest.Main, which stops the real
// kube-apiserver and etcd the Kubernetes store's tests start (once per
// test binary, on first use).
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
