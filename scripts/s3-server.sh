#!/usr/bin/env bash
# A real S3 server on loopback for the tests: Ceph's RADOS Gateway on a throwaway single-node
# cluster (one monitor, one OSD on memstore, radosgw), without Docker or systemd.
#
#   scripts/s3-server.sh start    # idempotent; prints how long it took
#   scripts/s3-server.sh stop     # stops the daemons by their PIDs and deletes the directory
#   scripts/s3-server.sh status   # exit 0 when radosgw answers, 1 otherwise
#   scripts/s3-server.sh env      # KEY=value lines: export $(scripts/s3-server.sh env)
#
# Why radosgw and not an S3 emulator: it verifies SigV4 signatures, enforces presigned POST
# policies, honours If-None-Match and implements the whole multipart API, so tests that pass here
# are not merely passing against a lenient fake.
#
# Settings (environment): LOCALEX_RGW_DIR (/tmp/localex-rgw), LOCALEX_RGW_PORT (7480),
# LOCALEX_RGW_MON_PORT (7490, msgr2) and LOCALEX_RGW_MON_V1_PORT (monitor port + 1),
# LOCALEX_RGW_ACCESS_KEY, LOCALEX_RGW_SECRET_KEY, LOCALEX_RGW_TIMEOUT (seconds per stage, 60),
# LOCALEX_RGW_MEMSTORE_BYTES (OSD capacity, held in RAM only as far as it is used; 2 GiB).
set -euo pipefail

DIR=$(realpath -m -- "${LOCALEX_RGW_DIR:-/tmp/localex-rgw}")
PORT=${LOCALEX_RGW_PORT:-7480}
MON_PORT=${LOCALEX_RGW_MON_PORT:-7490}
MON_V1_PORT=${LOCALEX_RGW_MON_V1_PORT:-$((MON_PORT + 1))}
ACCESS_KEY=${LOCALEX_RGW_ACCESS_KEY:-localex-test}
SECRET_KEY=${LOCALEX_RGW_SECRET_KEY:-localex-test-secret-0123456789abcdef}
TIMEOUT=${LOCALEX_RGW_TIMEOUT:-60}
MEMSTORE_BYTES=${LOCALEX_RGW_MEMSTORE_BYTES:-2147483648}
REGION=us-east-1
ENDPOINT=http://127.0.0.1:$PORT
RGW_NAME=client.rgw.localex
CONF=$DIR/ceph.conf
# The marker makes `stop` (and a restart) delete only a directory this script created.
MARKER=$DIR/.localex-rgw
# Outside $DIR, which `stop` deletes: concurrent test runs must serialise on something that stays.
LOCK=$DIR.lock
APT_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common curl)
RGW_POOLS=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log
  default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)

log() { printf 's3-server: %s\n' "$*"; }
err() { printf 's3-server: %s\n' "$*" >&2; }

# Prints the tail of a daemon log next to the error, since "did not come up" alone is useless.
die() {
  err "ERROR: $1"
  local f
  for f in "${@:2}"; do
    if [[ -s $f ]]; then
      err "--- last lines of $f ---"
      tail -n 25 -- "$f" >&2 || true
    fi
  done
  exit 1
}

now() { printf '%s' "${EPOCHREALTIME/[.,]/}"; }  # microseconds, no subprocess
since() { local t=$(( $(now) - $1 )); printf '%d.%02ds' $((t / 1000000)) $((t % 1000000 / 10000)); }

# `ceph` and `radosgw-admin` otherwise wait forever for a monitor that will never come.
cephc() { timeout "$TIMEOUT" ceph -c "$CONF" --connect-timeout "$TIMEOUT" "$@"; }

# An anonymous ListBuckets answered with radosgw's XML, so some other service on the port does
# not count as "running".
# (Captured, not piped into grep -q: with pipefail an early-exiting grep can fail the pipeline.)
rgw_answers() {
  local body
  body=$(curl -fsS --max-time 2 "$ENDPOINT/" 2>/dev/null) || return 1
  [[ $body == *ListAllMyBucketsResult* ]]
}

# A SigV4-signed ListBuckets: proves the configured key pair exists on the running server.
# curl 7.88 does not send x-amz-content-sha256 by itself, and radosgw then answers
# SignatureDoesNotMatch even for the right secret; this is the hash of the empty body.
credentials_work() {
  curl -fsS --max-time 5 -o /dev/null --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$ACCESS_KEY:$SECRET_KEY" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "$ENDPOINT/" 2>/dev/null
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() { local f=$DIR/run/$1.pid; [[ -s $f ]] && printf '%s' "$(<"$f")"; }

# Only a process started with this directory's ceph.conf counts, so a recycled PID (or another
# checkout's cluster) is never signalled.
ours() {
  local pid=$1
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ " $cmdline" == *" $CONF "* ]]
}

