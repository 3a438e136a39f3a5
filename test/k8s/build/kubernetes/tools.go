//go:build tools

// Package kubernetes pins the Kubernetes release whose cmd/ binaries the
// Kubernetes end-to-end suite runs (test/k8s/cluster.sh builds them).
// The k8s.io/kubernetes module zip lacks staging/, so each staging module
// is replaced with its published release in go.mod.
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
