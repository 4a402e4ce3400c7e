#!/usr/bin/env bash
# The committed sample and golden files are exactly what their generators write: a change to a
# generator, or a hand edit of a golden file, shows up here.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
$py "$src/pcaps/make_sample.py" "$tmp/sample-mix.pcap" >/dev/null
cmp "$tmp/sample-mix.pcap" "$src/pcaps/sample-mix.pcap"
$py "$src/test/golden/make_golden.py" "$src/pcaps/sample-mix.pcap" "$tmp" >/dev/null
$py "$src/test/golden/make_malformed.py" "$tmp" >/dev/null 2>&1
$py "$src/test/golden/make_hostile.py" "$tmp" >/dev/null
$py "$src/test/golden/maglev.py" --cases > "$tmp/maglev-cases.tsv"
$py "$src/test/golden/make_health_frames.py" > "$tmp/health-frames.tsv"
status=0
for f in "$tmp"/encap-* "$tmp"/decap-table.* "$tmp"/hostile.* "$tmp"/maglev-cases.tsv "$tmp"/health-frames.tsv; do
  if ! cmp -s "$f" "$src/test/golden/$(basename "$f")"; then
    echo "test/golden/$(basename "$f") differs from what its generator writes"
    status=1
  fi
done
n=$(ls "$tmp" | wc -l)
echo "$n generated files compared"
exit $status
