#!/usr/bin/env bash
# A Varnish edge on loopback in front of one backend, with the project's VCL
# (config/varnish/localex.vcl). Used by the CDN tests and the hit-ratio bench; handy by hand too.
#
#   scripts/varnish.sh start <workdir> <listen-port> <backend-host:port>   # prints the varnishd pid
#   scripts/varnish.sh stop  <workdir>
#
# <workdir> holds the generated VCL, varnishd's working directory and its pid file; stop removes
# it. Needs varnishd (Debian: apt-get install varnish). Listens on 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
work=${2:-}
usage="usage: $0 start <workdir> <port> <backend-host:port> | stop <workdir>"
[[ -n $cmd && -n $work ]] || { echo "$usage" >&2; exit 2; }

case $cmd in
  start)
    port=${3:?listen port}
    backend=${4:?backend host:port}
    varnishd=$(command -v varnishd || echo /usr/sbin/varnishd)
    [[ -x $varnishd ]] || { echo "varnishd not found (apt-get install varnish)" >&2; exit 3; }
    mkdir -p "$work"
    work=$(cd "$work" && pwd)
    # varnishd drops root privileges (to the varnish user) before it reads the VCL.
    chmod 755 "$work"
    cat >"$work/main.vcl" <<VCL
vcl 4.1;
backend default {
  .host = "${backend%:*}";
  .port = "${backend##*:}";
  .connect_timeout = 2s;
  .first_byte_timeout = 30s;
}
include "$here/config/varnish/localex.vcl";
VCL
    # -n: a private instance directory; -p ban_lurker_sleep: prefix bans take effect quickly.
    "$varnishd" -a "127.0.0.1:$port" -f "$work/main.vcl" -n "$work/instance" -P "$work/varnishd.pid" \
      -s malloc,64m -p ban_lurker_sleep=0.1 -p default_grace=0 -T none >"$work/varnishd.log" 2>&1 \
      || { cat "$work/varnishd.log" >&2; exit 1; }
    for _ in $(seq 1 100); do
      if [[ -s $work/varnishd.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        cat "$work/varnishd.pid"
        exit 0
      fi
      sleep 0.05
    done
    echo "varnishd did not start listening on $port" >&2
    cat "$work/varnishd.log" >&2
    exit 1
    ;;
  stop)
    [[ -d $work ]] || exit 0
    if [[ -s $work/varnishd.pid ]]; then
      pid=$(cat "$work/varnishd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    ;;
  *)
    echo "unknown command: $cmd" >&2
    exit 2
    ;;
esac
