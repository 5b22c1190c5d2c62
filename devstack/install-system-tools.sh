#!/usr/bin/env bash
# Installs the system tools the test suite uses, only those missing: shellcheck and rsync
# (Debian), chromium (Debian, for the browser test), prometheus and promtool (Debian's
# `prometheus` package, for the monitoring tests) and gitlab-ci-local (npm, pinned in
# devstack/npm/package.json). Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing system tools: ${missing[*]} (install them with apt-get as root)" >&2
        exit 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ -f devstack/npm/package.json ]]; then
    if [[ ! -x devstack/npm/node_modules/.bin/gitlab-ci-local ]] \
        || [[ devstack/npm/package-lock.json -nt devstack/npm/node_modules/.stamp ]]; then
        command -v npm >/dev/null 2>&1 || { echo "npm is needed for gitlab-ci-local" >&2; exit 1; }
        echo "installing gitlab-ci-local (npm ci)"
        (cd devstack/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        touch devstack/npm/node_modules/.stamp
    fi
fi
