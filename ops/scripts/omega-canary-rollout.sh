#!/usr/bin/env bash
# omega-canary-rollout.sh: shift traffic to a canary behind HAProxy in steps (5% -> 25% -> 100%
# by default) through HAProxy's runtime API, soak each step, and gate it on SLO queries to
# Prometheus for the canary alone: p95 embedding latency, 5xx ratio, CPU fallback ratio, OOMs,
# and enough samples to judge. On a GPU-side violation (fallback ratio or OOMs) it first applies
# the automatic CPU fallback (a signed PUT /accel/config EMBED_PREFER_GPU=false on the canary)
# and judges the step once more; any other violation, or one that stays, rolls back (canary
# weight 0, the stable servers back to full weight) and exits 1 naming the gate and its value.
# At 100% it promotes: the stable servers go to weight 0 and drain.
#
# Prints one PASS/FAIL/SKIP line per gate and step, and a summary. Exit 0: promoted; 1: rolled
# back (or a gate failed); 2: bad usage or the balancer/Prometheus could not be driven.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OPSCTL="$HERE/omega-opsctl"

SOCK="" BACKEND=omega CANARY=canary STABLE="" PROM="" CANARY_URL="" SECRET_FILE=""
SELECTOR='job="omega",server="canary"'
STEPS="5,25,100" SOAK=300 WINDOW="" MIN_SAMPLES=200
P95_MS=15 ERR_RATIO=0.001 FALLBACK_RATIO=0.03 MAX_OOMS=0 FULL_WEIGHT=100 CPU_FALLBACK=1 PROMOTE=1

usage() {
  cat <<'EOF'
usage: omega-canary-rollout.sh --haproxy-sock SOCK --prom URL [options]

Balancer (HAProxy runtime API, admin level):
  --haproxy-sock PATH     the stats socket (`stats socket PATH level admin`)
  --backend NAME          backend holding the servers (default omega)
  --canary-server NAME    the canary's server in it (default canary)
  --stable-servers A,B    the old version's servers (default: every other server of the backend)
  --full-weight N         weight of a server taking full traffic (default 100)
Gates (Prometheus instant queries over the last soak window, for the canary only):
  --prom URL              Prometheus base URL, e.g. http://prometheus:9090
  --selector 'LABELS'     PromQL label matchers of the canary's series (default job="omega",server="canary")
  --steps 5,25,100        traffic percentages to the canary (default 5,25,100)
  --soak SECONDS          time at each step before the gates (default 300)
  --window SECONDS        query window (default: the soak time)
  --min-samples N         embedding requests the canary must have served in the window (default 200)
  --p95-ms MS             p95 of omega_embed_latency_ms at most (default 15)
  --error-ratio R         5xx / all requests of the data plane at most (default 0.001)
  --fallback-ratio R      route="fallback" / all embedding routes at most (default 0.03)
  --max-ooms N            increase of omega_embed_cuda_oom_total at most (default 0)
Automatic CPU fallback (on a fallback-ratio or OOM violation):
  --canary-url URL        the canary instance itself (for the signed PUT /accel/config)
  --hmac-secret-file F    the HMAC secret of that instance
  --no-cpu-fallback       roll back at once instead
  --no-promote            stop at the last step without draining the stable servers
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --haproxy-sock) SOCK=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --canary-server) CANARY=$2; shift 2 ;;
    --stable-servers) STABLE=$2; shift 2 ;;
    --full-weight) FULL_WEIGHT=$2; shift 2 ;;
    --prom) PROM=$2; shift 2 ;;
    --selector) SELECTOR=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --min-samples) MIN_SAMPLES=$2; shift 2 ;;
    --p95-ms) P95_MS=$2; shift 2 ;;
    --error-ratio) ERR_RATIO=$2; shift 2 ;;
    --fallback-ratio) FALLBACK_RATIO=$2; shift 2 ;;
    --max-ooms) MAX_OOMS=$2; shift 2 ;;
    --canary-url) CANARY_URL=$2; shift 2 ;;
    --hmac-secret-file) SECRET_FILE=$2; shift 2 ;;
    --no-cpu-fallback) CPU_FALLBACK=0; shift ;;
    --no-promote) PROMOTE=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$SOCK" ] && [ -n "$PROM" ] || { usage >&2; exit 2; }
