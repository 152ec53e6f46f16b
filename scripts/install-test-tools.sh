#!/usr/bin/env bash
# Installs the pinned tools the acceptance tests drive, into a cache outside the clone:
#   $TPM_CACHE/bin/tofu-1.12.6        OpenTofu built from its Go module source
#   $TPM_CACHE/venv-moto-5.2.5        python venv from acceptance-tests/requirements.txt
# CI clones the repo fresh every run, so everything expensive lives in $TPM_CACHE and every
# step is skipped when its result is already there. Needs only go, python3 and a registry.
set -euo pipefail

TOFU_VERSION=1.12.6
TOFU_MODULE=github.com/opentofu/opentofu
MOTO_VERSION=5.2.5

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPM_CACHE="${TPM_CACHE:-$HOME/.cache/terraform-provider-maestro}"
tofu_bin="$TPM_CACHE/bin/tofu-$TOFU_VERSION"
tofu_src="$TPM_CACHE/src/opentofu-v$TOFU_VERSION"
venv="$TPM_CACHE/venv-moto-$MOTO_VERSION"
requirements="$repo_root/acceptance-tests/requirements.txt"

log() { printf '[install-test-tools] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# OpenTofu has no update check, but older Terraform-derived code paths honour this; a test
# machine must never phone home.
export CHECKPOINT_DISABLE=1

tofu_is_current() {
    [ -x "$tofu_bin" ] || return 1
    # Without the caller's CLI config: a TF_CLI_CONFIG_FILE naming a missing file makes tofu
    # print a warning before the version line.
    # A release build prints "OpenTofu v1.12.6"; a build without the release ldflag adds "-dev".
    # Both are this source tree, so both count as installed.
    local reported
    reported="$(env -u TF_CLI_CONFIG_FILE "$tofu_bin" version 2>/dev/null)" || return 1
    grep -Eq "^OpenTofu v${TOFU_VERSION//./\\.}(-dev)?\$" <<<"$reported"
}

install_tofu() {
    if tofu_is_current; then
        log "OpenTofu $TOFU_VERSION already at $tofu_bin"
        return
    fi
    command -v go >/dev/null 2>&1 || die "go is required to build OpenTofu"
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
    mkdir -p "$TPM_CACHE/bin" "$TPM_CACHE/src"

    # `go install module@version` refuses modules with replace directives, so fetch the module
    # source through the module proxy and build it as a main module. Run from an empty
    # directory so no go.mod above the current directory changes how the download resolves.
    local scratch mod_json mod_dir
    scratch="$(mktemp -d)"
    log "downloading $TOFU_MODULE@v$TOFU_VERSION (GOMODCACHE=$(go env GOMODCACHE))"
    mod_json="$(cd "$scratch" && GO111MODULE=on go mod download -json "$TOFU_MODULE@v$TOFU_VERSION")" \
        || die "go mod download failed: $mod_json"
    rmdir "$scratch"
    mod_dir="$(printf '%s' "$mod_json" | python3 -c '
import json, sys
info = json.load(sys.stdin)
if info.get("Error"):
    sys.exit("go mod download: " + info["Error"])
print(info["Dir"])
')"
    [ -d "$mod_dir" ] || die "module directory $mod_dir missing"

    # The module cache is read-only, and building a module as the main module may need to
    # write next to its sources; build from a writable copy, moved into place only once
    # complete so an interrupted copy is never mistaken for a finished one.
    log "copying module source to $tofu_src"
    rm -rf "$tofu_src.partial"
    cp -R "$mod_dir" "$tofu_src.partial"
    chmod -R u+w "$tofu_src.partial"
    rm -rf "$tofu_src"
    mv "$tofu_src.partial" "$tofu_src"

    # GOCACHE keeps its default so repeated builds (and other checkouts) reuse compiled packages.
    # version.dev=no makes the binary report the plain release version, as release builds do.
    log "building OpenTofu (GOCACHE=$(go env GOCACHE)); this takes minutes on a cold cache"
    (
        cd "$tofu_src"
        go build -trimpath -buildvcs=false \
            -ldflags "-X $TOFU_MODULE/version.dev=no" \
            -o "$tofu_bin.partial" ./cmd/tofu
    ) >&2 || die "go build of OpenTofu failed"
    mv -f "$tofu_bin.partial" "$tofu_bin"
    tofu_is_current || die "$tofu_bin does not report OpenTofu v$TOFU_VERSION"
    log "installed OpenTofu $TOFU_VERSION at $tofu_bin"
}

install_venv() {
    [ -f "$requirements" ] || die "missing $requirements"
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
    # The stamp records exactly which requirements the venv was built from, so a changed pin
    # reinstalls while an unchanged one costs nothing.
    local want_stamp have_stamp=""
    want_stamp="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$requirements")"
    if [ -f "$venv/.requirements.sha256" ]; then
        have_stamp="$(cat "$venv/.requirements.sha256")"
    fi
    if [ -x "$venv/bin/python" ] && [ "$want_stamp" = "$have_stamp" ] \
        && "$venv/bin/python" -c 'import moto, pytest, boto3, cryptography' 2>/dev/null; then
        log "venv already current at $venv"
        return
    fi
    if [ ! -x "$venv/bin/python" ]; then
        log "creating venv $venv"
        python3 -m venv "$venv" >&2
    fi
    # pip keeps its download/wheel cache at its default location (outside the clone).
    log "installing $requirements into $venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
    printf '%s\n' "$want_stamp" >"$venv/.requirements.sha256"
}

install_tofu
install_venv

echo "TPM_CACHE=$TPM_CACHE"
echo "TOFU=$tofu_bin"
echo "VENV=$venv"
echo "PYTHON=$venv/bin/python"
