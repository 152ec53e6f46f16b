#!/usr/bin/env bash
# Builds the peer provider fixture and the benchmark driver of this module into $TPM_CACHE/bin:
#   terraform-provider-peer-go-framework   the minimal terraform-plugin-framework provider
#   maestro-plugin-bench                   the driver that times plugins as Terraform starts them
# The committed go.mod/go.sum pin every version (GOFLAGS=-mod=readonly); Go's build cache makes
# an unchanged rebuild take about a second. Prints the two paths as shell assignments.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TPM_CACHE="${TPM_CACHE:-$HOME/.cache/terraform-provider-maestro}"
bin="$TPM_CACHE/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=readonly GOWORK=off CGO_ENABLED=0
build() { # OUTPUT PACKAGE
    (cd "$here" && go build -trimpath -o "$bin/$1.partial" "$2") >&2
    mv -f "$bin/$1.partial" "$bin/$1"
}
build terraform-provider-peer-go-framework .
build maestro-plugin-bench ./cmd/plugin-bench
printf 'PEER_PROVIDER=%q\nPLUGIN_BENCH=%q\n' "$bin/terraform-provider-peer-go-framework" "$bin/maestro-plugin-bench"
