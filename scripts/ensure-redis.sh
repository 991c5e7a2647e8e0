#!/usr/bin/env bash
# Makes sure a Redis answers at REDIS_URL (default redis://127.0.0.1:6379): installs Debian's
# redis-server when it is missing and starts a throwaway one (no persistence) when nothing
# answers. A Redis that already answers is left exactly as it is: never flushed or reconfigured.
set -euo pipefail

url="${REDIS_URL:-redis://127.0.0.1:6379}"
say() { echo "ensure-redis: $*" >&2; }

# Host and port from the URL: scheme://[user[:pass]@]host[:port][/db]
rest="${url#*://}"
rest="${rest##*@}"
hostport="${rest%%/*}"
if [[ "$hostport" == \[* ]]; then # [ipv6]:port
  host="${hostport%%]*}"; host="${host#[}"
  port="${hostport##*]}"; port="${port#:}"
else
  host="${hostport%%:*}"
  port="${hostport#"$host"}"; port="${port#:}"
fi
host="${host:-127.0.0.1}"
port="${port:-6379}"
tls=()
[[ "$url" == rediss://* ]] && tls=(--tls)

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo -n "$@"; fi
}

if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  say "redis-server or redis-cli missing: installing Debian's redis-server"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server </dev/null
fi

answers() {
  [[ "$(redis-cli "${tls[@]}" -u "$url" ping 2>/dev/null </dev/null)" == PONG ]]
}

if answers; then
  say "Redis answers at $host:$port"
  exit 0
fi

case "$host" in
  127.0.0.1 | localhost | ::1) ;;
  *)
    say "nothing answers at $host:$port, and it is not this machine: start that Redis or set REDIS_URL"
    exit 1
    ;;
esac

dir="$(mktemp -d "${TMPDIR:-/tmp}/millrace-redis.XXXXXX")"
say "nothing answers at $host:$port: starting redis-server there (data in $dir, nothing saved)"
start() {
  redis-server --daemonize yes --port "$port" --bind "$@" --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" </dev/null
}
# '-::1' binds IPv6 only where the machine has it (Redis 7); older servers take plain 127.0.0.1.
start 127.0.0.1 -::1 || start 127.0.0.1 || true

for _ in $(seq 1 100); do
  if answers; then
    say "Redis answers at $host:$port"
    exit 0
  fi
  sleep 0.2
done
say "Redis did not answer at $host:$port within 20 s; its log:"
tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
exit 1
