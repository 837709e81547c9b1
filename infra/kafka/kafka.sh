#!/usr/bin/env bash
# Local Apache Kafka for Brobygger development and tests (no Docker).
#
# A single-node KRaft broker (broker and controller in one JVM) run straight from the jars
# that Maven copies from the central repository (infra/kafka/pom.xml pins the version).
# Prerequisites: Java 17+ and Maven 3.8+; a Python with aiokafka and confluent-kafka for
# readiness checks, topics, credentials and ACLs (infra/kafka/admin.py).
#
# The broker trusts no one. Clients (and the broker itself, inter-broker) log in with
# SASL/SCRAM-SHA-512 on the client port; the controller port takes SASL/PLAIN from the one
# user `controller` only. StandardAuthorizer with allow.everyone.if.no.acl.found=false: the
# super users are `admin` and `controller`; each service's principal gets what
# infra/acls.toml grants it. The SCRAM credentials of `admin` and of every principal in
# infra/acls.toml are bootstrapped when the storage is formatted; `start` then sets the
# services' credentials again (a changed password takes effect) and applies the ACLs.
#
# Usage: infra/kafka/kafka.sh <command>
#   fetch    copy the broker jars into <cache>/kafka/libs with Maven (once; again only when
#            pom.xml changes)
#   start    fetch if needed, write server-<port>.properties, format storage on first use,
#            start the broker in the background, wait until it answers an admin request,
#            create the topics from infra/topics.toml, set the services' credentials and
#            apply the ACLs from infra/acls.toml; prints KAFKA_BOOTSTRAP_SERVERS=...
#            Exits 0 at once if a broker started by this script already answers on the port.
#   stop     SIGTERM, wait up to KAFKA_STOP_TIMEOUT seconds, then SIGKILL
#   status   say whether the broker on KAFKA_PORT runs and answers (exit 0 if so, 3 if not)
#   topics   create the missing topics from infra/topics.toml (existing ones are left alone)
#   security set the services' credentials and apply infra/acls.toml (as `start` does)
#   reset    stop the broker and delete its data directory (all topics and offsets)
#
# Environment:
#   KAFKA_ADMIN_PASSWORD       the super user `admin`: the broker's own inter-broker login,
#                              and topic, credential and ACL administration (required by
#                              start, status, topics, security)
#   KAFKA_CONTROLLER_PASSWORD  the controller listener's one user `controller` (start)
#   <SERVICE>_KAFKA_PASSWORD   each principal of infra/acls.toml, e.g.
#                              REFERRALS_KAFKA_PASSWORD (start, security)
#                          Passwords: 16 or more of A-Z a-z 0-9 . _ ~ - (they are written
#                          into the broker's JAAS settings and the format command's
#                          arguments); ./run makes them in .cache/local.env.
#   KAFKA_PORT             client (SASL_PLAINTEXT) port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1 (default 9093)
#   BROBYGGER_CACHE        cache root (default <repo>/.cache); everything lives in
#                          <cache>/kafka: libs/, data-<port>/, server-<port>.properties
#                          (mode 600: it holds the admin and controller passwords),
#                          format-<port>.out (mode 600: the format command's output, with
#                          salted password hashes), kafka-<port>.pid, kafka-<port>.log
#                          (broker log), kafka-<port>.out (JVM stdout/stderr)
#   PYTHON                 Python with aiokafka and confluent-kafka (default python3), e.g.
#                          .venv/bin/python
#   KAFKA_HEAP_OPTS        default "-Xmx768m -Xms256m"
#   KAFKA_JVM_OPTS         extra JVM options, appended after the defaults (which run the
#                          client JIT only: -XX:TieredStopAtLevel=4 brings back C2)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 20)
#   KAFKA_TOPICS_FILE      topic list (default infra/topics.toml)
#   KAFKA_CREATE_TOPICS    0 = `start` creates no topics (default 1)
#   KAFKA_ACLS_FILE        principals and their ACLs (default infra/acls.toml)
#
# Several brokers can run side by side on different ports (e.g. tests on
# KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093); each has its own data directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
readonly HERE REPO
readonly POM="$HERE/pom.xml"
readonly LOG4J_CONFIG="$HERE/log4j2.properties"
readonly ADMIN="$HERE/admin.py"
# shellcheck source=infra/kafka/security.sh
. "$HERE/security.sh"

