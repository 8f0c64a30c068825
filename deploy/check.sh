#!/usr/bin/env bash
# Offline checks of everything under deploy/ and of docker-compose.yml.
# Needs docker-compose (1.29+), promtool and Debian's python3 with PyYAML (a dependency
# of Debian's docker-compose); no Docker engine and no network.
#
#   deploy/check.sh
#
# Prints one line per check and ends with "deploy checks: N passed, M failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Debian's Python, which has PyYAML as a dependency of docker-compose.
py=/usr/bin/python3
for tool in docker-compose promtool "$py"; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "deploy/check.sh: '$tool' is not installed; run dev/local/install.sh" >&2
    exit 2
  fi
done
if ! "$py" -c 'import yaml' 2> /dev/null; then
  echo "deploy/check.sh: $py cannot import yaml (PyYAML); run dev/local/install.sh" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

# check NAME COMMAND...: runs COMMAND, prints "ok" or "FAIL" and, on failure,
# the command's output.
check() {
  local name="$1"
  shift
  if "$@" > "$tmp/out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$tmp/out"
  fi
}

# The secrets compose requires, with dummy values so the offline checks resolve.
compose_secrets=(
  HOOKLINE_GITLAB_TOKEN=check-dummy-token
  HOOKLINE_CLICKHOUSE_PASSWORD=check-dummy-clickhouse-password
  GRAFANA_ADMIN_PASSWORD=check-dummy-grafana-password
)

compose() {
  env "${compose_secrets[@]}" docker-compose -f docker-compose.yml "$@"
}

# compose_requires VAR: docker-compose.yml must refuse to start when VAR is
# unset (every other secret set), naming VAR, rather than fall back to a
# default anyone can look up.
compose_requires() {
  local var="$1" others=() kv
  for kv in "${compose_secrets[@]}"; do
    [ "${kv%%=*}" = "$var" ] || others+=("$kv")
  done
  if env -u "$var" "${others[@]}" docker-compose -f docker-compose.yml config -q 2> "$tmp/err"; then
    echo "docker-compose config accepted a missing $var"
    return 1
  fi
  grep -q "set $var" "$tmp/err" || { cat "$tmp/err"; return 1; }
  # An empty value is as guessable as a default.
  if env "${others[@]}" "$var=" docker-compose -f docker-compose.yml config -q 2> "$tmp/err"; then
    echo "docker-compose config accepted an empty $var"
    return 1
  fi
}

# No password in docker-compose.yml falls back to a default value (`${VAR:-x}`).
compose_no_default_passwords() {
  if grep -nE 'PASSWORD[A-Z_]*:-' docker-compose.yml; then
    echo "a password falls back to a default (use \${VAR:?message})"
    return 1
  fi
}

# Every bind-mounted file or directory and every build context/Dockerfile in
# the resolved compose file exists.
compose_paths_exist() {
  compose config > "$tmp/compose.resolved.yml" || return 1
  "$py" - "$tmp/compose.resolved.yml" <<'PY'
import os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
missing = []
for name, svc in cfg["services"].items():
    build = svc.get("build")
    if build:
        ctx = build["context"] if isinstance(build, dict) else build
        dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else os.path.join(ctx, "Dockerfile")
        for p in (ctx, dockerfile):
            if not os.path.exists(p):
                missing.append(f"{name}: {p}")
    for vol in svc.get("volumes", []):
        src = vol.get("source") if isinstance(vol, dict) else vol.split(":")[0]
        kind = vol.get("type") if isinstance(vol, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
        if kind == "bind" and not os.path.exists(src):
            missing.append(f"{name}: {src}")
for m in missing:
    print("missing:", m)
sys.exit(1 if missing else 0)
PY
}

# Each Compose-built service gets a healthcheck, and every depends_on waits
# for a healthy dependency that has one.
compose_health_gates() {
  compose config > "$tmp/compose.resolved.yml" || return 1
  "$py" - "$tmp/compose.resolved.yml" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
svcs = cfg["services"]
bad = []
for name, svc in svcs.items():
    if "healthcheck" not in svc:
        bad.append(f"{name}: no healthcheck")
    deps = svc.get("depends_on", {})
    if isinstance(deps, list):
        bad.append(f"{name}: depends_on without conditions")
        continue
    for dep, spec in deps.items():
        if spec.get("condition") != "service_healthy":
            bad.append(f"{name}: depends_on {dep} is not service_healthy")
        if "healthcheck" not in svcs.get(dep, {}):
            bad.append(f"{name}: depends_on {dep}, which has no healthcheck")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# The Dockerfile copies every workspace member listed in Cargo.toml, in both
# the planner and the builder stage.
dockerfile_copies_members() {
  "$py" - Cargo.toml deploy/Dockerfile <<'PY'
import re, sys, tomllib
members = tomllib.load(open(sys.argv[1], "rb"))["workspace"]["members"]
dockerfile = open(sys.argv[2]).read()
bad = []
for m in members:
    n = len(re.findall(rf"^COPY {re.escape(m)} \./{re.escape(m)}$", dockerfile, re.M))
    if n != 2:
        bad.append(f"workspace member {m!r} is copied {n} times (expected 2)")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# Grafana provisioning files are YAML with the expected top-level keys, and the
# dashboard JSON parses.
grafana_provisioning() {
  "$py" - <<'PY'
import yaml
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/datasources.yml"))
assert ds["apiVersion"] == 1 and ds["datasources"], "datasources.yml"
uids = {d["uid"] for d in ds["datasources"]}
assert "hookline-prometheus" in uids, "no hookline-prometheus datasource"
db = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/dashboards.yml"))
assert db["apiVersion"] == 1 and db["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
PY
}

# Every PromQL query in the dashboard parses: they are wrapped into a
# throwaway recording-rule file and checked with promtool.
dashboard_promql() {
  "$py" - deploy/grafana/dashboards/hookline-overview.json "$tmp/dashboard_rules.yml" <<'PY'
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
rules = []
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        expr = t["expr"].replace("$__rate_interval", "1m").replace("$__interval", "1m")
        rules.append({"record": f"dashboard:panel{panel['id']}:{t['refId']}", "expr": expr})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
PY
  [ -s "$tmp/dashboard_rules.yml" ] || return 1
  promtool check rules "$tmp/dashboard_rules.yml"
}

check "docker-compose.yml: config is valid (docker-compose $(docker-compose version --short 2> /dev/null || echo '?'))" compose config -q
for secret in "${compose_secrets[@]}"; do
  secret="${secret%%=*}"
  check "docker-compose.yml: refuses to start without $secret" compose_requires "$secret"
done
check "docker-compose.yml: no password has a default" compose_no_default_passwords
check "docker-compose.yml: build contexts and bind-mounted files exist" compose_paths_exist
check "docker-compose.yml: healthchecks and service_healthy dependencies" compose_health_gates
check "deploy/Dockerfile: copies every workspace member" dockerfile_copies_members
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
check "promtool check config deploy/prometheus/prometheus.compose.yml" promtool check config deploy/prometheus/prometheus.compose.yml
check "promtool check rules deploy/prometheus/rules/*.yml" promtool check rules deploy/prometheus/rules/*.yml
check "promtool test rules deploy/prometheus/tests/hookline_test.yml" promtool test rules deploy/prometheus/tests/hookline_test.yml
check "grafana provisioning files" grafana_provisioning
for dashboard in deploy/grafana/dashboards/*.json; do
  check "python3 -m json.tool $dashboard" "$py" -m json.tool "$dashboard"
done
check "dashboard PromQL queries parse" dashboard_promql

echo "deploy checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
