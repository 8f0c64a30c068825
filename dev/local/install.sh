#!/usr/bin/env bash
# Installs what the local stack needs, once, into a cache outside the repository:
#   - Tansu 0.6.0, the Apache-Kafka-compatible broker (built from crates.io, ~7 min on 2 cores),
#   - chdb-core, the real ClickHouse engine as a Python package, in a virtualenv,
#   - Prometheus with promtool, docker-compose to validate docker-compose.yml, the OpenSSL
#     headers the services' librdkafka builds against, and Chromium, which renders the report's
#     HTML page in its test (Debian packages).
# Re-running it is cheap: everything already present is kept. Prints one line per component.
#
# HOOKLINE_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/hookline) chooses the cache.
set -euo pipefail

TANSU_VERSION=0.6.0
CHDB_VERSION=26.9.0
cache="${HOOKLINE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookline}"
mkdir -p "$cache"

say() { printf 'install: %s\n' "$*"; }
fail() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

# --- Debian packages: prometheus (with promtool), docker-compose, OpenSSL headers, Chromium --
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
# deploy/check.sh reads YAML with Debian's Python.
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
# The services' librdkafka links the system OpenSSL (Kafka TLS and SASL SCRAM).
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
# The test of hookline-report's HTML page renders it in headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    fail "need Debian packages ${missing[*]}: install them as root (apt-get install ${missing[*]})"
  fi
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), promtool, docker-compose $(docker-compose version --short 2>/dev/null || echo '?'): ok"

# --- Tansu broker ----------------------------------------------------------------------------
tansu="$cache/tansu-$TANSU_VERSION/bin/tansu"
if [[ ! -x "$tansu" ]]; then
  command -v cargo >/dev/null 2>&1 || fail "cargo is needed to build the Tansu broker: install Rust (rustup)"
  say "building Tansu $TANSU_VERSION into $cache (about 7 minutes on 2 cores, once)"
  started=$SECONDS
  # Build in a scratch target dir so a failed build leaves no half-installed broker behind.
  CARGO_TARGET_DIR="$cache/tansu-build" cargo install tansu --version "$TANSU_VERSION" --locked \
    --features dynostore,libsql --root "$cache/tansu-$TANSU_VERSION" --quiet
  rm -rf "$cache/tansu-build"
  say "built Tansu in $((SECONDS - started)) s"
fi
say "tansu $TANSU_VERSION: $tansu"

# --- chDB (ClickHouse engine) ----------------------------------------------------------------
venv="$cache/venv"
if ! "$venv/bin/python" -c "import chdb, sys; sys.exit(0 if chdb.__version__.startswith('${CHDB_VERSION%.*}') else 1)" >/dev/null 2>&1; then
  say "installing chdb-core $CHDB_VERSION into $venv"
  python3 -m venv "$venv" || fail "cannot create a Python virtualenv: install python3-venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "chdb-core==$CHDB_VERSION"
fi
say "chdb-core $("$venv/bin/python" -c 'import chdb; print(chdb.__version__)'): $venv/bin/python"
