// Command pause is the pod sandbox image of the Kubernetes end-to-end
// suite's cluster (built locally: there is no registry to pull
// registry.k8s.io/pause from). It holds the pod's namespaces and exits on
// SIGTERM or SIGINT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
