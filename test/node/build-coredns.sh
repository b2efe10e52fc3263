#!/usr/bin/env bash
# Builds CoreDNS with only the plugins the test node's cluster DNS needs (kubernetes, errors,
# cache, loadbalance... see the Directives list), from the Go module proxy, into the same cache
# as the node's other binaries: CoreDNS's documented "external plugin list" way of building.
# The node runs it as a host process on the node's address; it answers cluster.local names from
# the API server and NXDOMAIN for everything else (it forwards nothing anywhere).
set -euo pipefail

COREDNS_VERSION="${CHAINGATE_COREDNS_VERSION:-v1.14.7}"
CACHE="${CHAINGATE_CACHE:-$HOME/.cache/chaingate}"
BIN="$CACHE/bin"
# The program, plugins included: its hash is part of the cached binary's name.
MAIN_GO=$(cat <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

// Order matters: it is the order plugins see a query in (CoreDNS's plugin.cfg order).
var directives = []string{"bind", "log", "errors", "health", "ready", "kubernetes", "template"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
GO
)
OUT="$BIN/coredns-$COREDNS_VERSION-$(printf '%s' "$MAIN_GO" | sha256sum | cut -c1-12)"
mkdir -p "$BIN"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.build-coredns.lock"
  flock 9
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH="${GOPATH:-$CACHE/gopath}" GOCACHE="${GOCACHE:-$CACHE/gocache}"
if [ ! -x "$OUT" ]; then
  printf '[coredns build] building CoreDNS %s (first run only)\n' "$COREDNS_VERSION" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  go mod init chaingate.local/coredns-build >/dev/null 2>&1
  go mod edit -require="github.com/coredns/coredns@$COREDNS_VERSION"
  printf "%s" "$MAIN_GO" > main.go
  go mod tidy >&2
  go build -trimpath -ldflags "-s -w" -o "$OUT.tmp" .
  mv "$OUT.tmp" "$OUT"
  printf '[coredns build] ready: %s\n' "$OUT" >&2
fi
printf '%s\n' "$OUT"
