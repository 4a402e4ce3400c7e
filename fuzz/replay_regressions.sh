#!/usr/bin/env bash
# ctest fuzz_regressions: every input that ever crashed a fuzz target (fuzz/regressions/TARGET/)
# and the seed corpora (fuzz/make_seeds.py) replayed through the targets' checks, built with the
# regular compiler (fuzz_TARGET_replay, no libFuzzer, no clang); the encap and decap targets
# also take every frame of a few captures behind each of their selector values.
#
# usage: replay_regressions.sh BINARY_DIR SOURCE_DIR
set -euo pipefail
bin="$1/fuzz"
src="$2"
seeds="$1/fuzz-regression-seeds"
rm -rf "$seeds"
/usr/bin/python3 "$src/fuzz/make_seeds.py" "$seeds" --shared "$src/pcaps/third-party"

for t in parse_frame decap appliance encap config health pcap; do
  dirs=("$seeds/$t")
  [ -d "$src/fuzz/regressions/$t" ] && dirs+=("$src/fuzz/regressions/$t")
  extra=()
  case "$t" in
    decap) extra=(--prefix-bytes 1 --variants 32 --pcap "$src/test/golden/decap-table.pcap") ;;
    appliance) extra=(--prefix-bytes 1 --variants 16 --pcap "$src/pcaps/third-party/suricata-bug-6402-geneve-aws-gwlb-opts.pcap") ;;
    encap) extra=(--prefix-bytes 2 --variants 256 --pcap "$src/pcaps/sample-mix.pcap") ;;
  esac
  echo "fuzz_$t:"
  "$bin/fuzz_${t}_replay" "${dirs[@]}" "${extra[@]}"
done
rm -rf "$seeds"
