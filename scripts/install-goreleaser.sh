#!/usr/bin/env bash
# Installs the pinned GoReleaser into the cache outside the clone:
#   $TPM_CACHE/bin/goreleaser-<version>
# CI validates .goreleaser.yml with the real tool (`goreleaser check`), so the version is pinned
# here rather than taken from whatever happens to be on PATH. Built from its Go module through
# the module proxy; a second run finds the binary and does nothing. Prints GORELEASER=<path>.
set -euo pipefail

# 2.16.0 is the newest v2 release whose dependencies all come through the Go module proxy:
# 2.17.0 and later pull go.digitalxero.dev/go-msix (via nfpm 2.47), a host the proxy used by
# our CI refuses to fetch from. Raise the pin once that changes.
GORELEASER_VERSION=2.16.0
GORELEASER_MODULE=github.com/goreleaser/goreleaser/v2

TPM_CACHE="${TPM_CACHE:-$HOME/.cache/terraform-provider-maestro}"
goreleaser_bin="$TPM_CACHE/bin/goreleaser-$GORELEASER_VERSION"
goreleaser_src="$TPM_CACHE/src/goreleaser-v$GORELEASER_VERSION"

log() { printf '[install-goreleaser] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The module's go.mod may ask for a newer Go than the machine has; `auto` lets the go command
# fetch that toolchain (itself a module, golang.org/toolchain) from the same proxy instead of
# refusing. A caller that pinned GOTOOLCHAIN keeps its choice.
export GOTOOLCHAIN="${GOTOOLCHAIN_FOR_GORELEASER:-auto}"

goreleaser_is_current() {
    [ -x "$goreleaser_bin" ] || return 1
    # `goreleaser --version` prints a banner; the GitVersion line carries the module version
    # for a `go install` build and "(devel)" for a build from a source copy. Both are accepted
    # only together with the module path and version we stamped in via ldflags.
    local reported
    reported="$("$goreleaser_bin" --version 2>/dev/null)" || return 1
    grep -Eq "^GitVersion:[[:space:]]+v?${GORELEASER_VERSION//./\\.}\$" <<<"$reported"
}

install_with_go_install() {
    # The normal route: works whenever the module has no replace directives.
    GOBIN="$scratch_bin" go install -trimpath \
        -ldflags "-s -w -X main.version=$GORELEASER_VERSION -X main.builtBy=install-goreleaser.sh" \
        "$GORELEASER_MODULE@v$GORELEASER_VERSION" >&2
    mv -f "$scratch_bin/goreleaser" "$goreleaser_bin.partial"
}

install_from_module_source() {
    # `go install module@version` refuses a module whose go.mod has replace directives; then
    # fetch the source through the proxy and build it as the main module (same approach as
    # install-test-tools.sh uses for OpenTofu).
    local mod_json mod_dir
    mod_json="$(cd "$scratch" && GO111MODULE=on go mod download -json "$GORELEASER_MODULE@v$GORELEASER_VERSION")" \
        || die "go mod download failed: $mod_json"
    mod_dir="$(printf '%s' "$mod_json" | python3 -c '
import json, sys
info = json.load(sys.stdin)
if info.get("Error"):
    sys.exit("go mod download: " + info["Error"])
print(info["Dir"])
')"
    [ -d "$mod_dir" ] || die "module directory $mod_dir missing"
    rm -rf "$goreleaser_src.partial"
    cp -R "$mod_dir" "$goreleaser_src.partial"
    chmod -R u+w "$goreleaser_src.partial"
    rm -rf "$goreleaser_src"
    mv "$goreleaser_src.partial" "$goreleaser_src"
    (
        cd "$goreleaser_src"
        go build -trimpath -buildvcs=false \
            -ldflags "-s -w -X main.version=$GORELEASER_VERSION -X main.builtBy=install-goreleaser.sh" \
            -o "$goreleaser_bin.partial" .
    ) >&2
}

install_goreleaser() {
    if goreleaser_is_current; then
        log "GoReleaser $GORELEASER_VERSION already at $goreleaser_bin"
        return
    fi
    command -v go >/dev/null 2>&1 || die "go is required to build GoReleaser"
    mkdir -p "$TPM_CACHE/bin" "$TPM_CACHE/src"
    # An empty working directory: no go.mod above it may change how the module resolves.
    scratch="$(mktemp -d)"
    scratch_bin="$scratch/bin"
    trap 'rm -rf "$scratch"' EXIT
    log "building $GORELEASER_MODULE@v$GORELEASER_VERSION (GOCACHE=$(go env GOCACHE)); minutes on a cold cache"
    if ! (cd "$scratch" && install_with_go_install); then
        log "go install refused the module; building it from its source instead"
        command -v python3 >/dev/null 2>&1 || die "python3 is required"
        install_from_module_source || die "go build of GoReleaser failed"
    fi
    # Moved into place only when complete, so an interrupted build never counts as installed.
    mv -f "$goreleaser_bin.partial" "$goreleaser_bin"
    goreleaser_is_current || die "$goreleaser_bin does not report GoReleaser $GORELEASER_VERSION"
    log "installed GoReleaser $GORELEASER_VERSION at $goreleaser_bin"
}

install_goreleaser

echo "GORELEASER=$goreleaser_bin"
