#!/usr/bin/env bash
# `make demo`: events flow through Kafka into ClickHouse and the demo shows what landed.
#   1. produces realistic enriched events (new ones each run) to sightline.events.v1;
#   2. runs the writer until they have landed;
#   3. re-produces the first 500 of them, as a replay would, and shows that nothing is counted twice;
#   4. prints the per-stream summary analysts would see, and the writer's metrics.
# Expects the stack to be up and its environment loaded (the Makefile does both).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:?}/debug"
CH="${SIGHTLINE_CLICKHOUSE_URL:?}"
COUNT=${DEMO_EVENTS:-3000}
SEED=$(date +%s)

query() { curl -sf "$CH/?database=sightline" --data-binary "$1 FORMAT PrettyCompactMonoBlock"; }
visible() { curl -sf "$CH/?database=sightline" --data-binary "SELECT count() FROM events FINAL"; }

echo "== producing $COUNT enriched events (seed $SEED) to sightline.events.v1"
"$BIN/sightline-loadgen" --count "$COUNT" --seed "$SEED"
before=$(visible)
target=$((before + COUNT))

echo "== running sightline-writer (metrics on http://127.0.0.1:9464/metrics)"
"$BIN/sightline-writer" --config writer/writer.toml >"${SIGHTLINE_DATA:?}/logs/demo-writer.log" 2>&1 &
writer=$!
trap 'kill $writer 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ "$(visible)" -ge "$target" ] && break
  kill -0 $writer 2>/dev/null || { echo "the writer exited; see $SIGHTLINE_DATA/logs/demo-writer.log"; exit 1; }
  sleep 0.2
done
echo "visible events: $(visible) (were $before, produced $COUNT)"

echo "== replaying the first 500 events of this run: they must not be counted twice"
"$BIN/sightline-loadgen" --count 500 --seed "$SEED"
sleep 3
echo "visible events after the replay: $(visible)"
[ "$(visible)" -eq "$target" ] || { echo "unexpected count after replay"; exit 1; }

echo "== what landed, per site and stream (schemas/clickhouse/queries/landed_summary.sql)"
query "$(cat schemas/clickhouse/queries/landed_summary.sql)"
echo "== top matched persons (matches table)"
query "SELECT list_name, person_display_name, count() AS sightings, round(max(similarity), 3) AS best FROM matches FINAL GROUP BY list_name, person_display_name ORDER BY sightings DESC LIMIT 5"
echo "== writer metrics"
curl -sf http://127.0.0.1:9464/metrics | grep -E '^sightline_writer_(consumed|inserted|dead_lettered|insert_retries)_total' || true

kill -TERM $writer
wait $writer || true
trap - EXIT
echo "== writer stopped cleanly (SIGTERM flushes and commits)"
