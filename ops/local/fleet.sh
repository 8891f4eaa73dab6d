#!/usr/bin/env bash
# A test fleet on one machine: N `omega serve` instances behind a real HAProxy, scraped by a
# real Prometheus, all on 127.0.0.1. Used by CI (tests/ops/fleet.cmake) for the canary rollout,
# the rolling restart and the chaos drill, and by hand to try them.
#
#   fleet.sh up DIR [--instances N] [--omega BIN] [--genmodel BIN | --model DIR] [--set K=V]...
#   fleet.sh down DIR              stop everything `up` and `canary` started
#   fleet.sh status DIR            processes, HAProxy's view of each server, Prometheus targets
#   fleet.sh restart DIR I         graceful restart of instance I (drain in HAProxy, SIGTERM, start, ready)
#   fleet.sh rolling-restart DIR   every instance in turn
#   fleet.sh kill DIR I            kill -9 instance I, then start it again (HAProxy's checks notice)
#   fleet.sh term DIR I            SIGTERM instance I without draining it in HAProxy, then start it again
#   fleet.sh canary DIR [--omega BIN] [--set K=V]...   start a new-version instance in the canary slot (weight 0)
#   fleet.sh canary-stop DIR       retire the canary: weight 0, maintenance, stop it; s1..sN back to ready, weight 100
#
# DIR/fleet.env (sourced by scripts) holds FLEET_URL, PROM_URL, HAPROXY_SOCK, HAPROXY_BACKEND,
# HMAC_SECRET_FILE, FLEET_INSTANCES, INSTANCE_<i>_URL/_PID/_SERVER, CANARY_URL/_PID when one runs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OPSCTL="$ROOT/ops/scripts/omega-opsctl"
BACKEND=omega
: "${FLEET_READY_TIMEOUT:=60}"

die() { echo "fleet: $*" >&2; exit 1; }
log() { echo "fleet: [${SECONDS}s] $*" >&2; }
usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

hap() { "$OPSCTL" hap "$DIR/haproxy.sock" "$1"; }
hap_field() { "$OPSCTL" hap-stat "$DIR/haproxy.sock" "$BACKEND" "$1" "$2"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# spawn LOG PIDFILE CMD... : a daemon in its own session, stdin closed, output appended to LOG,
# and no inherited descriptor above 2 (a caller's `flock` lock must not stay held by the fleet)
spawn() {
  local logf=$1 pidf=$2; shift 2
  (
    for fd in $(ls /proc/$BASHPID/fd); do
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid "$@"
  ) >> "$logf" 2>&1 < /dev/null &
  echo $! > "$pidf"
}

free_ports() { # N distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Wait (bounded) for a command to succeed: wait_for SECONDS WHAT CMD...
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

load_state() {
  DIR=$(cd "$1" && pwd)
  [ -f "$DIR/state/instances" ] || die "$DIR is not a fleet directory (run fleet.sh up first)"
  N=$(cat "$DIR/state/instances")
  OMEGA=$(cat "$DIR/state/omega")
  MODEL=$(cat "$DIR/state/model")
}

# start_instance NAME PORT [OMEGA_BIN] : start one `omega serve` (its own data dir, the shared
# secret, the fleet-wide --set lines, then the instance's own) in its own process group.
start_instance() {
  local name=$1 port=$2 bin=${3:-$OMEGA} d="$DIR/inst/$1"
  mkdir -p "$d/data"
  local -a sets=()
  local kv
  while IFS= read -r kv; do [ -n "$kv" ] && sets+=(--set "$kv"); done < <(cat "$DIR/state/sets" "$d/sets" 2>/dev/null || true)
  local -a clean=()
  local v
  for v in $(compgen -e); do case $v in OMEGA_*|EMBED_*|ACCEL_*) clean+=(-u "$v") ;; esac; done
  echo "$port" > "$d/port"
  echo "$bin" > "$d/omega"
  spawn "$d/omega.log" "$d/pid" env "${clean[@]}" \
    OMEGA_DATA_DIR="$d/data" OMEGA_HMAC_SECRET_FILE="$DIR/hmac.secret" OMEGA_MAX_CONNECTIONS_PER_IP=0 OMEGA_TRUSTED_PROXIES=127.0.0.1 \
    OMEGA_FAULT_INJECT=gpu_sim:1 EMBED_THREADS=1 OMEGA_IO_THREADS=2 OMEGA_WORKERS=2 OMEGA_DRAIN_GRACE_MS=15000 \
    "$bin" serve --model "$MODEL" --host 127.0.0.1 --port "$port" "${sets[@]}"
}

wait_instance_ready() {
  local d="$DIR/inst/$1"
  if ! "$OPSCTL" wait-ready --url "http://127.0.0.1:$(cat "$d/port")" --timeout "$FLEET_READY_TIMEOUT"; then
    log "instance $1 not ready; its log ends:"; tail -20 "$d/omega.log" >&2; return 1
  fi
}

# stop_pid PIDFILE SECONDS : SIGTERM, wait, SIGKILL as the last resort; 1 if it had to kill
stop_pid() {
  local f=$1 secs=${2:-20} pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + secs))
    while alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if alive "$pid"; then
      log "pid $pid did not stop within ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$f"
      return 1
    fi
  fi
  rm -f "$f"
}

