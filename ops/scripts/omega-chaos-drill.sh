#!/usr/bin/env bash
# omega-chaos-drill.sh: a chaos drill against a running Omega fleet behind a load balancer.
# While steady load runs through the balancer and acknowledged upserts go to one instance (the
# victim), it injects faults on the victim: an OOM burst and a sticky GPU error (through
# OMEGA_FAULT_INJECT, signed PUT /accel/config), a worker stall (batch_delay_ms), config flips
# (EMBED_MAX_BATCH, OMEGA_PROFILE), SIGTERM and kill -9. Then it checks that the SLOs held
# (client failures, availability through the balancer and p95 from Prometheus) and that every
# acknowledged write is still there. One PASS/FAIL/SKIP line per check, a summary, exit 1 on any
# failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OPSCTL="$HERE/omega-opsctl"

LB_URL="" VICTIM_URL="" SECRET_FILE="" PROM="" VICTIM_SEL="" FLEET_SEL='job="omega"' LB_FRONTEND=""
TERM_CMD="" KILL_CMD="" RESTART_CMD="" PHASE_S=4 THREADS=3 INTERVAL_MS=10 P95_MS=15 AVAILABILITY=0.999
MAX_FAILED=0 MAX_FAILED_RESTART=50 BASE_FAULTS="gpu_sim:1" SKIP="" READY_TIMEOUT=60

usage() {
  cat <<'EOF'
usage: omega-chaos-drill.sh --lb-url URL --instance-url URL --hmac-secret-file F --prom URL
                            --prom-selector 'LABELS' --term-cmd CMD --kill-cmd CMD --restart-cmd CMD [options]
       omega-chaos-drill.sh --fleet-env DIR/fleet.env [options]     (the local fleet of ops/local/fleet.sh)

  --lb-url URL            the balancer clients use (steady load goes there)
  --instance-url URL      the victim instance, reached directly (faults, upserts)
  --hmac-secret-file F    its HMAC secret (signed PUT /accel/config)
  --prom URL              Prometheus scraping the fleet (and the balancer, for availability)
  --prom-selector 'L'     label matchers of the victim's series, e.g. 'instance="10.0.0.5:8080"'
  --fleet-selector 'L'    label matchers of every instance's series (default job="omega")
  --lb-frontend NAME      HAProxy frontend for haproxy_frontend_http_responses_total (optional)
  --term-cmd CMD          sends SIGTERM to the victim and returns once it is started again
  --kill-cmd CMD          kill -9 of the victim, returning once it is started again
  --restart-cmd CMD       a graceful restart of the victim (after the sticky GPU error)
  --base-faults SPEC      OMEGA_FAULT_INJECT to restore after each fault (default gpu_sim:1;
                          "" on real GPUs). The whole string is replaced by each PUT.
  --phase-seconds S       length of each fault phase (default 4)
  --threads N             load threads (default 3)
  --interval-ms MS        pause of each load thread between requests (default 10)
  --p95-ms MS             p95 latency SLO over the drill, from Prometheus (default 15)
  --availability A        successful share of client requests at least (default 0.999)
  --max-failed N          client requests allowed to fail outside the SIGTERM and kill -9 phases (default 0)
  --max-failed-restart N  failures accounted to each SIGTERM / kill -9 phase at most (default 50;
                          a balancer that retries 503 and drains first makes them 0)
  --skip LIST             phases to leave out: oom,sticky,stall,flips,sigterm,kill9
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --fleet-env)
      # shellcheck disable=SC1090
      . "$2"
      fleet_sh=$(cd "$HERE/../local" && pwd)/fleet.sh
      LB_URL=$FLEET_URL VICTIM_URL=$INSTANCE_1_URL SECRET_FILE=$HMAC_SECRET_FILE PROM=$PROM_URL
      VICTIM_SEL='job="omega",server="s1"' LB_FRONTEND=omega_lb
      TERM_CMD="$fleet_sh term $FLEET_DIR 1" KILL_CMD="$fleet_sh kill $FLEET_DIR 1"
      RESTART_CMD="$fleet_sh restart $FLEET_DIR 1"
      shift 2 ;;
    --lb-url) LB_URL=$2; shift 2 ;;
    --instance-url) VICTIM_URL=$2; shift 2 ;;
    --hmac-secret-file) SECRET_FILE=$2; shift 2 ;;
    --prom) PROM=$2; shift 2 ;;
    --prom-selector) VICTIM_SEL=$2; shift 2 ;;
    --fleet-selector) FLEET_SEL=$2; shift 2 ;;
    --lb-frontend) LB_FRONTEND=$2; shift 2 ;;
    --term-cmd) TERM_CMD=$2; shift 2 ;;
    --kill-cmd) KILL_CMD=$2; shift 2 ;;
    --restart-cmd) RESTART_CMD=$2; shift 2 ;;
    --base-faults) BASE_FAULTS=$2; shift 2 ;;
    --phase-seconds) PHASE_S=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --interval-ms) INTERVAL_MS=$2; shift 2 ;;
    --p95-ms) P95_MS=$2; shift 2 ;;
    --availability) AVAILABILITY=$2; shift 2 ;;
    --max-failed) MAX_FAILED=$2; shift 2 ;;
    --max-failed-restart) MAX_FAILED_RESTART=$2; shift 2 ;;
    --skip) SKIP=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in LB_URL VICTIM_URL SECRET_FILE PROM VICTIM_SEL; do
  [ -n "${!v}" ] || { echo "missing ${v} (see --help)" >&2; exit 2; }
