#!/usr/bin/env bash
# The main job on an embedded default: runs the omsecrets sidecar (`run`) over
# a copy of the workflow configs in examples/local with the file store of demo
# secrets beside them, writing to a tmpfs directory. It shows the outputs
# appear, a rotated secret reach its file within one refresh, a deleted
# definition take its output with it, the /status page, and a clean stop on
# SIGTERM. Values are never printed: outputs are shown redacted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/omsecrets}
work=$(mktemp -d "${TMPDIR:-/tmp}/omsecrets-demo-work.XXXXXX")
defs=$work/definitions
secrets=$work/secrets
mkdir -p "$defs"
cp examples/local/*.yaml examples/local/*.json "$defs"/
cp -r examples/local/secrets "$secrets"

# The trust policy (docs/trust-boundary.md): the bot JWT goes only to this
# OpenMetadata host, and the workflow configs may name only these ids.
export OMSECRETS_OM_HOSTS=${OMSECRETS_OM_HOSTS:-http://openmetadata-server:8585}
export OMSECRETS_ALLOW_IDS=${OMSECRETS_ALLOW_IDS:-/openmetadata/bot/ingestion-bot/*,/openmetadata/database/*,/openmetadata/messaging/*}

# Resolved secrets belong in memory: use tmpfs where there is one.
extra=()
if [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	out=$(mktemp -d /dev/shm/omsecrets-demo.XXXXXX)
	echo "== output directory $out (tmpfs)"
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/omsecrets-demo.XXXXXX")
	extra=(--allow-disk)
	echo "== no tmpfs at /dev/shm: writing to $out on disk with --allow-disk (demo secrets only)"
fi

echo "== omsecrets check: every reference, its store and outcome, no values"
"$BIN" check --provider file --file-dir "$secrets" "$defs"/*

echo
echo "== omsecrets run: the sidecar, watching $defs, refreshing every 2s"
log=$work/omsecrets.log
"$BIN" run --provider file --file-dir "$secrets" --watch-dirs "$defs" --out-dir "$out" "${extra[@]}" \
	--refresh-interval 2s --watch-quiet 100ms --http-addr 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The log names the HTTP address; /readyz turns 200 after the first pass.
http() { # http PATH: GET over bash's /dev/tcp, body only
	exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
	printf 'GET %s HTTP/1.0\r\nHost: omsecrets\r\n\r\n' "$1" >&3
	sed '1,/^\r$/d' <&3
	exec 3<&-
}
addr=
for _ in $(seq 100); do
	addr=$(sed -n 's/.*http=\([0-9.:]*\).*/\1/p' "$log" | head -1)
	[ -n "$addr" ] && [ "$(http /readyz 2>/dev/null)" = ready ] && break
	sleep 0.1
done
echo "ready: $(http /readyz) (HTTP on $addr)"
ls -l "$out"

echo
echo "== $out/mysql_prod.json, values redacted"
"$BIN" resolve --provider file --file-dir "$secrets" --redact --out - --log-level warn "$defs/mysql_prod.yaml"

echo
echo "== $out/mysql_prod.status: what the ingestion task checks before it trusts the file (no values)"
cat "$out/mysql_prod.status"

echo
echo "== rotate the mysql_prod password in the store; the file follows within one refresh"
before=$(sha256sum "$out/mysql_prod.json" | cut -c1-12)
printf 'rotated-demo-password\n' >"$secrets/openmetadata/database/mysql_prod/authtype/password"
for _ in $(seq 50); do
	after=$(sha256sum "$out/mysql_prod.json" | cut -c1-12)
	[ "$after" != "$before" ] && break
	sleep 0.1
done
echo "mysql_prod.json sha256 $before… -> $after…"

echo
echo "== delete kafka_events.yaml; its output goes too"
rm "$defs/kafka_events.yaml"
for _ in $(seq 50); do
	[ -e "$out/kafka_events.json" ] || break
	sleep 0.1
done
ls -l "$out"

echo
echo "== GET /status (reference ids and outcomes, never values)"
http /status | head -40

echo
echo "== SIGTERM"
kill -TERM "$pid"
wait "$pid" && echo "omsecrets exited 0"
echo "== its log"
cat "$log"
echo
echo "The files in $out hold the demo values; remove them with: rm -r $out"
