#!/usr/bin/env bash
# Local PostgreSQL for Brobygger development and tests (Debian/Ubuntu, no Docker).
#
# Uses a dedicated cluster named "brobygger", managed with Debian's
# postgresql-common tooling (pg_createcluster / pg_ctlcluster), so it never
# touches the distribution's default "main" cluster.
#
# Usage: infra/postgres/postgres.sh <command>
#   start          install PostgreSQL if missing, create/configure/start the
#                  cluster, ensure one role + one database per service (and one for
#                  referrals' key store), print URLs
#   urls           print  <SVC>_DATABASE_URL=...  lines and REFERRALS_KEYSTORE_URL=...
#                  (eval/source-able);
#                  to export them:  set -a; eval "$(infra/postgres/postgres.sh urls)"; set +a
#   stop           stop the cluster
#   status         show cluster state (exit 0 if accepting connections, 3 if not)
#   reset-db <svc> drop and recreate one service's database (empty, for tests)
#
# Environment:
#   PG_PORT             TCP port (default 55432; 127.0.0.1 only)
#   PG_PASSWORD_PREFIX  password of role brobygger_<svc> is <prefix><svc> (default "dev-")
#   PG_DB_SUFFIX        database name suffix, e.g. "_test" -> brobygger_<svc>_test
#                       (same owner roles, same isolation). `start` always ensures
#                       the unsuffixed set too; urls/reset-db use the suffixed set.
#   PG_MAJOR            force a PostgreSQL major version (default: the existing
#                       brobygger cluster's version, else the newest installed)
#   PG_START_TIMEOUT    seconds to wait for pg_isready (default 30)
#
# SECURITY NOTE: the passwords ("dev-referrals", ...) are LOCAL DEVELOPMENT
# CREDENTIALS ONLY. The server listens on 127.0.0.1 exclusively. Never reuse
# these credentials, or this configuration, anywhere else.
#
# Isolation: each database has CONNECT revoked from PUBLIC and granted only to
# its own role, so e.g. brobygger_referrals cannot connect to brobygger_directory.
set -euo pipefail

readonly CLUSTER=brobygger
readonly SERVICES=(referrals directory grants notifications)
# Referrals' key store (citizens' data keys) lives apart from the referrals data, with its own
# role: a backup or a role of the referrals database alone decrypts nothing.
readonly DATABASES=("${SERVICES[@]}" referrals_keys)
readonly DEFAULT_PORT=55432
readonly PW_PREFIX="${PG_PASSWORD_PREFIX-dev-}"
readonly DB_SUFFIX="${PG_DB_SUFFIX-}"
readonly START_TIMEOUT="${PG_START_TIMEOUT:-30}"

log() { printf '[postgres.sh] %s\n' "$*" >&2; }
die() { printf '[postgres.sh] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  local code="${1:-2}" fd=2
  ((code == 0)) && fd=1
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&"$fd"
  exit "$code"
}

[[ "$DB_SUFFIX" =~ ^[a-z0-9_]*$ ]] || die "PG_DB_SUFFIX must match [a-z0-9_]* (got '$DB_SUFFIX')"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "PG_START_TIMEOUT must be an integer number of seconds"
if [[ -n "${PG_PORT:-}" ]]; then
  [[ "$PG_PORT" =~ ^[0-9]+$ ]] && ((PG_PORT >= 1024 && PG_PORT <= 65535)) \
    || die "PG_PORT must be a port number between 1024 and 65535 (got '$PG_PORT')"
fi

# ---------------------------------------------------------------- helpers ---

require_root() {
  ((EUID == 0)) && return 0
  command -v sudo >/dev/null 2>&1 || die "this command must run as root (or with sudo available)"
  log "re-running as root via sudo"
  exec sudo env PG_PORT="${PG_PORT:-}" PG_PASSWORD_PREFIX="$PW_PREFIX" PG_DB_SUFFIX="$DB_SUFFIX" \
    PG_MAJOR="${PG_MAJOR:-}" PG_START_TIMEOUT="$START_TIMEOUT" bash "$0" "$@"
}

