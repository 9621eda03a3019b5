#!/usr/bin/env bash
# Server CPU per request for one-key vectors requests, for A/B comparisons of
# sluice binaries on the same machine: each round starts every binary's
# server in turn, pinned to core 0, loads it for 5 s with wrk (32
# connections, one thread, pinned to core 1) after a 2 s warm-up, and prints
# requests/s and the server's CPU time (utime + stime from /proc) per
# request. Rounds alternate the binaries, so that a machine that speeds up or
# slows down meanwhile affects each alike. The first binary is the anchor:
# every row gives its CPU per request as a ratio to the anchor's in the
# same round.
#
#   sluice-bench serve --keys 100000 --seconds 1 --repeats 1 --dir /tmp/bp   # makes the project
#   ROUNDS=5 bench/serve_cpu.sh /tmp/bp /tmp/sluice-before /tmp/sluice-after
set -euo pipefail
project="$1"
shift
rounds="${ROUNDS:-3}"
port="${PORT:-8099}"
tick="$(getconf CLK_TCK)"
script="$(mktemp --suffix .lua)"
trap 'rm -f "$script"' EXIT
cat > "$script" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"entities": {"card_id": [' .. (counter * 7919 % 100000) .. ']}}'
  return wrk.format(nil, "/v1/feature-views/wide/1/vectors", nil, body)
end
LUA
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq 1 "$rounds"); do
  anchor=""
  for bin in "$@"; do
    taskset -c 0 "$bin" --project "$project" serve --port "$port" > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c32 -d2s -s "$script" "http://127.0.0.1:$port" > /dev/null
    before="$(cpu_ticks "$pid")"
    out="$(taskset -c 1 wrk -t1 -c32 -d5s -s "$script" "http://127.0.0.1:$port")"
    after="$(cpu_ticks "$pid")"
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    requests="$(echo "$out" | awk '/requests in/ {print $1}')"
    rate="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    cost="$(echo "scale=1; ($after - $before) * 1000000 / $tick / $requests" | bc)"
    anchor="${anchor:-$cost}"
    echo "$(basename "$bin") round $round: $rate req/s, $cost us CPU/request, $(printf "%.2f" "$(echo "scale=4; $cost / $anchor" | bc)")x the anchor's"
  done
done
