#!/usr/bin/env bash
# profile.sh BENCH OUTDIR -- the hot paths of the core under callgrind, one after the
# other (instruction counts, which stay put on a busy machine where timings do not). Only the
# functions named measured_* in core_bench.c are collected, so setup is left out. Writes
# OUTDIR/<path>.txt: the run's counts, the share of instructions by area
# (tests/bench/callgrind-areas.py) and the top of callgrind_annotate, inclusive and self.
# PROFILE_PATHS="put query" picks paths; PROFILE_REUSE=1 summarises the last raw profiles again.
set -euo pipefail
bench=$1 out=$2
command -v valgrind > /dev/null || { echo "profile: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
mkdir -p "$out" build/bench/callgrind
top() { # the first $1 functions of a callgrind_annotate listing, without its header
  sed -n '/file:function/,$p' | sed -n "3,$(($1 + 2))p" | sed "s|$PWD/||g; s|/usr/lib/x86_64-linux-gnu/||g"
}
for path in ${PROFILE_PATHS:-put put-batch pull catch-up serve apply apply-1 apply-1000 push-end query}; do
  raw=build/bench/callgrind/$path.out
  if [ -z "${PROFILE_REUSE:-}" ]; then
    valgrind --tool=callgrind --toggle-collect='measured_*' --callgrind-out-file="$raw" \
      "$bench" --profile "$path" > "$raw.counts" 2>/dev/null
  fi
  counts=$(cat "$raw.counts")
  {
    echo "# core_bench --profile $path under callgrind ($(date -u +%F), $(valgrind --version))"
    echo "# $counts"
    echo
    python3 tests/bench/callgrind-areas.py "$raw" "$counts"
    echo
    echo "## callgrind_annotate --inclusive=yes (top 40)"
    callgrind_annotate --inclusive=yes "$raw" | top 40
    echo
    echo "## callgrind_annotate, self cost (top 30)"
    callgrind_annotate "$raw" | top 30
  } > "$out/$path.txt"
  echo "$out/$path.txt"
done
