//go:build tools

// Package etcd pins the etcd release the Kubernetes end-to-end suite runs
// (test/k8s/cluster.sh builds it). Debian's etcd is 3.4, too old for
// Kubernetes 1.37.
package etcd

import _ "go.etcd.io/etcd/server/v3"