readonly PORT="${KAFKA_PORT:-9092}"
readonly CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
readonly CACHE="${BROBYGGER_CACHE:-$REPO/.cache}"
readonly KDIR="$CACHE/kafka"
readonly LIBS="$KDIR/libs"
readonly MARKER="$LIBS/.fetched"
readonly DATA="$KDIR/data-$PORT"
readonly PROPS="$KDIR/server-$PORT.properties"
readonly PIDFILE="$KDIR/kafka-$PORT.pid"
readonly LOGFILE="$KDIR/kafka-$PORT.log"
readonly OUTFILE="$KDIR/kafka-$PORT.out"
readonly PYTHON="${PYTHON:-python3}"
readonly HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx768m -Xms256m}"
readonly START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
readonly TOPICS_FILE="${KAFKA_TOPICS_FILE:-$REPO/infra/topics.toml}"
readonly ACLS_FILE="${KAFKA_ACLS_FILE:-$REPO/infra/acls.toml}"
readonly FORMAT_OUT="$KDIR/format-$PORT.out"
# In the data directory, so that `reset` takes it along: the storage was formatted with
# the SCRAM credentials (a directory from before authentication has none).
readonly SECURED_MARKER="$DATA/.brobygger-scram-bootstrapped"
readonly BOOTSTRAP="127.0.0.1:$PORT"

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  local code="${1:-2}" fd=2
  ((code == 0)) && fd=1
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&"$fd"
  exit "$code"
}

for _p in "$PORT" "$CPORT"; do
  if ! [[ "$_p" =~ ^[0-9]+$ ]] || ((_p < 1024 || _p > 65535)); then
    die "KAFKA_PORT / KAFKA_CONTROLLER_PORT must be port numbers 1024-65535 (got '$_p')"
  fi