ensure_installed() {
  local cmd missing=()
  for cmd in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool curl; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    local install="apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}"
    die "missing ${missing[*]}; install them as root with: $install"
  fi
  log "installing ${APT_PACKAGES[*]} (missing: ${missing[*]})"
  local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${APT_PACKAGES[@]}")
  # A fresh machine has no package lists yet; only then is the slow update worth it.
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}"; then
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive "${apt[@]}"
  fi
  for cmd in "${missing[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is still missing after installing ${APT_PACKAGES[*]}"
  done
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
# Generated by scripts/s3-server.sh; deleted by \`scripts/s3-server.sh stop\`.
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_addr = 127.0.0.1
# Otherwise the OSD's cluster-side heartbeat sockets listen on 0.0.0.0.
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
# radosgw still checks S3 signatures; cephx between daemons on loopback only costs start-up time.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_delete = true
# Everything under one directory, so nothing touches /var/lib/ceph, /var/run/ceph or systemd.
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
mon_data = $DIR/mon/\$name
osd_data = $DIR/osd/\$name
keyring = $DIR/keyring
crash_dir = $DIR/crash
log_to_stderr = false
err_to_stderr = false

[mon]
# Commits map changes every 50 ms instead of 1 s: pool creation and OSD boot are much quicker.
paxos_propose_interval = 0.05

[osd]
# Data lives in RAM (allocated as written): tests need no durability and disks stay clean.
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES

[$RGW_NAME]
# Without this radosgw hangs at start ("get_initial_auth_request returned -13"): it insists on
# secure mode, which auth "none" cannot provide.
ms_mon_client_mode = crc
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $DIR/rgw
rgw_dns_name = localhost
EOF
}

# Waits until "$@" succeeds; fails early (with the log) if the daemon behind it has died.
wait_until() {
  local what=$1 daemon=$2 logf=$3
  shift 3
  local deadline=$((SECONDS + TIMEOUT)) pid
  until "$@" >/dev/null 2>&1; do
    if [[ -n $daemon ]]; then
      pid=$(pid_of "$daemon" || true)
      if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
        die "$what: $daemon (pid $pid) exited" "$logf"
      fi
    fi
    ((SECONDS < deadline)) || die "$what: not within ${TIMEOUT}s" "$logf"
    sleep 0.1
  done
}

osd_up() {
  local dump
  dump=$(cephc osd dump 2>/dev/null) || return 1
  grep -q "^osd\.$1 up" <<<"$dump"
}

# Redirecting stdio keeps a caller that reads our output through a pipe (Vitest's globalSetup)
# from waiting on a pipe a daemon still holds. Closing fd 9 matters as much: the daemons keep
# inherited descriptors, and one holding the lock would block every later start and stop.
daemon() {
  local out=$1
  shift
  "$@" </dev/null >>"$out" 2>&1 9>&-
}

stop_daemon() {
  local name=$1 pid
  pid=$(pid_of "$name" || true)
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while ours "$pid"; do
    if ((SECONDS >= deadline)); then
      err "$name (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 15))
    fi
    sleep 0.1
  done
}

stop_all() {
  local osd
  stop_daemon "$RGW_NAME"
  for osd in "$DIR"/run/osd.*.pid; do
    [[ -e $osd ]] && stop_daemon "$(basename "$osd" .pid)"
  done
  stop_daemon mon.a
}

remove_dir() {
  [[ -e $DIR ]] || return 0
  [[ -e $MARKER ]] || die "$DIR exists but was not created by this script; not deleting it"
  rm -rf -- "$DIR"
}

lock() {
  exec 9>"$LOCK"
  flock -w 180 9 || die "another s3-server.sh holds $LOCK for over 180s"
}

