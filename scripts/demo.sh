#!/usr/bin/env bash
# Resolves the workflow configs in examples/local with the file store of demo
# secrets beside them, into a tmpfs directory, then shows what was written
# with every resolved value redacted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/omsecrets}
examples=(examples/local/*.yaml examples/local/*.json)

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

echo "== omsecrets check (every reference, no values)"
"$BIN" check --provider file --file-dir examples/local/secrets "${examples[@]}"

echo
echo "== omsecrets resolve"
"$BIN" resolve --provider file --file-dir examples/local/secrets --out-dir "$out" "${extra[@]}" "${examples[@]}"

echo
echo "== written files"
ls -l "$out"

for f in "${examples[@]}"; do
	name=$(basename "${f%.*}")
	echo
	echo "== $out/$name.json, values redacted"
	"$BIN" resolve --provider file --file-dir examples/local/secrets --redact --out - --log-level warn "$f"
done
echo
echo "The files in $out hold the demo values; remove them with: rm -r $out"
