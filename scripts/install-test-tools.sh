#!/usr/bin/env bash
# Installs the pinned tools the acceptance tests drive, into a cache outside the clone:
#   $TPM_CACHE/bin/tofu-1.12.6        OpenTofu built from its Go module source
#   $TPM_CACHE/bin/terraform-1.16.4   HashiCorp Terraform built from its Go module source (the
#   $TPM_CACHE/bin/terraform-1.14.3   newest the module proxy serves, and the seeds' floor)
#   $TPM_CACHE/venv-moto-5.2.5        python venv from acceptance-tests/requirements.txt
#   $TPM_CACHE/bin/tfplugindocs-0.25.0  hashicorp/terraform-plugin-docs, which writes and checks docs/
# CI clones the repo fresh every run, so everything expensive lives in $TPM_CACHE and every
# step is skipped when its result is already there. Needs only go, python3 and a registry.
#
# Usage: install-test-tools.sh [TOOL...]   TOOL: tofu, terraform, terraform-1.14, venv, tfplugindocs
#   (default: tofu venv, what scripts/demo and scripts/bench-aws-calls need; scripts/test and
#   scripts/test-all-clis name all four).
# Prints shell assignments for `eval`: TPM_CACHE, TOFU, TERRAFORM, TERRAFORM_1_14, VENV, PYTHON,
# TFPLUGINDOCS
# (the CLIs exported, so pytest sees them; only for the tools asked for).
set -euo pipefail

TOFU_VERSION=1.12.6
TOFU_MODULE=github.com/opentofu/opentofu
# 1.16.4 is the newest Terraform the module proxy serves (`go list -m github.com/hashicorp/terraform@v1.16.4`;
# note that `go list -m -versions` there stops at v1.13.3, the proxy's version list lags behind the
# versions it serves). 1.14.3 is the oldest Terraform the seed modules allow (required_version).
TERRAFORM_VERSION=1.16.4
TERRAFORM_1_14_VERSION=1.14.3
TERRAFORM_MODULE=github.com/hashicorp/terraform
MOTO_VERSION=5.2.5
# The registry's own generator of docs/ (`go list -m -versions github.com/hashicorp/terraform-plugin-docs`).
TFPLUGINDOCS_VERSION=0.25.0
TFPLUGINDOCS_MODULE=github.com/hashicorp/terraform-plugin-docs

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPM_CACHE="${TPM_CACHE:-$HOME/.cache/terraform-provider-maestro}"
venv="$TPM_CACHE/venv-moto-$MOTO_VERSION"
requirements="$repo_root/acceptance-tests/requirements.txt"

log() { printf '[install-test-tools] %s\n' "$*" >&2; }
# The assignments are printed together at the very end, so a failed install prints none of them
# and `eval "$(install-test-tools.sh)"` leaves nothing half set.
assignments=()
emit() { assignments+=("$1"); }
die() { log "error: $*"; exit 1; }

# Terraform asks checkpoint.hashicorp.com for news on every run unless this is set; OpenTofu has
# no update check, but its Terraform-derived code paths honour it too. A test machine must never
# phone home. (The harness sets it again for every CLI run.)
export CHECKPOINT_DISABLE=1

# ---------------------------------------------------------------- a Go module as main module

# reports_version BINARY PRODUCT VERSION: the binary prints "PRODUCT vVERSION" on its first line.
# Run without the caller's CLI config: a TF_CLI_CONFIG_FILE naming a missing file makes the CLI
# print a warning before the version line. A release build prints "vX.Y.Z"; a build without the
# release ldflag adds "-dev". Both are this source tree, so both count as installed.
reports_version() {
    local binary="$1" product="$2" version="$3" reported
    [ -x "$binary" ] || return 1
    # The whole output, then its first line: a pipe into `head` would end the CLI with SIGPIPE.
    reported="$(env -u TF_CLI_CONFIG_FILE CHECKPOINT_DISABLE=1 "$binary" version 2>/dev/null)" || return 1
    grep -Eq "^$product v${version//./\\.}(-dev)?\$" <<<"$(head -n 1 <<<"$reported")"
}