write_targets() {
  python3 - "$DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
groups = []
for name in sorted(os.listdir(os.path.join(d, "inst"))):
    p = os.path.join(d, "inst", name)
    if not os.path.exists(os.path.join(p, "port")):
        continue
    if name == "canary" and not os.path.exists(os.path.join(p, "pid")):
        continue
    if True:
        port = open(os.path.join(p, "port")).read().strip()
        groups.append({"targets": [f"127.0.0.1:{port}"], "labels": {"server": name}})
tmp = os.path.join(d, "targets.json.tmp")
with open(tmp, "w") as f:
    json.dump(groups, f)
os.replace(tmp, os.path.join(d, "targets.json"))
PY
}

write_env() {
  {
    echo "FLEET_DIR=$DIR"
    echo "FLEET_URL=http://127.0.0.1:$(cat "$DIR/state/lb_port")"
    echo "PROM_URL=http://127.0.0.1:$(cat "$DIR/state/prom_port")"
    echo "HAPROXY_STATS_URL=http://127.0.0.1:$(cat "$DIR/state/stats_port")/stats"
    echo "HAPROXY_SOCK=$DIR/haproxy.sock"
    echo "HAPROXY_BACKEND=$BACKEND"
    echo "HMAC_SECRET_FILE=$DIR/hmac.secret"
    echo "FLEET_INSTANCES=$N"
    echo "OMEGA_BIN=$OMEGA"
    echo "MODEL_DIR=$MODEL"
    local i
    for i in $(seq 1 "$N"); do
      echo "INSTANCE_${i}_SERVER=s$i"
      echo "INSTANCE_${i}_URL=http://127.0.0.1:$(cat "$DIR/inst/s$i/port")"
      echo "INSTANCE_${i}_PID=$(cat "$DIR/inst/s$i/pid" 2>/dev/null || echo)"
      echo "INSTANCE_${i}_DATA_DIR=$DIR/inst/s$i/data"
    done
    if [ -f "$DIR/inst/canary/pid" ]; then
      echo "CANARY_SERVER=canary"
      echo "CANARY_URL=http://127.0.0.1:$(cat "$DIR/inst/canary/port")"
      echo "CANARY_PID=$(cat "$DIR/inst/canary/pid")"
    fi
  } > "$DIR/fleet.env.tmp"
  mv "$DIR/fleet.env.tmp" "$DIR/fleet.env"
}

server_up() { [ "$(hap_field "$1" status)" = UP ]; }