[ -S "$SOCK" ] || { echo "no HAProxy socket at $SOCK" >&2; exit 2; }
WINDOW=${WINDOW:-$SOAK}
if [ "$CPU_FALLBACK" = 1 ] && { [ -z "$CANARY_URL" ] || [ -z "$SECRET_FILE" ]; }; then
  echo "note: no --canary-url/--hmac-secret-file: the automatic CPU fallback is off" >&2
  CPU_FALLBACK=0
fi

hap() { "$OPSCTL" hap "$SOCK" "$1"; }
hap_set() { # a runtime API command that must not answer with an error
  local out; out=$(hap "$1" | grep -viE '^\s*$|^done|no need to change' || true)
  if [ -n "$out" ]; then
    echo "HAProxy refused '$1': $out" >&2; return 1
  fi
}
query() { "$OPSCTL" query --prom "$PROM" "$@"; }  # "nan" for no data or no answer: never a pass
# compare A OP B as numbers; "nan" (no data) never passes
fcmp() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) exit 1
  exit !((op == "<=" && a + 0 <= b + 0) || (op == ">=" && a + 0 >= b + 0) || (op == ">" && a + 0 > b + 0)) }'; }

# the stable servers: every server of the backend but the canary
if [ -z "$STABLE" ]; then
  STABLE=$(hap "show stat" | awk -F, -v b="$BACKEND" -v c="$CANARY" \
    '$1==b && $2!="BACKEND" && $2!="FRONTEND" && $2!=c {printf "%s%s", sep, $2; sep=","}')
fi
[ -n "$STABLE" ] || { echo "no stable servers in backend $BACKEND" >&2; exit 2; }
IFS=, read -r -a stable <<< "$STABLE"
n=${#stable[@]}
hap "show stat" | awk -F, -v b="$BACKEND" -v c="$CANARY" '$1==b && $2==c {f=1} END {exit !f}' ||
  { echo "no server $BACKEND/$CANARY" >&2; exit 2; }

passed=0 failed=0
result() { # PASS|FAIL|SKIP text
  echo "$1 $2"
  case $1 in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;; esac
}

# weights for P% to the canary: canary c, each stable server s, c / (c + n*s) = P/100
# (HAProxy weights are 0..256: s is lowered when c would pass 256)
split_weights() {
  awk -v p="$1" -v n="$n" -v full="$FULL_WEIGHT" 'BEGIN {
    p /= 100
    if (p >= 1) { print full, 0; exit }
    if (p <= 0) { print 0, full; exit }
    s = full; c = p * n * s / (1 - p)
    if (c > 256) { s = int(256 * (1 - p) / (p * n)); if (s < 1) s = 1; c = p * n * s / (1 - p) }
    c = int(c + 0.5); if (c < 1) c = 1; if (c > 256) c = 256
    print c, s }'
}
set_split() { # one runtime API call for the whole step
  local pct=$1 c s srv cmds=""
  read -r c s < <(split_weights "$pct")
  for srv in "${stable[@]}"; do cmds+="set weight $BACKEND/$srv $s; "; done
  hap_set "${cmds}set weight $BACKEND/$CANARY $c"
  echo "step $pct%: weight $BACKEND/$CANARY=$c, each of ${stable[*]}=$s"
}

rollback() {
  local srv cmds="set weight $BACKEND/$CANARY 0"
  for srv in "${stable[@]}"; do
    cmds+="; set server $BACKEND/$srv state ready; set weight $BACKEND/$srv $FULL_WEIGHT"
  done
  hap_set "$cmds" || true
  echo "ROLLED BACK: $BACKEND/$CANARY weight 0, ${stable[*]} at weight $FULL_WEIGHT"
}

