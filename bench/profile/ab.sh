#!/usr/bin/env bash
# Alternated A/B runs of two builds of a measuring program that prints its figure as the
# 4th word of its output (`feed_rate`: "DISTINCT, 1 item(s): 3.43 M lines/s, ..."), and
# their medians. This host's speed moves from minute to minute: only runs of both builds
# alternated in the same minutes compare.
#
#   bash bench/profile/ab.sh A_BIN B_BIN RUNS ARGS...
#
# e.g. with the start of a round built in a worktree:
#   git worktree add /tmp/base <commit> && \
#     (cd /tmp/base && cargo build --release -p tlcp-server --example feed_rate)
#   cargo build --release -p tlcp-server --example feed_rate
#   bash bench/profile/ab.sh /tmp/base/target/release/examples/feed_rate \
#     target/release/examples/feed_rate 7 3 DISTINCT 1024 2
set -euo pipefail
a_bin=${1:?A binary}; b_bin=${2:?B binary}; runs=${3:?runs}; shift 3
a=(); b=()
for _ in $(seq "$runs"); do
  a+=("$("$a_bin" "$@" | awk '{print $4}')")
  b+=("$("$b_bin" "$@" | awk '{print $4}')")
done
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "$*: A median $(med "${a[@]}") [${a[*]}]  B median $(med "${b[@]}") [${b[*]}]"