cmd_up() {
  [ $# -ge 1 ] || { usage; exit 2; }
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd); shift
  N=3 OMEGA="$ROOT/build/omega" GENMODEL="$ROOT/build/omega-genmodel" MODEL=""
  local -a sets=()
  while [ $# -gt 0 ]; do
    case $1 in
      --instances) N=$2; shift 2 ;;
      --omega) OMEGA=$2; shift 2 ;;
      --genmodel) GENMODEL=$2; shift 2 ;;
      --model) MODEL=$2; shift 2 ;;
      --set) sets+=("$2"); shift 2 ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  [[ $N =~ ^[1-9][0-9]?$ ]] || die "--instances must be 1..99"
  [ -x "$OMEGA" ] || die "no omega binary at $OMEGA (build it, or pass --omega)"
  command -v haproxy >/dev/null || die "haproxy is not installed"
  command -v prometheus >/dev/null || die "prometheus is not installed"
  if [ -f "$DIR/state/instances" ]; then
    local p
    for p in "$DIR"/inst/*/pid "$DIR/haproxy.pid" "$DIR/prometheus.pid"; do
      [ -f "$p" ] && alive "$(cat "$p")" && die "a fleet already runs in $DIR (fleet.sh down $DIR first)"
    done
  fi
  OMEGA=$(cd "$(dirname "$OMEGA")" && pwd)/$(basename "$OMEGA")
  mkdir -p "$DIR/state" "$DIR/inst"
  if [ -z "$MODEL" ]; then
    MODEL="$DIR/model"
    if [ ! -f "$MODEL/config.json" ]; then
      [ -x "$GENMODEL" ] || die "no model: pass --model DIR or --genmodel BIN"
      "$GENMODEL" --out "$MODEL" --hidden 64 --layers 2 --heads 2 --intermediate 128 --max-seq-length 32 \
        --seed 11 >/dev/null 2>&1 || die "omega-genmodel failed"
    fi
  fi
  MODEL=$(cd "$MODEL" && pwd)
  echo "$N" > "$DIR/state/instances"
  echo "$OMEGA" > "$DIR/state/omega"
  echo "$MODEL" > "$DIR/state/model"
  printf '%s\n' "${sets[@]+"${sets[@]}"}" > "$DIR/state/sets"
  if [ ! -s "$DIR/hmac.secret" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > "$DIR/hmac.secret")
  fi
  # if anything below fails, stop what was started
  trap 'if [ -z "${UP_OK:-}" ]; then log "up failed: stopping what was started"; cmd_down "$DIR" >/dev/null 2>&1 || true; fi' EXIT

  local ports; read -r -a ports <<< "$(free_ports $((N + 4)))"
  echo "${ports[0]}" > "$DIR/state/lb_port"
  echo "${ports[1]}" > "$DIR/state/stats_port"
  echo "${ports[2]}" > "$DIR/state/prom_port"
  echo "${ports[3]}" > "$DIR/state/canary_port"
  local i servers=""
  for i in $(seq 1 "$N"); do
    start_instance "s$i" "${ports[$((3 + i))]}"
    servers+="    server s$i 127.0.0.1:${ports[$((3 + i))]}"$'\n'
  done
  write_targets

  # HAProxy
  local sv="${servers%$'\n'}"
  SERVERS="$sv" python3 - "$HERE/haproxy.cfg.in" "$DIR/haproxy.cfg" "$DIR" "${ports[0]}" "${ports[1]}" \
    "${ports[3]}" "$BACKEND" <<'PY'
import os, sys
src, dst, d, lb, stats, canary, backend = sys.argv[1:]
t = open(src).read()
for k, v in {"@DIR@": d, "@LB_PORT@": lb, "@STATS_PORT@": stats, "@CANARY_PORT@": canary,
             "@BACKEND@": backend, "@SERVERS@": os.environ["SERVERS"]}.items():
    t = t.replace(k, v)
open(dst, "w").write(t)
PY
  haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy rejects $DIR/haproxy.cfg"
  spawn "$DIR/haproxy.log" "$DIR/haproxy.run.pid" haproxy -db -f "$DIR/haproxy.cfg"

  # Prometheus, with the rule files of ops/prometheus when they are there
  local rules="" f
  for f in "$ROOT"/ops/prometheus/*.yml; do
    [ -f "$f" ] || continue
    case $(basename "$f") in *test*) continue ;; esac
    rules+="  - '$f'"$'\n'
  done
  [ -n "$rules" ] || rules="  []"$'\n'
  RULES="${rules%$'\n'}" python3 - "$HERE/prometheus.yml.in" "$DIR/prometheus.yml" "$DIR" "${ports[1]}" <<'PY'
import os, sys
src, dst, d, stats = sys.argv[1:]
t = open(src).read().replace("@DIR@", d).replace("@STATS_PORT@", stats)
t = t.replace("rule_files:\n@RULE_FILES@", "rule_files:\n" + os.environ["RULES"] if os.environ["RULES"].strip() != "[]" else "rule_files: []")
open(dst, "w").write(t)
PY
  mkdir -p "$DIR/prom-data"
  spawn "$DIR/prometheus.log" "$DIR/prometheus.run.pid" prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prom-data" \
    --web.listen-address="127.0.0.1:${ports[2]}" --web.enable-lifecycle --storage.tsdb.retention.time=1d

  for i in $(seq 1 "$N"); do wait_instance_ready "s$i"; done
  wait_for 20 "HAProxy's runtime socket" test -S "$DIR/haproxy.sock"
  for i in $(seq 1 "$N"); do wait_for 20 "HAProxy to see s$i UP" server_up "s$i"; done
  wait_for 30 "Prometheus ready" curl_ok "http://127.0.0.1:${ports[2]}/-/ready"
  wait_for 30 "Prometheus to scrape all $N instances" prom_equals "count(up{job=\"omega\"} == 1)" "$N"
  write_env
  UP_OK=1
  log "up: $N instances behind http://127.0.0.1:${ports[0]} (Prometheus http://127.0.0.1:${ports[2]}); env in $DIR/fleet.env"
}

curl_ok() { python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }
prom_equals() {
  local v; v=$("$OPSCTL" query --prom "http://127.0.0.1:$(cat "$DIR/state/prom_port")" "$1") || return 1
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) == float(sys.argv[2]) else 1)' "$v" "$2"
}

cmd_down() {
  [ $# -ge 1 ] || { usage; exit 2; }
  [ -d "$1" ] || return 0
  DIR=$(cd "$1" && pwd)
  local f rc=0 pid
  # SIGTERM to everything at once, then wait for each (SIGKILL past its time)
  for f in "$DIR/prometheus.run.pid" "$DIR/haproxy.run.pid" "$DIR"/inst/*/pid; do
    [ -f "$f" ] && pid=$(cat "$f") && alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$DIR/prometheus.run.pid" "$DIR/haproxy.run.pid" "$DIR"/inst/*/pid; do
    [ -f "$f" ] || continue
    stop_pid "$f" 25 || rc=1
  done
  rm -f "$DIR/haproxy.sock" "$DIR/haproxy.pid"
  log "down: stopped everything in $DIR"
  return $rc
}