S="{$SELECTOR}"
DATA='endpoint!~"metrics|health|ready|accel_health|accel_config"'
W="${WINDOW}s"
# judge the canary over the last window; sets VIOLATIONS (names) and GPU_SIDE (0/1)
judge() {
  local step=$1 samples p95 err fb ooms
  VIOLATIONS="" GPU_SIDE=0
  local sel="${SELECTOR}"
  { read -r samples; read -r p95; read -r err; read -r fb; read -r ooms; } < <(query \
    "sum(increase(omega_embed_latency_ms_count{$sel}[$W]))" \
    "histogram_quantile(0.95, sum by (le) (rate(omega_embed_latency_ms_bucket{$sel}[$W])))" \
    "(sum(rate(omega_http_requests_total{$sel,$DATA,status=~\"5..\"}[$W])) or vector(0)) / sum(rate(omega_http_requests_total{$sel,$DATA}[$W]))" \
    "(sum(rate(omega_embed_route_total{$sel,route=\"fallback\"}[$W])) or vector(0)) / sum(rate(omega_embed_route_total{$sel}[$W]))" \
    "sum(increase(omega_embed_cuda_oom_total{$sel}[$W]))")
  if fcmp "$samples" ">=" "$MIN_SAMPLES"; then
    result PASS "$step samples: $samples embedding requests on the canary in ${W} (>= $MIN_SAMPLES)"
  else
    result FAIL "$step samples: $samples embedding requests on the canary in ${W} (need >= $MIN_SAMPLES)"
    VIOLATIONS+=" samples=$samples"
  fi
  if fcmp "$p95" "<=" "$P95_MS"; then result PASS "$step p95: $p95 ms (<= $P95_MS)"
  else result FAIL "$step p95: $p95 ms (> $P95_MS)"; VIOLATIONS+=" p95_ms=$p95"; fi
  if fcmp "$err" "<=" "$ERR_RATIO"; then result PASS "$step error ratio: $err (<= $ERR_RATIO)"
  else result FAIL "$step error ratio: $err (> $ERR_RATIO)"; VIOLATIONS+=" error_ratio=$err"; fi
  if fcmp "$fb" "<=" "$FALLBACK_RATIO"; then result PASS "$step fallback ratio: $fb (<= $FALLBACK_RATIO)"
  else result FAIL "$step fallback ratio: $fb (> $FALLBACK_RATIO)"; VIOLATIONS+=" fallback_ratio=$fb"
    fcmp "$fb" ">" "$FALLBACK_RATIO" && GPU_SIDE=1; fi
  if fcmp "$ooms" "<=" "$MAX_OOMS"; then result PASS "$step OOMs: $ooms (<= $MAX_OOMS)"
  else result FAIL "$step OOMs: $ooms (> $MAX_OOMS)"; VIOLATIONS+=" ooms=$ooms"
    fcmp "$ooms" ">" "$MAX_OOMS" && GPU_SIDE=1; fi
  [ -z "$VIOLATIONS" ]
}

echo "canary rollout: $BACKEND/$CANARY against ${stable[*]}; steps $STEPS%; soak ${SOAK}s; gates p95<=${P95_MS}ms errors<=$ERR_RATIO fallback<=$FALLBACK_RATIO ooms<=$MAX_OOMS samples>=$MIN_SAMPLES"
cpu_applied=0
IFS=, read -r -a steps <<< "$STEPS"
for pct in "${steps[@]}"; do
  set_split "$pct" || { rollback; exit 2; }
  sleep "$SOAK"
  if judge "${pct}%"; then continue; fi
  if [ "$GPU_SIDE" = 1 ] && [ "$CPU_FALLBACK" = 1 ] && [ "$cpu_applied" = 0 ]; then
    echo "GPU-side violation at ${pct}% (${VIOLATIONS# }): automatic CPU fallback on the canary"
    if "$OPSCTL" put-config --url "$CANARY_URL" --hmac-secret-file "$SECRET_FILE" EMBED_PREFER_GPU=false; then
      result PASS "${pct}% CPU fallback applied (EMBED_PREFER_GPU=false on $CANARY_URL)"
      cpu_applied=1
      sleep "$SOAK"
      if judge "${pct}% (after CPU fallback)"; then continue; fi
    else
      result FAIL "${pct}% CPU fallback could not be applied"
    fi
  fi
  rollback
  echo "$passed passed, $failed failed"
  echo "FAILED gate at ${pct}%:${VIOLATIONS}"
  exit 1
done

if [ "$PROMOTE" = 1 ]; then
  cmds=""
  for srv in "${stable[@]}"; do cmds+="set weight $BACKEND/$srv 0; set server $BACKEND/$srv state drain; "; done
  hap_set "${cmds%; }"
  result PASS "promoted: $BACKEND/$CANARY takes all traffic; ${stable[*]} at weight 0 and draining"
  [ "$cpu_applied" = 1 ] && echo "note: the canary runs with EMBED_PREFER_GPU=false (the automatic CPU fallback)"
fi
echo "$passed passed, $failed failed"
exit 0
