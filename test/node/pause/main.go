// The pod sandbox ("pause") container: holds the pod's namespaces open and exits on SIGTERM or
// SIGINT. No registry is reachable here, so the node cannot pull registry.k8s.io/pause; this is
// built from source and imported into containerd instead. (No pod here shares its process
// namespace, so unlike the upstream pause it need not reap orphans.)
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
}
