#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into a cache outside the repo,
# keyed by version, so only the first run pays for the build (several minutes on 2 cores).
set -euo pipefail

KUBE_VERSION="${CHAINGATE_KUBE_VERSION:-v1.33.13}"
ETCD_VERSION="${CHAINGATE_ETCD_VERSION:-v3.5.35}"
CACHE="${CHAINGATE_CACHE:-$HOME/.cache/chaingate}"
BIN="$CACHE/bin"
APISERVER="$BIN/kube-apiserver-$KUBE_VERSION"
ETCD="$BIN/etcd-$ETCD_VERSION"
mkdir -p "$BIN"
# Serialise concurrent callers (parallel test workers, a developer's cluster:up): a second caller
# waits for the first build and then finds the binaries in place, instead of racing it on *.tmp.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.build.lock"
  flock 9
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOPATH="${GOPATH:-$CACHE/gopath}" GOCACHE="${GOCACHE:-$CACHE/gocache}"

log() { printf '[control-plane build] %s\n' "$*" >&2; }

build_apiserver() {
  [ -x "$APISERVER" ] && return 0
  log "building kube-apiserver $KUBE_VERSION (first run only; several minutes)"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cd "$work"
  go mod init chaingate.local/apiserver-build >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with local replaces,
  # which do not apply to a dependent module: pin each to the matching v0.Y.Z tag.
  local minor staging gomod
  minor=$(echo "$KUBE_VERSION" | sed -E 's/^v1\.([0-9]+)\.([0-9]+)$/0.\1.\2/')
  log "downloading k8s.io/kubernetes $KUBE_VERSION module"
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging=$(grep -E '^\s+k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | sort -u)
  for m in $staging; do go mod edit -replace="$m=$m@v$minor"; done
  cat > main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
  log "resolving dependencies"
  go mod tidy >&2
  log "compiling (progress: go build -v lists packages as they build)"
  go build -v -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" -o "$APISERVER.tmp" . 2>&1 | awk '{n++; if (n % 100 == 0) printf "[control-plane build] %d packages compiled\n", n > "/dev/stderr"}'
  mv "$APISERVER.tmp" "$APISERVER"
  log "kube-apiserver ready: $APISERVER"
}

build_etcd() {
  [ -x "$ETCD" ] && return 0
  log "building etcd $ETCD_VERSION"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cd "$work"
  go mod init chaingate.local/etcd-build >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GO
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go mod tidy >&2
  go build -trimpath -ldflags "-s -w" -o "$ETCD.tmp" .
  mv "$ETCD.tmp" "$ETCD"
  log "etcd ready: $ETCD"
}

build_etcd
build_apiserver
printf '%s\n%s\n' "$APISERVER" "$ETCD"