# build_go_main_module MODULE VERSION PACKAGE OUTPUT [PATCH_FUNCTION] [LDFLAGS]
#
# `go install module@version` refuses modules with replace directives, so fetch the module
# source through the module proxy (`go mod download -json`), copy it to a writable directory
# $TPM_CACHE/src/<name>-v<version>, let PATCH_FUNCTION (called with that directory) adjust it,
# and `go build -trimpath` PACKAGE there as the main module. OUTPUT appears only once complete.
build_go_main_module() {
    local module="$1" version="$2" package="$3" output="$4" patch="${5:-}" ldflags="${6:-}"
    local src="$TPM_CACHE/src/${module##*/}-v$version"
    command -v go >/dev/null 2>&1 || die "go is required to build $module"
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
    mkdir -p "$TPM_CACHE/bin" "$TPM_CACHE/src"

    # Run from an empty directory so no go.mod above the current directory changes how the
    # download resolves.
    local scratch mod_json mod_dir
    scratch="$(mktemp -d)"
    log "downloading $module@v$version (GOMODCACHE=$(go env GOMODCACHE))"
    mod_json="$(cd "$scratch" && GO111MODULE=on go mod download -json "$module@v$version")" \
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
    # complete (and patched) so an interrupted copy is never mistaken for a finished one.
    log "copying module source to $src"
    rm -rf "$src.partial"
    cp -R "$mod_dir" "$src.partial"
    chmod -R u+w "$src.partial"
    if [ -n "$patch" ]; then
        "$patch" "$src.partial" || die "patching $module@v$version failed"
    fi
    rm -rf "$src"
    mv "$src.partial" "$src"

    # GOCACHE keeps its default so repeated builds (and other checkouts) reuse compiled packages.
    local started=$SECONDS
    log "building $module@v$version (GOCACHE=$(go env GOCACHE)); this takes minutes on a cold cache"
    (
        cd "$src"
        go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$output.partial" "$package"
    ) >&2 || die "go build of $module@v$version failed"
    mv -f "$output.partial" "$output"
    log "built $output in $((SECONDS - started))s"
}

# with_lock NAME COMMAND...: one installer at a time per tool, so two runs started together
# (scripts/test beside scripts/demo) do not copy over each other's source tree; the second
# waits, then finds the binary current.
with_lock() {
    local name="$1"
    shift
    mkdir -p "$TPM_CACHE"
    if command -v flock >/dev/null 2>&1; then
        local fd
        exec {fd}>"$TPM_CACHE/.install-$name.lock"
        flock "$fd"
        "$@"
        exec {fd}>&-
    else
        "$@"
    fi
}

# ---------------------------------------------------------------- OpenTofu

install_tofu() {
    local bin="$TPM_CACHE/bin/tofu-$TOFU_VERSION"
    if reports_version "$bin" OpenTofu "$TOFU_VERSION"; then
        log "OpenTofu $TOFU_VERSION already at $bin"
    else
        # version.dev=no makes the binary report the plain release version, as release builds do.
        build_go_main_module "$TOFU_MODULE" "$TOFU_VERSION" ./cmd/tofu "$bin" "" \
            "-X $TOFU_MODULE/version.dev=no"
        reports_version "$bin" OpenTofu "$TOFU_VERSION" || die "$bin does not report OpenTofu v$TOFU_VERSION"
        log "installed OpenTofu $TOFU_VERSION at $bin"
    fi
    emit "export TOFU=$bin"
}

# ---------------------------------------------------------------- HashiCorp Terraform

# Terraform's go.mod requires ten nested modules (the remote-state backends azure, consul, cos,
# gcs, kubernetes, oci, oss, pg, s3, and internal/legacy) through `replace` directives pointing
# into its own tree, but the module zip the proxy serves leaves nested modules out, so `go build`
# fails on the missing directories. Drop exactly those: their require and replace lines in
# go.mod, and the backends' imports and registrations in internal/backend/init/init.go (the only
# non-test file importing any of them). The tests use the local backend only; the binary
# answers `backend "s3"` and the others with "Unsupported backend type". Idempotent: a second run
# finds nothing to drop. Anything else importing a dropped module fails the patch loudly.
patch_terraform_source() {
    python3 - "$1" <<'PYTHON'
import pathlib, re, sys

root = pathlib.Path(sys.argv[1])
go_mod = root / "go.mod"
text = go_mod.read_text()
# Local replacements whose directory the zip does not carry.
missing = [m.group(1) for m in re.finditer(r"^replace\s+(\S+)\s+=>\s+(\./\S+)\s*$", text, re.M)
           if not (root / m.group(2)).is_dir()]
lines = [line for line in text.splitlines(keepends=True)
         if not any(re.match(rf"^\s*(replace\s+)?{re.escape(path)}\s", line) for path in missing)]
go_mod.write_text("".join(lines))

init_go = root / "internal/backend/init/init.go"
source = init_go.read_text()
aliases = []
for path in missing:
    match = re.search(rf'^\s*(\w+)\s+"{re.escape(path)}"\s*$', source, re.M)
    if match:
        aliases.append(match.group(1))
        source = source[:match.start()] + source[match.end() + 1:]
# The registrations: `"name": func() backend.Backend { return alias.New() },`
source = "".join(line for line in source.splitlines(keepends=True)
                 if not any(re.search(rf"\b{alias}\.", line) for alias in aliases))
init_go.write_text(source)

# Nothing else that `go build` compiles may import a dropped module.
for go_file in root.rglob("*.go"):
    if go_file.name.endswith("_test.go"):
        continue
    code = go_file.read_text(errors="replace")
    for path in missing:
        if f'"{path}"' in code or f'"{path}/' in code:
            sys.exit(f"{go_file} still imports {path}, which the module zip does not carry")
print("dropped the nested modules the zip lacks: " + ", ".join(p.rsplit("/", 1)[-1] for p in missing)
      if missing else "nothing to drop (already patched)", file=sys.stderr)
PYTHON
}

