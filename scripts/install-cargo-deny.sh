#!/usr/bin/env bash
# Installs the pinned cargo-deny into the cache outside the clone ($TPM_CACHE/cargo-deny) and
# prints CARGO_DENY=<path>. Built from crates.io with its own lock file (--locked); a second run
# finds the binary and does nothing. Its checks are configured in deny.toml.
set -euo pipefail

CARGO_DENY_VERSION=0.20.2

TPM_CACHE="${TPM_CACHE:-$HOME/.cache/terraform-provider-maestro}"
root="$TPM_CACHE/cargo-deny-$CARGO_DENY_VERSION"
bin="$root/bin/cargo-deny"

if ! "$bin" --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
    # Its own target dir, so the provider's build cache is not mixed with a tool's.
    CARGO_TARGET_DIR="$TPM_CACHE/cargo-deny-build" \
        cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --root "$root" >&2
    rm -rf "$TPM_CACHE/cargo-deny-build"
fi
echo "CARGO_DENY=$bin"