done

passed=0 failed=0 skipped=0
result() {
  echo "$1 $2 [${SECONDS}s]"
  case $1 in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;; SKIP) skipped=$((skipped + 1)) ;; esac
}
skip() { [[ ",$SKIP," == *",$1,"* ]]; }
query() { "$OPSCTL" query --prom "$PROM" "$1" 2>/dev/null || echo nan; }
fcmp() { python3 -c 'import math,sys; a,b=float(sys.argv[1]),float(sys.argv[3]); ok={"<=":a<=b,">=":a>=b,">":a>b,"==":a==b}[sys.argv[2]]; sys.exit(0 if ok and not math.isnan(a) else 1)' "$1" "$2" "$3"; }
put() { "$OPSCTL" put-config --url "$VICTIM_URL" --hmac-secret-file "$SECRET_FILE" "$@" >/dev/null; }
metric() { # one series' value straight from the victim's /metrics (0 when absent)
  python3 - "$VICTIM_URL" "$1" <<'PY'
import sys, urllib.request
url, want = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5).read().decode()
print(next((l.split()[-1] for l in text.splitlines() if l.startswith(want + " ")), "0"))
PY
}
# wait until a PromQL expression is true (bounded)
prom_until() {
  local secs=$1 expr=$2 end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    [ "$(query "$expr")" != nan ] && return 0
    sleep 0.5
  done
  return 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/omega-drill.XXXXXX")
LOAD_PID="" WRITES_PID=""
cleanup() {
  touch "$WORK/stop"
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  [ -n "$WRITES_PID" ] && kill "$WRITES_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  # leave the victim without injected faults
  put OMEGA_FAULT_INJECT="$BASE_FAULTS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "chaos drill: load through $LB_URL, faults on $VICTIM_URL ($VICTIM_SEL), Prometheus $PROM"
"$OPSCTL" wait-ready --url "$LB_URL" --timeout 10 || { result FAIL "preflight: $LB_URL is not ready"; exit 1; }
"$OPSCTL" wait-ready --url "$VICTIM_URL" --timeout 10 || { result FAIL "preflight: $VICTIM_URL is not ready"; exit 1; }
put OMEGA_FAULT_INJECT="$BASE_FAULTS" || { result FAIL "preflight: signed PUT /accel/config refused"; exit 1; }
[ "$(query "up{$VICTIM_SEL}")" = 1.0 ] || { result FAIL "preflight: Prometheus has no up{$VICTIM_SEL} == 1"; exit 1; }
result PASS "preflight: balancer, victim, signed config and Prometheus answer"

# a collection on the victim for the acknowledged writes (texts: the model's dimension)
COLL="drill_$(date +%s)_$$"
st=$(python3 - "$VICTIM_URL" "$COLL" <<'PY'
import json, sys, urllib.request as u
url, name = sys.argv[1:]
try:
    dim = json.load(u.urlopen(url + "/info", timeout=5))["dim"]
    r = u.Request(url + "/collections", data=json.dumps({"name": name, "dim": dim, "metric": "cosine"}).encode(),
                  headers={"Content-Type": "application/json"})
    print(u.urlopen(r, timeout=10).status)
except Exception as e:
    print(getattr(e, "code", e))
PY
)
if [ "$st" = 201 ]; then result PASS "collection $COLL created on the victim"
else result FAIL "could not create collection $COLL on the victim: $st"; exit 1; fi

T0=$(date +%s)
DRILL_S=$((PHASE_S * 8 + 60))
"$OPSCTL" load --url "$LB_URL" --threads "$THREADS" --interval-ms "$INTERVAL_MS" --duration "$DRILL_S" --stop-file "$WORK/stop" \
  --report "$WORK/load.json" > "$WORK/load.out" 2>&1 &
LOAD_PID=$!
"$OPSCTL" writes --url "$VICTIM_URL" --collection "$COLL" --acked "$WORK/acked" --duration "$DRILL_S" --interval-ms 10 \
  --stop-file "$WORK/stop" > "$WORK/writes.out" 2>&1 &
WRITES_PID=$!
sleep 1

# 1. OOM burst: half the GPU batches run out of memory; the CPU fallback answers them
if skip oom; then result SKIP "oom burst"; else
  oom0=$(metric omega_embed_cuda_oom_total); fb0=$(metric 'omega_embed_route_total{route="fallback"}')
  put OMEGA_FAULT_INJECT="$BASE_FAULTS,cuda_oom:0.5" && sleep "$PHASE_S" && put OMEGA_FAULT_INJECT="$BASE_FAULTS"
  oom1=$(metric omega_embed_cuda_oom_total); fb1=$(metric 'omega_embed_route_total{route="fallback"}')
  if fcmp "$oom1" ">" "$oom0" && fcmp "$fb1" ">" "$fb0"; then
    result PASS "oom burst: $(python3 -c "print(int($oom1-$oom0))") OOMs, $(python3 -c "print(int($fb1-$fb0))") requests answered by the CPU fallback"
  else
    result FAIL "oom burst: OOMs $oom0 -> $oom1, fallback $fb0 -> $fb1 (the injection did not take, or nothing fell back)"
  fi
  if prom_until 10 "increase(omega_embed_cuda_oom_total{$VICTIM_SEL}[1m]) > 0"; then
    result PASS "oom burst: Prometheus sees the OOMs (the page-on-any-OOM alert would fire)"
  else result FAIL "oom burst: Prometheus shows no OOM increase for {$VICTIM_SEL}"; fi
fi

# 2. worker stall: every batch 50 ms slower for a phase
if skip stall; then result SKIP "worker stall"; else
  put OMEGA_FAULT_INJECT="$BASE_FAULTS,batch_delay_ms:50" && sleep "$PHASE_S" && put OMEGA_FAULT_INJECT="$BASE_FAULTS" &&
    result PASS "worker stall: batch_delay_ms:50 for ${PHASE_S}s, then cleared" || result FAIL "worker stall: injection refused"
fi

# 3. config flips: the batch ceiling and the profile, and back
if skip flips; then result SKIP "config flips"; else
  if put EMBED_MAX_BATCH=4 && sleep 1 && put OMEGA_PROFILE=LOW_LATENCY && sleep 1 && put EMBED_MAX_BATCH=64 &&
     sleep 1 && put OMEGA_PROFILE=HIGH_THROUGHPUT && sleep 1 && put OMEGA_PROFILE=NONE; then
    result PASS "config flips: EMBED_MAX_BATCH 4 -> 64, OMEGA_PROFILE LOW_LATENCY -> HIGH_THROUGHPUT -> NONE"
  else result FAIL "config flips: a change was refused"; fi
fi

# 4. sticky GPU error: the GPU is lost until a restart; the CPU serves meanwhile
if skip sticky; then result SKIP "sticky GPU error"; else
  put OMEGA_FAULT_INJECT="$BASE_FAULTS,cuda_sticky:once"
  if prom_until $((PHASE_S + 10)) "omega_gpu_healthy{$VICTIM_SEL} == 0"; then
    result PASS "sticky GPU error: omega_gpu_healthy 0 on the victim (serving on the CPU, restart needed)"
  else result FAIL "sticky GPU error: omega_gpu_healthy never went to 0"; fi
  if [ -n "$RESTART_CMD" ]; then
    if bash -c "$RESTART_CMD" > "$WORK/restart.out" 2>&1 &&
       prom_until 20 "omega_gpu_healthy{$VICTIM_SEL} == 1"; then
      result PASS "sticky GPU error: a graceful restart brought the GPU back"
    else result FAIL "sticky GPU error: restart failed or the GPU did not come back: $(tail -3 "$WORK/restart.out")"; fi
  else result SKIP "sticky GPU error: no --restart-cmd"; fi
fi

# 5. SIGTERM under load (the balancer learns from its health checks)
phase_mark() { echo "$1 $2 $(date +%s.%N)" >> "$WORK/phases"; }
if skip sigterm || [ -z "$TERM_CMD" ]; then result SKIP "sigterm${TERM_CMD:+}"; else
  phase_mark sigterm start
  if bash -c "$TERM_CMD" > "$WORK/term.out" 2>&1 && "$OPSCTL" wait-ready --url "$VICTIM_URL" --timeout "$READY_TIMEOUT"; then
    result PASS "sigterm: the victim drained, exited and is ready again"
  else result FAIL "sigterm: $(tail -3 "$WORK/term.out")"; fi
  sleep 1; phase_mark sigterm end
fi

# 6. kill -9 under load and during acknowledged writes
if skip kill9 || [ -z "$KILL_CMD" ]; then result SKIP "kill -9"; else
  sleep 1
  phase_mark kill9 start
  if bash -c "$KILL_CMD" > "$WORK/kill.out" 2>&1 && "$OPSCTL" wait-ready --url "$VICTIM_URL" --timeout "$READY_TIMEOUT"; then
    result PASS "kill -9: the victim is back and ready"
  else result FAIL "kill -9: $(tail -3 "$WORK/kill.out")"; fi
  sleep 1; phase_mark kill9 end
fi

sleep 2
touch "$WORK/stop"
wait "$LOAD_PID" || true; LOAD_PID=""
wait "$WRITES_PID" || true; WRITES_PID=""
T1=$(date +%s)
SPAN=$((T1 - T0 + 2))
cat "$WORK/load.out" "$WORK/writes.out"

# SLO: client requests through the balancer. Failures that started during a SIGTERM or kill -9
# phase are accounted to it (up to --max-failed-restart each); any other failure counts against
# --max-failed; and the successful share must meet --availability.
touch "$WORK/phases"
while read -r line; do
  case $line in PASS*) result PASS "${line#PASS }" ;; FAIL*) result FAIL "${line#FAIL }" ;; *) echo "$line" ;; esac
