#!/usr/bin/env bash
# Builds the node half of a single-node cluster -- kubelet, kube-controller-manager, kube-scheduler
# and kube-proxy -- from the same k8s.io/kubernetes module and version as the test kube-apiserver
# (test/cluster/build-binaries.sh), into the same cache, keyed by version. One Go module holds the
# four mains, so they share one dependency resolution and one build cache (about 4 minutes for
# all four on 2 cores once kube-apiserver has warmed the cache).
set -euo pipefail

KUBE_VERSION="${CHAINGATE_KUBE_VERSION:-v1.33.13}"
CACHE="${CHAINGATE_CACHE:-$HOME/.cache/chaingate}"
BIN="$CACHE/bin"
NAMES=(kubelet kube-controller-manager kube-scheduler kube-proxy)
mkdir -p "$BIN"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.build-node.lock"
  flock 9
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOPATH="${GOPATH:-$CACHE/gopath}" GOCACHE="${GOCACHE:-$CACHE/gocache}"
log() { printf '[node build] %s\n' "$*" >&2; }

missing=()
for n in "${NAMES[@]}"; do [ -x "$BIN/$n-$KUBE_VERSION" ] || missing+=("$n"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "building ${missing[*]} $KUBE_VERSION (first run only; several minutes)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  go mod init chaingate.local/node-build >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  # Same staging-module pins as the kube-apiserver build: k8s.io/kubernetes requires them at
  # v0.0.0 with replaces that only apply inside its own repository.
  minor=$(echo "$KUBE_VERSION" | sed -E 's/^v1\.([0-9]+)\.([0-9]+)$/0.\1.\2/')
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(grep -E '^\s+k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | sort -u); do
    go mod edit -replace="$m=$m@v$minor"
  done
  main() { # <dir> <import path> <constructor>
    mkdir -p "$1"
    cat > "$1/main.go" <<GO
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"$2"
)

func main() {
	os.Exit(cli.Run(app.$3))
}
GO
  }
  main kubelet k8s.io/kubernetes/cmd/kubelet/app 'NewKubeletCommand()'
  main kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager/app 'NewControllerManagerCommand()'
  main kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler/app 'NewSchedulerCommand()'
  main kube-proxy k8s.io/kubernetes/cmd/kube-proxy/app 'NewProxyCommand()'
  log "resolving dependencies"
  go mod tidy >&2
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
  for n in "${missing[@]}"; do
    log "compiling $n"
    # The kubelet needs cgo for nothing here; static binaries like the upstream release builds.
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$n-$KUBE_VERSION.tmp" "./$n"
    mv "$BIN/$n-$KUBE_VERSION.tmp" "$BIN/$n-$KUBE_VERSION"
    log "$n ready"
  done
fi
for n in "${NAMES[@]}"; do printf '%s\n' "$BIN/$n-$KUBE_VERSION"; done