have_postgres() {
  command -v pg_createcluster >/dev/null 2>&1 || return 1
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

install_postgres() {
  have_postgres && return 0
  log "PostgreSQL not found; installing Debian's 'postgresql' package (apt-get, non-interactive)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  have_postgres || die "installation of 'postgresql' did not provide pg_createcluster/initdb"
  log "PostgreSQL installed."
}

# "ver port status" of our cluster, empty if it does not exist.
cluster_line() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h 2>/dev/null | awk -v c="$CLUSTER" '$2 == c { print $1, $3, $4; exit }'
}

detect_version() {
  if [[ -n "${PG_MAJOR:-}" ]]; then echo "$PG_MAJOR"; return; fi
  local line; line=$(cluster_line)
  if [[ -n "$line" ]]; then echo "${line%% *}"; return; fi
  local v
  v=$(for d in /usr/lib/postgresql/*/bin/initdb; do [[ -x "$d" ]] && basename "$(dirname "$(dirname "$d")")"; done \
        | sort -n | tail -n1)
  [[ -n "$v" ]] || die "no PostgreSQL server installation found under /usr/lib/postgresql"
  echo "$v"
}

# Port to use: the existing cluster's configured port, else PG_PORT/default.
current_port() {
  local line; line=$(cluster_line)
  if [[ -n "$line" ]]; then
    local p; p=$(awk '{print $2}' <<<"$line")
    if [[ -n "${PG_PORT:-}" && "$PG_PORT" != "$p" ]]; then
      log "note: cluster '$CLUSTER' is configured for port $p (PG_PORT=$PG_PORT is applied on 'start')"
    fi
    echo "$p"
  else
    echo "${PG_PORT:-$DEFAULT_PORT}"
  fi
}

is_running() { [[ "$(cluster_line | awk '{print $3}')" == online ]]; }

# psql as the postgres superuser over the Unix socket (peer auth).
psql_super() {
  local port="$1"; shift
  (cd / && env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGUSER -u PGDATABASE -u PGPASSWORD \
      -u PGPASSFILE -u PGSERVICE -u PGOPTIONS \
      runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

# Percent-encode everything except RFC 3986 unreserved characters.
urlencode() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# Seconds (1 decimal) since $1, a ${EPOCHREALTIME} value.
elapsed() {
  local now=${EPOCHREALTIME/,/.}
  awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

valid_service() {
  local s
  for s in "${DATABASES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}

print_urls() {
  local port="$1" svc
  for svc in "${SERVICES[@]}"; do
    printf '%s_DATABASE_URL=postgresql+psycopg://brobygger_%s:%s@127.0.0.1:%s/brobygger_%s%s\n' \
      "${svc^^}" "$svc" "$(urlencode "${PW_PREFIX}${svc}")" "$port" "$svc" "$DB_SUFFIX"
  done
  svc=referrals_keys
  printf 'REFERRALS_KEYSTORE_URL=postgresql+psycopg://brobygger_%s:%s@127.0.0.1:%s/brobygger_%s%s\n' \
    "$svc" "$(urlencode "${PW_PREFIX}${svc}")" "$port" "$svc" "$DB_SUFFIX"
}

# ---------------------------------------------------------- configuration ---

# Install $2 (a temp file) at $1 if content differs; return 0 if it changed.
install_if_changed() {
  local dest="$1" tmp="$2" mode="$3"
  if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; return 1; fi
  install -o postgres -g postgres -m "$mode" "$tmp" "$dest"
  rm -f "$tmp"
  return 0
}

# Writes conf.d settings + pg_hba.conf. Prints "restart"/"reload"/"" on stdout.
write_config() {
  local ver="$1" confdir="/etc/postgresql/$1/$CLUSTER" tmp action=""
  mkdir -p "$confdir/conf.d"

  tmp=$(mktemp)
  cat >"$tmp" <<'EOF'
# Managed by infra/postgres/postgres.sh -- local Brobygger dev cluster. Edits are overwritten.
# Sized for a 2-core developer machine / CI runner.

listen_addresses = '127.0.0.1'        # loopback only
max_connections = 100
password_encryption = 'scram-sha-256'

# Memory
shared_buffers = 256MB
effective_cache_size = 1GB
work_mem = 8MB
maintenance_work_mem = 64MB

# Parallelism: 2 cores
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
max_parallel_maintenance_workers = 1

# Durability: kept at safe defaults ON purpose (crash-safety tests rely on it).
fsync = on
synchronous_commit = on
full_page_writes = on

# WAL / checkpoints
wal_buffers = 16MB
min_wal_size = 80MB
max_wal_size = 1GB
checkpoint_completion_target = 0.9

# Planner (local SSD)
random_page_cost = 1.1
effective_io_concurrency = 100
jit = off                              # JIT mostly adds latency to small dev queries

# Logging
log_timezone = 'UTC'
timezone = 'UTC'
log_min_duration_statement = 1000      # log statements slower than 1s
log_lock_waits = on
log_temp_files = 0
EOF
  if install_if_changed "$confdir/conf.d/50-brobygger.conf" "$tmp" 0644; then action=restart; fi

  tmp=$(mktemp)
  cat >"$tmp" <<'EOF'
# Managed by infra/postgres/postgres.sh -- local Brobygger dev cluster. Edits are overwritten.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer
host    all       all       127.0.0.1/32   scram-sha-256
EOF
  if install_if_changed "$confdir/pg_hba.conf" "$tmp" 0640; then : "${action:=reload}"; fi

  if [[ -n "${PG_PORT:-}" ]]; then
    local cur; cur=$(pg_conftool -s "$ver" "$CLUSTER" show port 2>/dev/null || true)
    if [[ "$cur" != "$PG_PORT" ]]; then
      log "changing port of cluster '$CLUSTER' from ${cur:-?} to $PG_PORT"
      pg_conftool "$ver" "$CLUSTER" set port "$PG_PORT" >&2
      action=restart
    fi
  fi
  echo "$action"
}

ensure_cluster() {
  local ver="$1"
  [[ -n "$(cluster_line)" ]] && return 0
  local port="${PG_PORT:-$DEFAULT_PORT}"
  log "creating PostgreSQL $ver cluster '$CLUSTER' on port $port..."
  # --start-conf manual: not started at boot; this script starts it explicitly.
  pg_createcluster --locale C.UTF-8 --encoding UTF8 --start-conf manual -p "$port" \
    "$ver" "$CLUSTER" >/dev/null
}

log_tail() {
  local f="/var/log/postgresql/postgresql-$1-$CLUSTER.log"
  if [[ -r "$f" ]]; then
    printf -- '----- last 30 lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2
    printf -- '-----\n' >&2
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_failed() {
  log "pg_ctlcluster could not start cluster '$CLUSTER' on 127.0.0.1:$2 (port taken? see log below)."
  log_tail "$1"
  exit 1
}

wait_ready() {
  local ver="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT))
  until pg_isready -q -h 127.0.0.1 -p "$port" -t 1; do
    if ((SECONDS >= deadline)); then
      log "PostgreSQL did not accept connections on 127.0.0.1:$port within ${START_TIMEOUT}s."
      log "Check: is the port already in use (ss -ltnp | grep $port)? Enough disk/shared memory?"
      log "Raise PG_START_TIMEOUT or inspect the log:"
      log_tail "$ver"
      exit 1
    fi
    sleep 0.2
  done
}

# Idempotently ensure role brobygger_<svc> and database brobygger_<svc><suffix>.
ensure_db() {
  local port="$1" svc="$2" suffix="$3"
  psql_super "$port" -v role="brobygger_${svc}" -v pw="${PW_PREFIX}${svc}" \
    -v db="brobygger_${svc}${suffix}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";
SQL
}

ensure_all_dbs() {
  local port="$1" svc
  # Service roles have no business in the maintenance databases either.
  psql_super "$port" -c 'REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC;'
  for svc in "${DATABASES[@]}"; do
    ensure_db "$port" "$svc" ""
    [[ -n "$DB_SUFFIX" ]] && ensure_db "$port" "$svc" "$DB_SUFFIX"
  done
  return 0
}

# --------------------------------------------------------------- commands ---

cmd_start() {
  require_root start
  local t0=${EPOCHREALTIME/,/.} ver action port
  install_postgres
  ver=$(detect_version)
  ensure_cluster "$ver"
  action=$(write_config "$ver")
  port=$(current_port)

  if is_running; then
    case "$action" in
      restart)
        log "configuration changed; restarting cluster"
        pg_ctlcluster "$ver" "$CLUSTER" restart || start_failed "$ver" "$port" ;;
      reload) log "pg_hba changed; reloading"; pg_ctlcluster "$ver" "$CLUSTER" reload ;;
      *) log "cluster $ver/$CLUSTER already running on 127.0.0.1:$port" ;;
    esac
  else
    if port_in_use "$port"; then
      die "127.0.0.1:$port is already in use by another process (see: ss -ltnp | grep :$port); choose another port with PG_PORT=<port> $0 start"
    fi
    log "starting cluster $ver/$CLUSTER on 127.0.0.1:$port..."
    pg_ctlcluster "$ver" "$CLUSTER" start || start_failed "$ver" "$port"
  fi
  wait_ready "$ver" "$port"
  ensure_all_dbs "$port"
  log "ready in $(elapsed "$t0")s (PostgreSQL $ver, cluster '$CLUSTER', 127.0.0.1:$port)."
  log "local dev credentials only:"
  print_urls "$port"
}

cmd_urls() {
  print_urls "$(current_port)"
}

cmd_stop() {
  require_root stop
  if [[ -z "$(cluster_line)" ]]; then log "cluster '$CLUSTER' does not exist; nothing to stop"; return 0; fi
  local ver; ver=$(detect_version)
  if is_running; then
    log "stopping cluster $ver/$CLUSTER..."
    pg_ctlcluster "$ver" "$CLUSTER" stop
    log "stopped."
  else
    log "cluster $ver/$CLUSTER is not running."
  fi
}

cmd_status() {
  local line; line=$(cluster_line)
  if [[ -z "$line" ]]; then echo "cluster '$CLUSTER': not created (run: $0 start)"; return 3; fi
  pg_lsclusters | awk -v c="$CLUSTER" 'NR == 1 || $2 == c'
  local port; port=$(awk '{print $2}' <<<"$line")
  if pg_isready -h 127.0.0.1 -p "$port" -t 2; then return 0; else return 3; fi
}

cmd_reset_db() {
  local svc="${1:-}"
  [[ -n "$svc" ]] || die "usage: $0 reset-db <$(IFS='|'; echo "${DATABASES[*]}")>"
  valid_service "$svc" || die "unknown service '$svc' (known: ${DATABASES[*]})"
  require_root reset-db "$svc"
  is_running || die "cluster '$CLUSTER' is not running (run: $0 start)"
  local port db="brobygger_${svc}${DB_SUFFIX}"
  port=$(current_port)
  log "dropping and recreating database $db..."
  psql_super "$port" -v db="$db" <<'SQL'
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
SQL
  ensure_db "$port" "$svc" "$DB_SUFFIX"
  log "database $db recreated (empty)."
}

case "${1:-}" in
  start) cmd_start ;;
  urls) cmd_urls ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset-db) shift; cmd_reset_db "$@" ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 ;;
esac
