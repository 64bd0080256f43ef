#!/usr/bin/env bash
# Instructions per update, server and client side, counted by callgrind (repeatable
# whatever the load, unlike times). Usage, from the repository root, after
# `cargo build --release -p tlcp-cli`:
#
#   bash bench/profile/callgrind.sh server [--feed-batch 64]   # tlcp serve under callgrind
#   bash bench/profile/callgrind.sh client                     # tlcp bench under callgrind
#   CG_OPTS=--branch-sim=yes bash bench/profile/callgrind.sh server  # also simulated branch
#       mispredictions (callgrind_annotate --show=Ir,Bc,Bcm --sort=Bcm on the profile)
#
# One DISTINCT subscription to a FEED item pushed as fast as the reader takes it, 8 s. The
# side under callgrind runs about 50x slower, so the other side is never the limit.
# Prints the total, the updates received, and the inclusive instructions per call of the
# functions that make up the per-update path.
set -euo pipefail
side=${1:?server or client}; shift || true
bin=target/release/tlcp
out=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
if [[ $side == server ]]; then
  valgrind --tool=callgrind ${CG_OPTS:-} --callgrind-out-file="$out/cg.out" \
    "$bin" serve --listen "127.0.0.1:$port" --feed-rate max "$@" > "$out/serve.log" 2>&1 &
  for _ in $(seq 100); do sleep 0.3; grep -q listening "$out/serve.log" && break; done
  "$bin" bench --server "http://127.0.0.1:$port" --mode distinct --item p1 --duration 8 --timeout 60 > "$out/bench.json"
  sleep 1.5; kill -INT %1; wait %1 || true
  fns='Generator::advance|Generator::push|ItemHub::push_with|Encoder::encode|push_encoded_update|on_item_event'
else
  "$bin" serve --listen "127.0.0.1:$port" --feed-rate max > "$out/serve.log" 2>&1 &
  for _ in $(seq 100); do sleep 0.1; grep -q listening "$out/serve.log" && break; done
  valgrind --tool=callgrind ${CG_OPTS:-} --callgrind-out-file="$out/cg.out" \
    "$bin" bench --server "http://127.0.0.1:$port" --mode distinct --item p1 --duration 8 --timeout 60 > "$out/bench.json" 2>/dev/null
  kill %1; wait %1 || true
  fns='driver::feed|SubscriptionModel::update|Row::apply|push_update_deferred|ItemUpdate::fill'
fi
total=$(callgrind_annotate "$out/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
updates=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['stats']['updates'])" "$out/bench.json")
echo "$side: $total instructions, $updates updates received, $((total / updates)) per update (startup included)"
# Inclusive cost of each function of the path per update received, and per call (callers'
# view: the calls are the sum of the callers' counts; the client's `driver::feed` runs once
# per socket read).
callgrind_annotate --inclusive=yes --tree=caller "$out/cg.out" 2>/dev/null | python3 -c '
import re, sys
fns = re.compile(sys.argv[1])
updates = int(sys.argv[2])
calls = 0
for line in sys.stdin:
    if not line.strip():
        calls = 0
        continue
    m = re.match(r"\s*([0-9,]+) .*?([<*]) +(\S.*)", line)
    if not m:
        continue
    ir, kind, name = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
    if kind == "<":
        c = re.search(r"\(([0-9,]+)x\)", name)
        calls += int(c.group(1).replace(",", "")) if c else 0
    elif fns.search(name) and calls:
        short = fns.search(name).group(0)
        print(f"  {short:<28} {ir // updates:>8} per update, {ir // calls:>8} per call ({calls} calls)")
' "$fns" "$updates"
echo "(full profile: callgrind_annotate $out/cg.out)"