done
[[ "$PORT" != "$CPORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ (both $PORT)"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be whole seconds"
[[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be whole seconds"

# ---------------------------------------------------------------- helpers ---

# Seconds (1 decimal) since $1, an ${EPOCHREALTIME} value.
elapsed() {
  local now=${EPOCHREALTIME/,/.}
  awk -v a="${1/,/.}" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid of the broker this script started for $PORT, or nothing. Trusts the pid file only if
# that process really is our broker (pids get reused); falls back to looking for a broker
# started with this port's properties file (pid file lost).
broker_pid() {
  local pid=""
  if [[ -f "$PIDFILE" ]]; then
    pid=$(<"$PIDFILE")
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS"; then
      echo "$pid"
      return 0
    fi
    rm -f "$PIDFILE"
  fi
  local props_re
  props_re=$(printf '%s' "$PROPS" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  pid=$(pgrep -f "^java .* kafka\.Kafka $props_re\$" 2>/dev/null | head -n1 || true)
  if [[ -n "$pid" ]]; then
    echo "$pid" >"$PIDFILE"
    echo "$pid"
  fi
}

require_java() {
  command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  if [[ -z "$v" ]] || ((v < 17)); then
    die "Kafka 4 needs Java 17 or newer (found: ${v:-unknown}; java -version)"
  fi
}

require_python() {
  "$PYTHON" -c 'import aiokafka, confluent_kafka' 2>/dev/null \
    || die "'$PYTHON' cannot import aiokafka and confluent_kafka (needed for readiness checks, topics and ACLs); set PYTHON=<venv>/bin/python, e.g. PYTHON=.venv/bin/python $0 ${CMD:-start}"
}

# Fail naming the variable when a secret is missing or unusable; never print its value.
require_secret() {
  local problem
  problem=$(kafka_secret_problem "$1")
  [[ -z "$problem" ]] || die "$problem"
}

require_all_secrets() {
  [[ -f "$ACLS_FILE" ]] || die "ACL list $ACLS_FILE not found (KAFKA_ACLS_FILE)"
  local problem
  problem=$(kafka_secrets_problem "$ACLS_FILE")
  [[ -z "$problem" ]] || die "$problem"
}

admin() { "$PYTHON" "$ADMIN" "$@"; }

# True while $1 runs (a zombie, an exited child not yet reaped, counts as gone).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z ]]
}

# SIGTERM (graceful: the broker flushes and closes its logs), SIGKILL after $2 seconds.
terminate() {
  local pid="$1" deadline=$((SECONDS + $2))
  kill -TERM "$pid" 2>/dev/null || return 0
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still running after $2 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while alive "$pid"; do sleep 0.1; done
      return 0
    fi
    sleep 0.2
  done
}

# Last lines of the broker log (only what this run wrote, if $1 = log size before the start)
# and of the JVM's own output.
print_log_tail() {
  local from="${1:-0}"
  ((from >= 0)) || from=0
  if [[ -s "$LOGFILE" ]] && (($(stat -c %s "$LOGFILE") > from)); then
    printf -- '----- last 30 lines of %s -----\n' "$LOGFILE" >&2
    tail -c +"$((from + 1))" "$LOGFILE" | tail -n 30 >&2
  fi
  if [[ -s "$OUTFILE" ]]; then
    printf -- '----- last 30 lines of %s -----\n' "$OUTFILE" >&2
    tail -n 30 "$OUTFILE" >&2
  fi
  printf -- '-----\n' >&2
}

# 22-character url-safe base64 of 16 random bytes, as Kafka's Uuid prints it (never
# starting with '-', which command lines would take for an option).
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ ${#id} -eq 22 && "$id" != -* ]] && break
  done
  echo "$id"
}

java_cmd() {
  # shellcheck disable=SC2206 # word splitting of the option strings is intended
  local heap=($HEAP_OPTS) extra=(${KAFKA_JVM_OPTS:-})
  JAVA_CMD=(
    java "${heap[@]}"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    # The client JIT only: these brokers live minutes (a test session, a benchmark), and C2
    # took 5 to 7 s of CPU in the first two minutes, on 2 cores shared with the services
    # under test (6 to 12 of the broker's 16 to 25 ms per referral at 20/s; see
    # docs/benchmarks.md). C2's code would be faster once compiled: KAFKA_JVM_OPTS,
    # appended after this, turns it back on (-XX:TieredStopAtLevel=4) for a long-lived one.
    -XX:TieredStopAtLevel=1
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$LOG4J_CONFIG"
    -Dbrobygger.kafka.logfile="$LOGFILE"
    -Dkafka.logs.dir="$KDIR"
    "${extra[@]}"
    -cp "$LIBS/*"
  )
}

# --------------------------------------------------------------- commands ---

fetched() { [[ -f "$MARKER" && "$(<"$MARKER")" == "$(sha256sum "$POM" | cut -d' ' -f1)" ]]; }

cmd_fetch() {
  fetched && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven 3.8+ (Debian: apt-get install maven)"
  mkdir -p "$KDIR"
  # One fetch at a time (two brokers started at once); the subshell keeps the lock's file
  # descriptor away from the broker started afterwards.
  (
    exec 9>"$KDIR/.fetch.lock"
    flock 9
    fetched && exit 0
    local t0=$EPOCHREALTIME tmp="$KDIR/libs.tmp.$$" stamp
    stamp=$(sha256sum "$POM" | cut -d' ' -f1)
    log "fetching broker jars with Maven (first run only, ~1 min)…"
    rm -rf "$tmp"
    if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" >"$KDIR/fetch.log" 2>&1; then
      tail -n 40 "$KDIR/fetch.log" >&2
      rm -rf "$tmp"
      die "Maven could not fetch the Kafka jars (full output: $KDIR/fetch.log). Is the Maven repository reachable (proxy settings in ~/.m2/settings.xml)?"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven ran but no kafka_2.13 jar arrived in $tmp"
    echo "$stamp" >"$tmp/.fetched"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "fetched Kafka $(kafka_version): $(find "$LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in $(elapsed "$t0") s"
  )
}

write_properties() {
  mkdir -p "$KDIR"
  local tmp="$PROPS.tmp.$$"
  # Mode 600 before anything is written: it holds the admin and controller passwords.
  (umask 077 && : >"$tmp")
  cat >"$tmp" <<EOF
# Written by infra/kafka/kafka.sh at every start; edits are overwritten.
# Single-node KRaft broker for local development and tests, sized for a 2-core machine.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
log.dirs=$DATA
$(kafka_security_properties "127.0.0.1:$PORT" "127.0.0.1:$PORT" "127.0.0.1:$CPORT")

# Topics are declared in infra/topics.toml, never created by a stray producer or consumer.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Internal topics: one replica, one partition (50 by default: slow first use on a test broker).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1

# Consumer groups join at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# Small machine: few threads, small log-cleaner buffer (128 MiB by default, allocated at start).
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
group.coordinator.threads=1
share.coordinator.threads=1
EOF
  mv "$tmp" "$PROPS"
}

format_storage() {
  if [[ -f "$DATA/meta.properties" ]]; then
    [[ -f "$SECURED_MARKER" ]] && return 0
    die "$DATA was formatted before the broker required logins, so it holds no SCRAM credentials and no client could log in. 'KAFKA_PORT=$PORT $0 reset' deletes it (all topics and offsets; the services' databases keep their state) and the next start formats it anew"
  fi
  local id
  id=$(new_cluster_id)
  log "formatting storage $DATA (cluster id $id) with the SCRAM credentials of admin and $(kafka_principals "$ACLS_FILE" | paste -sd, -)…"
  kafka_scram_arguments "$ACLS_FILE"
  # The tool prints salted keys: its output goes to a private file, never to a log.
  (umask 077 && : >"$FORMAT_OUT")
  java_cmd
  local cmd=("${JAVA_CMD[@]/#-Xmx*/-Xmx256m}")  # a short-lived tool: small heap
  cmd=("${cmd[@]/#-Xms*/-Xms32m}")
  if ! "${cmd[@]}" kafka.tools.StorageTool format --standalone \
    -t "$id" -c "$PROPS" "${KAFKA_SCRAM_ARGS[@]}" >>"$FORMAT_OUT" 2>&1; then
    # Its lines, less any that may carry a credential.
    grep -viE 'scram|salt|password|jaas' "$FORMAT_OUT" | tail -n 30 >&2 || true
    die "formatting $DATA failed (see above; the whole output, private: $FORMAT_OUT); 'KAFKA_PORT=$PORT $0 reset' starts from an empty directory"
  fi
  : >"$SECURED_MARKER"
}

create_topics() {
  [[ -f "$TOPICS_FILE" ]] || die "topic list $TOPICS_FILE not found (KAFKA_TOPICS_FILE)"
  admin create-topics --bootstrap "$BOOTSTRAP" --file "$TOPICS_FILE" | sed 's/^/kafka: /' >&2
}

apply_security() {
  [[ -f "$ACLS_FILE" ]] || die "ACL list $ACLS_FILE not found (KAFKA_ACLS_FILE)"
  admin apply-security --bootstrap "$BOOTSTRAP" --file "$ACLS_FILE" | sed 's/^/kafka: /' >&2
}

cmd_start() {
  local t0=$EPOCHREALTIME pid
  require_python
  require_all_secrets
  pid=$(broker_pid)
  if [[ -n "$pid" ]]; then
    if admin wait-ready --bootstrap "$BOOTSTRAP" --timeout "$START_TIMEOUT" --pid "$pid" >/dev/null; then
      log "already running on $BOOTSTRAP (pid $pid)"
      echo "KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
      return 0
    fi
    print_log_tail "$(($(stat -c %s "$LOGFILE" 2>/dev/null || echo 0) - 4000))"
    die "broker pid $pid runs but does not answer on $BOOTSTRAP; try: KAFKA_PORT=$PORT $0 stop && KAFKA_PORT=$PORT $0 start"
  fi
  local p
  for p in "$PORT" "$CPORT"; do
    if port_in_use "$p"; then
      die "127.0.0.1:$p is already in use by another process (ss -ltnp | grep :$p); stop it, or pick two free ports: KAFKA_PORT=<port> KAFKA_CONTROLLER_PORT=<port> $0 start"
    fi
  done
  require_java
  cmd_fetch
  write_properties
  format_storage

  log "starting Kafka $(kafka_version) on $BOOTSTRAP (controller :$CPORT, data $DATA)…"
  : >"$OUTFILE"
  local log_from=0
  [[ -f "$LOGFILE" ]] && log_from=$(stat -c %s "$LOGFILE")
  java_cmd
  # setsid: the broker leaves this shell's process group, so ^C here or a test runner killing
  # its children does not take it down half-way; stop it with `kafka.sh stop`.
  setsid nohup "${JAVA_CMD[@]}" kafka.Kafka "$PROPS" >>"$OUTFILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"

  log "waiting for the broker to answer an admin request (up to ${START_TIMEOUT} s)…"
  local ready rc=0
  ready=$(admin wait-ready --bootstrap "$BOOTSTRAP" --timeout "$START_TIMEOUT" --pid "$pid") || rc=$?
  if ((rc != 0)); then
    print_log_tail "$log_from"
    local what="did not answer on $BOOTSTRAP within ${START_TIMEOUT} s"
    if alive "$pid"; then
      log "stopping the broker that did not become ready (pid $pid)"
      terminate "$pid" 10
    else
      what="exited during start-up"
    fi
    rm -f "$PIDFILE"
    die "Kafka $what (see above; full log: $LOGFILE). Hints: ports taken? too little memory or a bad KAFKA_HEAP_OPTS/KAFKA_JVM_OPTS? a damaged data dir ('KAFKA_PORT=$PORT $0 reset' empties it)? a slow machine (KAFKA_START_TIMEOUT=120)? a KAFKA_ADMIN_PASSWORD other than the one $DATA was formatted with (SaslAuthenticationFailed above; reset formats anew)?"
  fi
  log "$ready"
  if [[ "${KAFKA_CREATE_TOPICS:-1}" != 0 ]]; then create_topics; fi
  apply_security
  log "started in $(elapsed "$t0") s (pid $pid, log $LOGFILE)"
  echo "KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
}

cmd_stop() {
  local pid
  pid=$(broker_pid)
  if [[ -z "$pid" ]]; then
    log "no broker running on $BOOTSTRAP"
    rm -f "$PIDFILE"
    return 0
  fi
  local t0=$EPOCHREALTIME
  log "stopping broker on $BOOTSTRAP (pid $pid)…"
  terminate "$pid" "$STOP_TIMEOUT"
  rm -f "$PIDFILE"
  log "stopped in $(elapsed "$t0") s"
}

cmd_status() {
  local pid
  pid=$(broker_pid)
  if [[ -z "$pid" ]]; then
    echo "kafka: not running on $BOOTSTRAP"
    return 3
  fi
  require_python
  require_secret KAFKA_ADMIN_PASSWORD
  if admin wait-ready --bootstrap "$BOOTSTRAP" --timeout 5 --pid "$pid" >/dev/null 2>&1; then
    echo "kafka: running on $BOOTSTRAP (pid $pid, Kafka $(kafka_version), data $DATA)"
    return 0
  fi
  echo "kafka: process $pid runs but $BOOTSTRAP does not answer (starting, or stuck: see $LOGFILE)"
  return 3
}

require_broker() {
  [[ -n "$(broker_pid)" ]] || port_in_use "$PORT" \
    || die "no broker on $BOOTSTRAP (start one: KAFKA_PORT=$PORT $0 start)"
}

cmd_topics() {
  require_python
  require_secret KAFKA_ADMIN_PASSWORD
  require_broker
  create_topics
}

cmd_security() {
  require_python
  require_all_secrets
  require_broker
  apply_security
}

cmd_reset() {
  cmd_stop
  if [[ -d "$DATA" ]]; then
    rm -rf "$DATA"
    log "deleted $DATA"
  else
    log "no data directory $DATA"
  fi
}

CMD="${1:-}"
case "$CMD" in
  fetch) require_java; cmd_fetch; log "broker jars in $LIBS" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topics) cmd_topics ;;
  security) cmd_security ;;
  reset) cmd_reset ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