# install_terraform VERSION VARIABLE
install_terraform() {
    local version="$1" variable="$2" bin="$TPM_CACHE/bin/terraform-$1"
    if reports_version "$bin" Terraform "$version"; then
        log "Terraform $version already at $bin"
    else
        # version.dev=no: report "Terraform v1.16.4" as the release does, not "v1.16.4-dev".
        build_go_main_module "$TERRAFORM_MODULE" "$version" . "$bin" patch_terraform_source \
            "-X $TERRAFORM_MODULE/version.dev=no"
        reports_version "$bin" Terraform "$version" || die "$bin does not report Terraform v$version"
        log "installed Terraform $version at $bin"
    fi
    emit "export $variable=$bin"
}

# ---------------------------------------------------------------- the venv

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
    else
        if [ ! -x "$venv/bin/python" ]; then
            log "creating venv $venv"
            python3 -m venv "$venv" >&2
        fi
        # pip keeps its download/wheel cache at its default location (outside the clone).
        log "installing $requirements into $venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
        printf '%s\n' "$want_stamp" >"$venv/.requirements.sha256"
    fi
    emit "VENV=$venv"
    emit "PYTHON=$venv/bin/python"
}

# ---------------------------------------------------------------- tfplugindocs

# Its go.mod has no replace directives, so `go install module@version` builds it straight from
# the module proxy; GOMODCACHE and GOCACHE keep their defaults, outside the clone. The version
# ldflag makes `--version` name the release (a plain build says "dev"), which is what marks the
# cached binary as current (it prints that on stderr).
install_tfplugindocs() {
    local bin="$TPM_CACHE/bin/tfplugindocs-$TFPLUGINDOCS_VERSION" staging
    if [ -x "$bin" ] && [ "$("$bin" --version 2>&1)" = "tfplugindocs Version $TFPLUGINDOCS_VERSION" ]; then
        log "tfplugindocs $TFPLUGINDOCS_VERSION already at $bin"
    else
        command -v go >/dev/null 2>&1 || die "go is required to build tfplugindocs"
        staging="$(mktemp -d)"
        log "building $TFPLUGINDOCS_MODULE@v$TFPLUGINDOCS_VERSION"
        (cd "$staging" && GO111MODULE=on GOBIN="$staging" go install -trimpath \
            -ldflags "-X $TFPLUGINDOCS_MODULE/cmd/tfplugindocs/build.version=$TFPLUGINDOCS_VERSION" \
            "$TFPLUGINDOCS_MODULE/cmd/tfplugindocs@v$TFPLUGINDOCS_VERSION") >&2 \
            || die "go install of tfplugindocs v$TFPLUGINDOCS_VERSION failed"
        mkdir -p "$TPM_CACHE/bin"
        mv -f "$staging/tfplugindocs" "$bin"
        rm -rf "$staging"
        [ "$("$bin" --version 2>&1)" = "tfplugindocs Version $TFPLUGINDOCS_VERSION" ] \
            || die "$bin does not report tfplugindocs $TFPLUGINDOCS_VERSION"
        log "installed tfplugindocs $TFPLUGINDOCS_VERSION at $bin"
    fi
    emit "export TFPLUGINDOCS=$bin"
}

# ---------------------------------------------------------------- main

[ "$#" -gt 0 ] || set -- tofu venv
emit "TPM_CACHE=$TPM_CACHE"
for tool in "$@"; do
    case "$tool" in
        tofu) with_lock tofu install_tofu ;;
        terraform) with_lock "terraform-$TERRAFORM_VERSION" install_terraform "$TERRAFORM_VERSION" TERRAFORM ;;
        terraform-1.14) with_lock "terraform-$TERRAFORM_1_14_VERSION" install_terraform "$TERRAFORM_1_14_VERSION" TERRAFORM_1_14 ;;
        venv) with_lock venv install_venv ;;
        tfplugindocs) with_lock "tfplugindocs-$TFPLUGINDOCS_VERSION" install_tfplugindocs ;;
        *) die "unknown tool $tool (usage: $0 [tofu] [terraform] [terraform-1.14] [venv] [tfplugindocs])" ;;
    esac
done
printf '%s\n' "${assignments[@]}"