cmd_start() {
  local t0 t uuid id fsid p
  t0=$(now)
  ensure_installed
  lock
  if rgw_answers; then
    if credentials_work; then
      log "radosgw already answers on $ENDPOINT (access key $ACCESS_KEY works); nothing to do"
      return 0
    fi
    if [[ -e $MARKER ]] && ours "$(pid_of "$RGW_NAME" || true)"; then
      log "radosgw already answers on $ENDPOINT; creating the missing user $ACCESS_KEY"
      create_user
      return 0
    fi
    local msg="something answers like radosgw on $ENDPOINT but rejects access key $ACCESS_KEY,"
    die "$msg and it was not started from $DIR"
  fi

  # Leftovers of a crashed or half-started cluster would hold the ports and confuse the new one.
  if [[ -e $DIR ]]; then
    log "cleaning up a stale cluster in $DIR"
    stop_all
    remove_dir
  fi
  for p in "$PORT" "$MON_PORT" "$MON_V1_PORT"; do
    port_in_use "$p" &&
      die "port 127.0.0.1:$p is taken by another process (set LOCALEX_RGW_PORT / LOCALEX_RGW_MON_PORT)"
  done
  mkdir -p "$(dirname "$DIR")"
  # The monitor shuts itself down below 5 % free space (mon_data_avail_crit), which would look
  # like a random test hang much later.
  local avail
  avail=$(df --output=pcent "$(dirname "$DIR")" | tail -n1 | tr -dc 0-9)
  ((100 - avail >= 8)) || die "only $((100 - avail))% free on the file system of $DIR; the Ceph monitor stops below 5%"

  mkdir -p "$DIR"/{run,log,mon,osd,rgw,crash}
  : >"$MARKER"
  # A half-started cluster would hold the ports and RAM until someone notices; the logs stay
  # for the post-mortem (the next start deletes them).
  trap 'rc=$?; if ((rc != 0)); then stop_all; err "start failed; daemons stopped, logs kept in $DIR/log"; fi' EXIT
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"

  t=$(now)
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
    "$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 || die "monmaptool failed" "$DIR/log/monmaptool.out"
  daemon "$DIR/log/mon.a.out" ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" ||
    die "ceph-mon --mkfs failed" "$DIR/log/mon.a.out" "$DIR/log/mon.a.log"
  daemon "$DIR/log/mon.a.out" ceph-mon -c "$CONF" -i a ||
    die "ceph-mon failed to start" "$DIR/log/mon.a.out" "$DIR/log/mon.a.log"
  wait_until "monitor" mon.a "$DIR/log/mon.a.log" cephc mon stat
  log "monitor up on 127.0.0.1:$MON_PORT/$MON_V1_PORT ($(since "$t"))"

  t=$(now)
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(cephc osd new "$uuid" 2>>"$DIR/log/ceph-cli.out") ||
    die "ceph osd new failed" "$DIR/log/ceph-cli.out" "$DIR/log/mon.a.log"
  [[ $id =~ ^[0-9]+$ ]] || die "ceph osd new printed '$id' instead of an OSD id" "$DIR/log/ceph-cli.out"
  mkdir -p "$DIR/osd/osd.$id"
  daemon "$DIR/log/osd.$id.out" ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" ||
    die "ceph-osd --mkfs failed" "$DIR/log/osd.$id.out" "$DIR/log/osd.$id.log"
  daemon "$DIR/log/osd.$id.out" ceph-osd -c "$CONF" -i "$id" ||
    die "ceph-osd failed to start" "$DIR/log/osd.$id.out" "$DIR/log/osd.$id.log"
  # Without these pools radosgw creates them lazily and the first bucket and object calls each
  # stall 2-3 s. One `ceph` process for all of them: each invocation costs ~0.3 s of Python.
  for p in "${RGW_POOLS[@]}"; do
    printf 'osd pool create %s 8 8\nosd pool application enable %s rgw\n' "$p" "$p"
  done | cephc >>"$DIR/log/ceph-cli.out" 2>&1 || die "creating the radosgw pools failed" "$DIR/log/ceph-cli.out"
  local pools
  pools=$(cephc osd pool ls 2>>"$DIR/log/ceph-cli.out")
  for p in "${RGW_POOLS[@]}"; do
    grep -qxF -- "$p" <<<"$pools" || die "pool $p was not created" "$DIR/log/ceph-cli.out" "$DIR/log/mon.a.log"
  done
  wait_until "osd.$id" "osd.$id" "$DIR/log/osd.$id.log" osd_up "$id"
  log "osd.$id up on memstore, ${#RGW_POOLS[@]} pools created ($(since "$t"))"

  t=$(now)
  daemon "$DIR/log/$RGW_NAME.out" radosgw -c "$CONF" -n "$RGW_NAME" ||
    die "radosgw failed to start" "$DIR/log/$RGW_NAME.out" "$DIR/log/$RGW_NAME.log"
  wait_until "radosgw" "$RGW_NAME" "$DIR/log/$RGW_NAME.log" rgw_answers
  create_user
  log "radosgw up on $ENDPOINT ($(since "$t"))"
  trap - EXIT
  log "started in $(since "$t0"); data in $DIR (RAM only); stop with: $0 stop"
}

create_user() {
  timeout "$TIMEOUT" radosgw-admin -c "$CONF" user create --uid=localex-test --display-name="LocalEx tests" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$DIR/log/radosgw-admin.out" 2>&1 ||
    die "radosgw-admin user create failed" "$DIR/log/radosgw-admin.out"
  credentials_work || die "radosgw rejects the new access key $ACCESS_KEY" "$DIR/log/$RGW_NAME.log"
}

cmd_stop() {
  lock
  if [[ ! -e $DIR ]]; then
    log "no cluster in $DIR; nothing to stop"
    rgw_answers && err "note: something still answers on $ENDPOINT (started from another LOCALEX_RGW_DIR?)"
    return 0
  fi
  local t0
  t0=$(now)
  stop_all
  remove_dir
  log "stopped and removed $DIR ($(since "$t0"))"
}

cmd_status() {
  if rgw_answers; then
    log "radosgw answers on $ENDPOINT"
  else
    log "radosgw does not answer on $ENDPOINT"
    return 1
  fi
}

cmd_env() {
  cat <<EOF
S3_ENDPOINT=$ENDPOINT
S3_FORCE_PATH_STYLE=true
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED
AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED
EOF
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    err "usage: $0 start|stop|status|env"
    exit 2
    ;;
esac