cmd_status() {
  load_state "$1"
  local f name pid
  for f in "$DIR"/inst/*/port; do
    name=$(basename "$(dirname "$f")"); pid=$(cat "$DIR/inst/$name/pid" 2>/dev/null || echo -)
    printf '%-8s port %-6s pid %-8s %s\n' "$name" "$(cat "$f")" "$pid" "$(alive "$pid" && echo running || echo stopped)"
  done
  for f in haproxy prometheus; do
    pid=$(cat "$DIR/$f.run.pid" 2>/dev/null || echo -)
    printf '%-10s pid %-8s %s\n' "$f" "$pid" "$(alive "$pid" && echo running || echo stopped)"
  done
  if [ -S "$DIR/haproxy.sock" ]; then
    hap "show stat" | python3 -c '
import sys
rows = [l.split(",") for l in sys.stdin.read().splitlines() if l]
head = rows[0]; head[0] = head[0].lstrip("# ")
ix = {h: i for i, h in enumerate(head)}
print("%-8s %-8s %-10s %-6s %-6s %s" % ("backend", "server", "status", "weight", "scur", "addr"))
for r in rows[1:]:
    if r[ix["svname"]] in ("FRONTEND", "BACKEND"): continue
    print("%-8s %-8s %-10s %-6s %-6s %s" % (r[ix["pxname"]], r[ix["svname"]], r[ix["status"]], r[ix["weight"]], r[ix["scur"]], r[ix["addr"]]))'
  fi
  echo "Prometheus targets up: $("$OPSCTL" query --prom "http://127.0.0.1:$(cat "$DIR/state/prom_port")" 'count(up == 1)' 2>/dev/null || echo '?')"
}

# The graceful restart: no request through the balancer may fail.
restart_one() {
  local name=$1 bin=${2:-} d="$DIR/inst/$1"
  [ -f "$d/port" ] || die "no instance $name"
  bin=${bin:-$(cat "$d/omega")}
  local t0=$SECONDS
  # 1. drain: HAProxy sends it no new requests (health checks go on)
  hap "set server $BACKEND/$name state drain" >/dev/null; log "$name: drain at $((SECONDS - t0))s"
  # 2. wait until its sessions and queue are empty
  wait_for 30 "$name to have no sessions" no_sessions "$name" || return 1
  # 3. maintenance: out of the balancer altogether, then SIGTERM and wait for the exit
  hap "set server $BACKEND/$name state maint" >/dev/null; log "$name: no sessions, maint at $((SECONDS - t0))s"
  stop_pid "$d/pid" 30 || { log "$name: did not exit on SIGTERM"; return 1; }
  # 4. start it again on the same port, wait for /ready, give it back to HAProxy and wait for UP
  log "$name: exited at $((SECONDS - t0))s"; start_instance "$name" "$(cat "$d/port")" "$bin"
  wait_instance_ready "$name" || return 1
  hap "set server $BACKEND/$name state ready" >/dev/null
  wait_for 20 "HAProxy to see $name UP" server_up "$name" || return 1
  log "restart: $name back in $((SECONDS - t0)) s (pid $(cat "$d/pid"))"
}

no_sessions() { [ "$(hap_field "$1" scur)" = 0 ] && [ "$(hap_field "$1" qcur)" = 0 ]; }

cmd_restart() {
  [ $# -ge 2 ] || { usage; exit 2; }
  load_state "$1"
  local i=$2
  [[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$N" ] || die "restart: instance 1..$N"
  restart_one "s$i" "${3:-}"
  write_env
}

cmd_rolling_restart() {
  [ $# -ge 1 ] || { usage; exit 2; }
  load_state "$1"
  local i
  for i in $(seq 1 "$N"); do restart_one "s$i"; done
  write_env
  log "rolling-restart: all $N instances restarted"
}

cmd_kill() {
  [ $# -ge 2 ] || { usage; exit 2; }
  load_state "$1"
  local i=$2 d="$DIR/inst/s$2" pid
  [ -f "$d/pid" ] || die "kill: no instance $i"
  pid=$(cat "$d/pid")
  kill -KILL "$pid" 2>/dev/null || true
  local end=$((SECONDS + 10))
  while alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.05; done
  rm -f "$d/pid"
  log "kill: s$i (pid $pid) killed with SIGKILL; starting it again"
  start_instance "s$i" "$(cat "$d/port")"
  wait_instance_ready "s$i"
  wait_for 20 "HAProxy to see s$i UP" server_up "s$i"
  write_env
}

# SIGTERM without draining in HAProxy first (as when a node evicts a pod): Omega's own drain
# and the balancer's checks and retries must carry the clients; then start it again.
cmd_term() {
  [ $# -ge 2 ] || { usage; exit 2; }
  load_state "$1"
  local i=$2 d="$DIR/inst/s$2"
  [ -f "$d/pid" ] || die "term: no instance $i"
  stop_pid "$d/pid" 30 || die "term: s$i did not exit on SIGTERM"
  log "term: s$i exited on SIGTERM; starting it again"
  start_instance "s$i" "$(cat "$d/port")"
  wait_instance_ready "s$i"
  wait_for 20 "HAProxy to see s$i UP" server_up "s$i"
  write_env
}

cmd_canary() {
  [ $# -ge 1 ] || { usage; exit 2; }
  load_state "$1"; shift
  local bin=$OMEGA
  local -a sets=()
  while [ $# -gt 0 ]; do
    case $1 in
      --omega) bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
      --set) sets+=("$2"); shift 2 ;;
      *) die "canary: unknown option $1" ;;
    esac
  done
  [ -f "$DIR/inst/canary/pid" ] && cmd_canary_stop "$DIR"
  mkdir -p "$DIR/inst/canary"
  rm -rf "$DIR/inst/canary/data"
  printf '%s\n' "${sets[@]+"${sets[@]}"}" > "$DIR/inst/canary/sets"
  local port; port=$(free_ports 1)
  start_instance canary "$port" "$bin"
  write_targets   # Prometheus finds it while it loads
  wait_instance_ready canary || die "the canary did not become ready"
  log "canary: ready on port $port"
  # the canary slot takes the new instance's address; weight 0 until the rollout moves it
  hap "set weight $BACKEND/canary 0; set server $BACKEND/canary addr 127.0.0.1 port $port; set server $BACKEND/canary state ready" >/dev/null
  wait_for 20 "HAProxy to see the canary UP" server_up canary || die "the canary slot is not UP"
  log "canary: UP in HAProxy"
  write_targets
  write_env
  wait_for 20 "Prometheus to scrape the canary" prom_equals "count(up{job=\"omega\",server=\"canary\"} == 1)" 1 ||
    die "Prometheus does not scrape the canary"
  log "canary: $bin on port $port in slot $BACKEND/canary, weight 0 (sets: ${sets[*]:-none})"
}

cmd_canary_stop() {
  [ $# -ge 1 ] || { usage; exit 2; }
  load_state "$1"
  local i cmds=""
  # the stable servers first, so the backend is never without a server
  for i in $(seq 1 "$N"); do cmds+="set weight $BACKEND/s$i 100; set server $BACKEND/s$i state ready; "; done
  hap "${cmds%; }" >/dev/null
  if [ -f "$DIR/inst/canary/pid" ]; then
    hap "set server $BACKEND/canary state drain" >/dev/null
    wait_for 30 "the canary to have no sessions" no_sessions canary || true
  fi
  hap "set weight $BACKEND/canary 0; set server $BACKEND/canary state maint" >/dev/null
  stop_pid "$DIR/inst/canary/pid" 20 || true
  write_targets
  write_env
  log "canary-stop: canary retired; s1..s$N ready at weight 100"
}

[ $# -ge 1 ] || { usage; exit 2; }
cmd=$1; shift
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  restart) cmd_restart "$@" ;;
  rolling-restart) cmd_rolling_restart "$@" ;;
  kill) cmd_kill "$@" ;;
  term) cmd_term "$@" ;;
  canary) cmd_canary "$@" ;;
  canary-stop) cmd_canary_stop "$@" ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
