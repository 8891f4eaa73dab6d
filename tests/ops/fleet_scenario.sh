#!/usr/bin/env bash
# The fleet scenarios of the go-live package, each against its own local fleet
# (ops/local/fleet.sh: 3 omega serve instances, a real HAProxy, a real Prometheus, loopback only):
#
#   fleet_scenario.sh validate OMEGA GENMODEL   smoke, hardening and chaos-OOM scripts against the fleet
#   fleet_scenario.sh canary   OMEGA GENMODEL   a healthy canary is promoted; a slow, OOMing one is rolled
#                                               back; an OOMing one is saved by the automatic CPU fallback
#   fleet_scenario.sh rolling  OMEGA GENMODEL   rolling restart of every instance under load: zero failures
#   fleet_scenario.sh drill    OMEGA GENMODEL   omega-chaos-drill.sh against the fleet
#
# Exit 77 (skipped) only when haproxy or prometheus is not installed.
set -euo pipefail
scenario=$1 OMEGA=$2 GENMODEL=$3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLEET="$ROOT/ops/local/fleet.sh"
OPSCTL="$ROOT/ops/scripts/omega-opsctl"
for t in haproxy prometheus python3; do
  command -v $t >/dev/null || { echo "SKIP: $t is not installed (tools/install-deps.sh installs it)"; exit 77; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/omega-fleet-$scenario.XXXXXX")
LOAD_PID=""
fails=0
cleanup() {
  local rc=$?
  touch "$DIR/stop-load"
  [ -n "$LOAD_PID" ] && { kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; }
  if [ $rc -ne 0 ] || [ $fails -ne 0 ]; then
    echo "--- fleet status and log tails ($DIR)"
    "$FLEET" status "$DIR" 2>&1 || true
    for f in "$DIR"/inst/*/omega.log "$DIR/haproxy.log"; do
      [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }
    done
  fi
  "$FLEET" down "$DIR" || true
  rm -rf "$DIR"
}
trap cleanup EXIT

note() { echo "[$((SECONDS - t0))s] $*"; }
check() { # check DESCRIPTION CMD... : one PASS/FAIL line
  local what=$1; shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

t0=$SECONDS
"$FLEET" up "$DIR" --instances 3 --omega "$OMEGA" --genmodel "$GENMODEL"
# shellcheck disable=SC1091
. "$DIR/fleet.env"
echo "fleet up in $((SECONDS - t0)) s: $FLEET_URL"
hap() { "$OPSCTL" hap "$HAPROXY_SOCK" "$1"; }
field() { "$OPSCTL" hap-stat "$HAPROXY_SOCK" "$HAPROXY_BACKEND" "$1" "$2"; }

# steady, bounded load through the balancer (4 threads, a short pause between requests)
start_load() {
  rm -f "$DIR/stop-load"
  "$OPSCTL" load --url "$FLEET_URL" --threads 3 --interval-ms 10 --duration "$1" --max-requests 400000 \
    --stop-file "$DIR/stop-load" --report "$DIR/load.json" > "$DIR/load.out" 2>&1 &
  LOAD_PID=$!
}
stop_load() { # the load's exit status: 0 when nothing failed
  touch "$DIR/stop-load"
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  cat "$DIR/load.out"
  return $rc
}

# the script of another part, from ops/scripts (tools/ while it is still there)
script() {
  local name=$1
  if [ -x "$ROOT/ops/scripts/$name" ]; then echo "$ROOT/ops/scripts/$name"
  elif [ -x "$ROOT/tools/$name" ]; then echo "$ROOT/tools/$name"
  fi
}

weights_are() { # weights_are CANARY_WEIGHT STABLE_WEIGHT STABLE_STATUS_REGEX (one `show stat`)
  hap "show stat" | awk -F, -v b="$HAPROXY_BACKEND" -v cw="$1" -v sw="$2" -v re="$3" '
    $1 == b && $2 == "canary" { seen++; if ($19 != cw) { print "  canary weight " $19 ", want " cw; bad = 1 } }
    $1 == b && $2 ~ /^s[0-9]+$/ { seen++
      if ($19 != sw) { print "  " $2 " weight " $19 ", want " sw; bad = 1 }
      if ($18 !~ re) { print "  " $2 " status " $18 ", want " re; bad = 1 } }
    END { exit bad || seen < 2 }'
}

case $scenario in
validate)
  for name in omega-smoke-test omega-hardening-test omega-chaos-oom-test; do
    s=$(script $name)
    if [ -z "$s" ]; then echo "SKIP $name: not on this branch yet (ops/scripts/$name)"; continue; fi
    case $name in
      omega-smoke-test) args=(--url "$FLEET_URL" --collections-url "$INSTANCE_1_URL" --hmac-secret-file "$HMAC_SECRET_FILE") ;;
      omega-hardening-test) args=(--url "$INSTANCE_1_URL" --hmac-secret-file "$HMAC_SECRET_FILE") ;;
      omega-chaos-oom-test) args=(--hmac-secret-file "$HMAC_SECRET_FILE" --requests 100)
        for i in $(seq 1 "$FLEET_INSTANCES"); do u="INSTANCE_${i}_URL"; args+=(--url "${!u}"); done ;;
    esac
    t=$SECONDS rc=0
    "$s" "${args[@]}" || rc=$?
    check "$name against the fleet (exit $rc, $((SECONDS - t)) s)" test $rc = 0
  done
  # the balancer still serves and every instance is still up after them
  check "fleet healthy after the validation scripts" "$OPSCTL" wait-ready --url "$FLEET_URL" --timeout 10
  for i in $(seq 1 "$FLEET_INSTANCES"); do check "s$i UP in HAProxy" test "$(field "s$i" status)" = UP; done
  ;;

canary)
  ROLL=("$ROOT/ops/scripts/omega-canary-rollout.sh" --haproxy-sock "$HAPROXY_SOCK" --backend "$HAPROXY_BACKEND"
        --prom "$PROM_URL" --soak 3 --min-samples 15 --hmac-secret-file "$HMAC_SECRET_FILE")
  start_load 150

  note "=== (b) a healthy new version: promoted"
  note "canary start"
  "$FLEET" canary "$DIR"
  . "$DIR/fleet.env"
  note "canary ready"
  rc=0; "${ROLL[@]}" --canary-url "$CANARY_URL" | tee "$DIR/roll.out" || rc=$?
  check "healthy canary: rollout exit 0 (got $rc)" test $rc = 0
  check "healthy canary: promoted" grep -q '^PASS promoted' "$DIR/roll.out"
  check "healthy canary: no CPU fallback needed" bash -c "! grep -q 'CPU fallback applied' $DIR/roll.out"
  check "healthy canary: HAProxy canary=100, s1..s3 weight 0 and draining" weights_are 100 0 'DRAIN'
  note "rollout done"
  "$FLEET" canary-stop "$DIR"

  note "=== (c) a slow, OOMing new version: CPU fallback first, still too slow, rolled back"
  note "canary start"
  "$FLEET" canary "$DIR" --set OMEGA_FAULT_INJECT=gpu_sim:1,batch_delay_ms:40,cuda_oom:0.5
  . "$DIR/fleet.env"
  note "canary ready"
  rc=0; "${ROLL[@]}" --canary-url "$CANARY_URL" | tee "$DIR/roll.out" || rc=$?
  check "faulty canary: rollout exit 1 (got $rc)" test $rc = 1
  check "faulty canary: the CPU fallback was tried first" grep -q 'CPU fallback applied' "$DIR/roll.out"
  check "faulty canary: the failed gate is p95, with its value" grep -qE '^FAILED gate at 5%:.*p95_ms=[0-9.]+' "$DIR/roll.out"
  check "faulty canary: rolled back, HAProxy canary=0, s1..s3 weight 100 and UP" weights_are 0 100 '^UP$'
  note "rollout done"
  "$FLEET" canary-stop "$DIR"

  note "=== (c2) an OOMing new version: the automatic CPU fallback saves it"
  note "canary start"
  "$FLEET" canary "$DIR" --set OMEGA_FAULT_INJECT=gpu_sim:1,cuda_oom:0.5
  . "$DIR/fleet.env"
  note "canary ready"
  rc=0; "${ROLL[@]}" --steps 5,100 --canary-url "$CANARY_URL" | tee "$DIR/roll.out" || rc=$?
  check "OOMing canary: rollout exit 0 after the CPU fallback (got $rc)" test $rc = 0
  check "OOMing canary: the fallback-ratio gate failed first" grep -qE '^FAIL 5% fallback ratio' "$DIR/roll.out"
  check "OOMing canary: CPU fallback applied" grep -q 'CPU fallback applied' "$DIR/roll.out"
  check "OOMing canary: EMBED_PREFER_GPU=false on the canary" \
    test "$("$OPSCTL" get-config --url "$CANARY_URL" --hmac-secret-file "$HMAC_SECRET_FILE" EMBED_PREFER_GPU)" = false
  check "OOMing canary: HAProxy canary=100, s1..s3 weight 0" weights_are 100 0 'DRAIN'
  note "rollout done"
  "$FLEET" canary-stop "$DIR"
  check "no client request failed through the rollouts" stop_load
  ;;

rolling)
  start_load 120
  sleep 1
  pids0=$(grep -E '^INSTANCE_[0-9]+_PID=' "$DIR/fleet.env" | sort)
  t=$SECONDS
  check "rolling restart of every instance" "$FLEET" rolling-restart "$DIR"
  echo "rolling restart took $((SECONDS - t)) s"
  sleep 1
  check "zero failed requests through the balancer during the rolling restart" stop_load
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$DIR/load.json")
  check "the load was real ($n requests answered)" test "$n" -ge 200
  pids1=$(grep -E '^INSTANCE_[0-9]+_PID=' "$DIR/fleet.env" | sort)
  check "every instance has a new process" python3 -c 'import sys; a,b=[dict(l.split("=") for l in s.split()) for s in sys.argv[1:]]; sys.exit(0 if all(a[k]!=b[k] for k in a) and len(a)==3 else 1)' "$pids0" "$pids1"
  ;;

drill)
  check "chaos drill against the fleet" "$ROOT/ops/scripts/omega-chaos-drill.sh" --fleet-env "$DIR/fleet.env" --phase-seconds 2
  ;;

*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
echo "scenario $scenario: $fails failed checks, $((SECONDS - t0)) s"
[ $fails = 0 ]