done < <(python3 - "$WORK/load.json" "$WORK/phases" "$MAX_FAILED" "$MAX_FAILED_RESTART" "$AVAILABILITY" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
max_failed, max_restart, avail = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
phases, open_ = [], {}
for line in open(sys.argv[2]):
    name, what, t = line.split()
    if what == "start":
        open_[name] = float(t)
    else:
        phases.append((name, open_.pop(name), float(t)))
per, other = {p[0]: 0 for p in phases}, []
for t, kind in rep.get("failures", []):
    ph = next((p[0] for p in phases if p[1] - 1 <= t <= p[2]), None)  # in flight at the signal too
    if ph:
        per[ph] += 1
    else:
        other.append((t, kind))
total, ok = rep["requests"], rep["ok"]
share = ok / total if total else 0
print(f"clients: {total} requests through the balancer, {rep['failed']} failed {rep['errors'] or ''}")
for ph, n in per.items():
    print(("PASS" if n <= max_restart else "FAIL") + f" clients: {n} failed requests accounted to the {ph} phase (at most {max_restart})")
print(("PASS" if len(other) <= max_failed else "FAIL") +
      f" clients: {len(other)} failed requests outside the restart phases (at most {max_failed})"
      + (f": {other[:5]}" if other else ""))
print(("PASS" if total > 0 and share >= avail else "FAIL") + f" clients: availability {share:.5f} (at least {avail})")
PY
)
# SLO: availability as the balancer's own metrics show it
if [ -n "$LB_FRONTEND" ]; then
  sleep 2
  av=$(query "1 - (sum(increase(haproxy_frontend_http_responses_total{proxy=\"$LB_FRONTEND\",code=\"5xx\"}[${SPAN}s])) / sum(increase(haproxy_frontend_http_responses_total{proxy=\"$LB_FRONTEND\"}[${SPAN}s])))")
  if fcmp "$av" ">=" "$AVAILABILITY"; then result PASS "availability through $LB_FRONTEND (Prometheus, HAProxy exporter): $av >= $AVAILABILITY"
  else result FAIL "availability through $LB_FRONTEND (Prometheus, HAProxy exporter): $av < $AVAILABILITY"; fi
else result SKIP "availability from the balancer's metrics (no --lb-frontend)"; fi
# SLO: p95 over the fleet during the drill
p95=$(query "histogram_quantile(0.95, sum by (le) (increase(omega_embed_latency_ms_bucket{$FLEET_SEL}[${SPAN}s])))")
if fcmp "$p95" "<=" "$P95_MS"; then result PASS "p95 embedding latency over the fleet during the drill: $p95 ms <= $P95_MS"
else result FAIL "p95 embedding latency over the fleet during the drill: $p95 ms > $P95_MS"; fi

# no acknowledged write lost
acked=$(wc -l < "$WORK/acked" 2>/dev/null || echo 0)
if [ "$acked" -gt 0 ] && "$OPSCTL" verify-ids --url "$VICTIM_URL" --collection "$COLL" --acked "$WORK/acked"; then
  result PASS "writes: all $acked acknowledged upserts present after the restarts"
else
  result FAIL "writes: acknowledged upserts missing (or none acknowledged: $acked)"
fi
python3 -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1]+"/collections/"+sys.argv[2],method="DELETE"),timeout=10)' \
  "$VICTIM_URL" "$COLL" 2>/dev/null || true

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
