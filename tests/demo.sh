#!/usr/bin/env bash
# `make demo`: video in, facts out, on the local stack.
#   Enrich: starts sightline-enrich and enrols the video's three people into a watchlist through its
#   REST API (one photo each).
#   Ingest: writes the test video (people entering, moving and leaving), serves it over RTSP, issues
#   an API token, registers the camera through ingest's REST API and shows the tracked detections
#   (with best shots) that ingest produces to sightline.detections.v1, the stream's live state, and
#   the enriched events (descriptors, watchlist matches) that enrich makes of them.
#   Warehouse: produces realistic enriched events (sealed with their tracks' keys, as real ones
#   travel) to sightline.events.v1, runs the writer until they
#   have landed in ClickHouse, replays some to show nothing is counted twice, and prints what landed.
#   Query: starts sightline-query and reads the streams, the demo camera's matched events and the most
#   sighted persons back through its REST API (the dashboard is served on the same address).
#   Alerts: starts sightline-notifier with a rule on the watchlist (webhook to a receiver started here,
#   live feed) before the camera is registered, and shows each alert arriving while its person is
#   still in the video (received before the track was last seen), then the dashboard's people count.
#   Scheduler: starts sightline-scheduler, schedules a daily PDF report of the matches, sends it now
#   and shows the mail the stack's SMTP server received.
#   Web app: everything is left running behind the project's nginx (infra/nginx) with the app built
#   by infra/web: the script ends by printing its address and a login (user `demo`, an admin, with a
#   new password each run). `make down` (infra/stack down) stops it all; a new `make demo` first
#   stops what the previous one left.
# Expects the stack to be up, its environment loaded and SIGHTLINE_MODELS_DIR set (the Makefile does it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:?}/debug"
CH="${SIGHTLINE_CLICKHOUSE_URL:?}"
DATA="${SIGHTLINE_DATA:?}"
MODELS="${SIGHTLINE_MODELS_DIR:?}"
COUNT=${DEMO_EVENTS:-2000}
SEED=$(date +%s)
RTSP_PORT=${DEMO_RTSP_PORT:-8554}
INGEST_ADDR=${DEMO_INGEST_ADDR:-127.0.0.1:8081}
ENRICH_ADDR=${DEMO_ENRICH_ADDR:-127.0.0.1:8082}
QUERY_ADDR=${DEMO_QUERY_ADDR:-127.0.0.1:8083}
SCHEDULER_ADDR=${DEMO_SCHEDULER_ADDR:-127.0.0.1:8084}
NOTIFIER_ADDR=${DEMO_NOTIFIER_ADDR:-127.0.0.1:8085}
RECEIVER_PORT=${DEMO_RECEIVER_PORT:-8086}
WEB_ADDR=${DEMO_WEB_ADDR:-127.0.0.1:8080}
RUN="$DATA/run"
# Processes of this run only (a live-feed subscriber); the services stay up after it.
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
mkdir -p "$DATA/logs" "$DATA/demo" "$RUN"
infra/stack stop-demo # what a previous demo left running

# Starts a service that outlives this script (until `make down`): daemon NAME LOG COMMAND...
daemon() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo $! >"$RUN/demo-$name.pid"
}

# JSON field of stdin: json_field '["id"]'
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }

echo "== ingest: the test video and its ground truth ($DATA/demo)"
[ -s "$DATA/demo/people.mp4" ] || "$BIN/sightline-testmedia" --models-dir "$MODELS" --out "$DATA/demo"
python3 -c "import json; t=json.load(open('$DATA/demo/people.truth.json')); print('  ', ', '.join(f\"{p['person']} {p['enter_ms']}-{p['leave_ms']} ms\" for p in t['people']))"

echo "== ingest: serving it at rtsp://127.0.0.1:$RTSP_PORT/people (each connection plays it from the start)"
daemon rtsp "$DATA/logs/demo-rtsp.log" "$BIN/sightline-rtsp-serve" --port "$RTSP_PORT" --mount /people --file "$DATA/demo/people.mp4"

TOKEN=$("$BIN/sightline-admin" --config infra/config/admin.toml token create --name demo --role operator)
echo "== enrich: starting sightline-enrich (watchlists API on http://$ENRICH_ADDR)"
daemon enrich "$DATA/logs/demo-enrich.log" env SIGHTLINE_ENRICH__MODELS_DIR="$MODELS" \
  SIGHTLINE_ENRICH__HTTP_ADDR="$ENRICH_ADDR" "$BIN/sightline-enrich" --config enrich/enrich.toml
for _ in $(seq 1 150); do curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://$ENRICH_ADDR/v1/watchlists" && break; sleep 0.2; done
LIST=$(api "http://$ENRICH_ADDR/v1/watchlists" | python3 -c "import json,sys; print(next((l['id'] for l in json.load(sys.stdin) if l['name']=='demo-people'), ''))")
if [ -z "$LIST" ]; then
  LIST=$(api -X POST "http://$ENRICH_ADDR/v1/watchlists" \
    -d '{"name":"demo-people","purpose":"the people of the demo video","threshold":0.45,"top_k":1}' | json_field '["id"]')
  for person in obama:obama2.jpg biden:biden.jpg astronaut:astronaut.png; do
    curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: image/jpeg' --data-binary "@$MODELS/images/${person#*:}" \
      "http://$ENRICH_ADDR/v1/watchlists/$LIST/persons?display_name=${person%%:*}&external_id=demo-${person%%:*}" >/dev/null
  done
fi
api "http://$ENRICH_ADDR/v1/watchlists" | python3 -c "import json,sys; [print(f\"   watchlist {l['name']}: {l['persons']} people, threshold {l['threshold']}\") for l in json.load(sys.stdin)]"

echo "== alerts: a webhook receiver on http://127.0.0.1:$RECEIVER_PORT/alert (prints each alert with its receipt time)"
cat >"$DATA/demo/receiver.py" <<'PY'
import http.server, json, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
open(out, "w").close()
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        body["received_ms"] = int(time.time() * 1000)
        with open(out, "a") as f:
            f.write(json.dumps(body) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
PY
daemon receiver "$DATA/logs/demo-receiver.log" "$SIGHTLINE_VENV/bin/python" "$DATA/demo/receiver.py" "$RECEIVER_PORT" \
  "$DATA/demo/alerts.jsonl"
echo "== alerts: starting sightline-notifier (rules API and live feed on http://$NOTIFIER_ADDR)"
daemon notifier "$DATA/logs/demo-notifier.log" env SIGHTLINE_NOTIFIER__HTTP_ADDR="$NOTIFIER_ADDR" \
  "$BIN/sightline-notifier" --config notifier/notifier.toml
for _ in $(seq 1 150); do curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://$NOTIFIER_ADDR/v1/alert-rules" && break; sleep 0.2; done
for old in $(api "http://$NOTIFIER_ADDR/v1/alert-rules" | python3 -c "import json,sys; print(' '.join(r['id'] for r in json.load(sys.stdin)['rules'] if r['name']=='demo-door'))"); do
  api -X DELETE "http://$NOTIFIER_ADDR/v1/alert-rules/$old" >/dev/null
done
api -X POST "http://$NOTIFIER_ADDR/v1/alert-rules" -d "{\"name\": \"demo-door\", \"list_ids\": [\"$LIST\"],
  \"channels\": {\"webhook\": {\"url\": \"http://127.0.0.1:$RECEIVER_PORT/alert\", \"secret\": \"demo-webhook-secret\"}, \"live\": true}}" \
  | python3 -c "import json,sys; r=json.load(sys.stdin); print(f\"   rule {r['name']}: list {r['list_ids'][0]}, cooldown {r['cooldown_secs']} s, channels {', '.join(sorted(k for k, v in r['channels'].items() if v))}\")"
curl -sN -H "Authorization: Bearer $TOKEN" "http://$NOTIFIER_ADDR/v1/alerts/live" >"$DATA/demo/live.txt" 2>/dev/null &
pids+=($!)
sleep 1 # the notifier applies a new rule within a second

echo "== ingest: starting sightline-ingest (streams API on http://$INGEST_ADDR)"
SIGHTLINE_INGEST__MODELS_DIR="$MODELS" SIGHTLINE_INGEST__HTTP_ADDR="$INGEST_ADDR" \
  "$BIN/sightline-ingest" --config ingest/ingest.toml >"$DATA/logs/demo-ingest.log" 2>&1 &
ingest=$!
pids+=($ingest)
for _ in $(seq 1 100); do curl -sf "http://$INGEST_ADDR/healthz" >/dev/null && break; sleep 0.2; done
# Streams persist in PostgreSQL: retire the previous demo's camera, then register this one.
for old in $(api "http://$INGEST_ADDR/v1/streams" | python3 -c "import json,sys; print(' '.join(s['id'] for s in json.load(sys.stdin) if s['name']=='demo-people'))"); do
  api -X DELETE "http://$INGEST_ADDR/v1/streams/$old" >/dev/null
done
STREAM=$(api -X POST "http://$INGEST_ADDR/v1/streams" \
  -d "{\"name\":\"demo-people\",\"source_url\":\"rtsp://127.0.0.1:$RTSP_PORT/people\",\"site\":\"lobby\",\"analysis_fps\":5}" | json_field '["id"]')
echo "   stream $STREAM registered"

echo "== ingest: track reports of this stream on sightline.detections.v1 (first while in view, improved, ended)"
"$BIN/sightline-admin" --config infra/config/admin.toml tail detections --from-beginning --stream "$STREAM" \
  --count 100 --until-ended 5 --idle-seconds 40 2>/dev/null | tee "$DATA/demo/detections.txt"
# The server plays the video again on each connection: its first pass has 3 faces and 2 bodies.
faces=$(grep ' face track=' "$DATA/demo/detections.txt" | grep 'report=ended' | grep -o 'track=[^ ]*' | sort -u | wc -l)
echo "   $faces face track(s) ended, in $(wc -l <"$DATA/demo/detections.txt") reports; the video has 3 people"
echo "== ingest: the stream's live state"
api "http://$INGEST_ADDR/v1/streams/$STREAM" | python3 -m json.tool
[ "$faces" -ge 1 ] || { echo "no face detections; see $DATA/logs/demo-ingest.log"; exit 1; }
kill -TERM "$ingest"
wait "$ingest" || true
echo "   ingest stopped cleanly (SIGTERM ends the open tracks and flushes them)"
echo "== alerts: received by the webhook while the person was still in the video"
python3 - "$DATA/demo/alerts.jsonl" "$DATA/demo/detections.txt" "$STREAM" <<'PY'
import json, re, sys
alerts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last_seen = {}
for line in open(sys.argv[2]):
    m = re.search(r"track=(\S+) .*seen=(\d+)\.\.(\d+)", line)
    if m:
        last_seen[m.group(1)] = max(last_seen.get(m.group(1), 0), int(m.group(3)))
for a in alerts:
    if a["stream_id"] != sys.argv[3]:
        continue
    seen = last_seen.get(a["track_id"])
    lead = f"{(seen - a['received_ms']) / 1000:.1f} s before the person was last seen" if seen else "track not in the tail above"
    print(f"   {a['person']['display_name']} ({a['list']['name']}, similarity {a['similarity']:.2f}): webhook received "
          f"{(a['received_ms'] - a['first_seen_ms']) / 1000:.1f} s after the face was first seen, {lead}")
if not any(a["stream_id"] == sys.argv[3] for a in alerts):
    sys.exit("no alert arrived; see .data/logs/demo-notifier.log")
PY
echo "   live feed: $(grep -c '^event: alert' "$DATA/demo/live.txt" || true) alert(s) sent to the subscribed browser"
api "http://$NOTIFIER_ADDR/v1/alerts?limit=3" | python3 -c "
import json, sys
for a in json.load(sys.stdin)['alerts']:
    print(f\"   alert {a['id']}: {a['person_display_name']} on {a['site']}, deliveries \" + ', '.join(f\"{d['channel']} {d['status']} after {d['attempts']} attempt(s)\" for d in a['deliveries']))"

echo "== enrich: the enriched events of this stream on sightline.events.v1 (descriptor and matches travel sealed)"
"$BIN/sightline-admin" --config infra/config/admin.toml tail events --from-beginning --stream "$STREAM" \
  --count "$(wc -l <"$DATA/demo/detections.txt")" --idle-seconds 30 2>/dev/null | tee "$DATA/demo/enriched.txt" | cut -c1-200
echo "   $(grep 'descriptor and matches sealed' "$DATA/demo/enriched.txt" | grep -o 'track=[^ ]*' | sort -u | wc -l) face track(s) described;" \
  "their descriptors and matches are sealed on the wire (docs/privacy.md): who matched is in the alerts above"

query() { curl -sf "$CH/?database=sightline" --data-binary "$1 FORMAT PrettyCompactMonoBlock"; }
visible() { curl -sf "$CH/?database=sightline" --data-binary "SELECT count() FROM events FINAL"; }

# The generated history covers the last 20 hours, so it falls inside the screens' default views (the
# last 24 hours).
HISTORY_MS=$((20 * 3600 * 1000))
START_MS=$(($(date +%s) * 1000 - HISTORY_MS))
STEP_MS=$((HISTORY_MS / COUNT))
echo "== producing $COUNT enriched events (seed $SEED) to sightline.events.v1, over the last 20 hours,"
echo "   sealed as ingest and enrich seal real ones (their tracks' keys in PostgreSQL)"
"$BIN/sightline-loadgen" --count "$COUNT" --seed "$SEED" --start-ms "$START_MS" --step-ms "$STEP_MS" \
  --seal-with-postgres "${SIGHTLINE_POSTGRES_URL:?}"
before=$(visible)
target=$((before + COUNT))

echo "== running sightline-writer (metrics on http://127.0.0.1:9464/metrics)"
daemon writer "$DATA/logs/demo-writer.log" "$BIN/sightline-writer" --config writer/writer.toml
writer=$(cat "$RUN/demo-writer.pid")
for _ in $(seq 1 600); do
  [ "$(visible)" -ge "$target" ] && break
  kill -0 $writer 2>/dev/null || { echo "the writer exited; see $DATA/logs/demo-writer.log"; exit 1; }
  sleep 0.2
done
sleep 2 # the demo video's enriched events land alongside
landed=$(visible)
echo "visible events: $landed (were $before; produced $COUNT plus the demo video's)"

echo "== replaying the first 500 events of this run: they must not be counted twice"
"$BIN/sightline-loadgen" --count 500 --seed "$SEED" --start-ms "$START_MS" --step-ms "$STEP_MS" \
  --seal-with-postgres "$SIGHTLINE_POSTGRES_URL"
sleep 3
echo "visible events after the replay: $(visible)"
[ "$(visible)" -eq "$landed" ] || { echo "unexpected count after replay"; exit 1; }

echo "== what landed, per site and stream (schemas/clickhouse/queries/landed_summary.sql)"
query "$(cat schemas/clickhouse/queries/landed_summary.sql)"
echo "== the demo video's people in ClickHouse (tracks table: one row per person or body, however many reports)"
query "SELECT toString(kind) AS kind, best_person_display_name AS person, count() AS tracks, sum(report_count) AS reports, round(max(best_similarity), 3) AS best FROM tracks FINAL WHERE stream_id = '$STREAM' GROUP BY kind, person ORDER BY kind, person"
echo "== top matched persons (tracks whose best match they are)"
query "SELECT best_list_name, best_person_display_name, count() AS sightings, round(max(best_similarity), 3) AS best FROM tracks FINAL WHERE best_person_id != '' GROUP BY best_list_name, best_person_display_name ORDER BY sightings DESC LIMIT 5"

echo "== query: starting sightline-query (REST API and dashboard on http://$QUERY_ADDR/)"
daemon query "$DATA/logs/demo-query.log" env SIGHTLINE_QUERY__MODELS_DIR="$MODELS" SIGHTLINE_QUERY__HTTP_ADDR="$QUERY_ADDR" \
  "$BIN/sightline-query" --config query/query.toml
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:9467/readyz >/dev/null && break; sleep 0.2; done
echo "-- GET /v1/stats/streams?stream=... (the dashboard's counts: people, not reports)"
api "http://$QUERY_ADDR/v1/stats/streams" | python3 -c "
import json, sys
for s in json.load(sys.stdin)['streams']:
    if s['stream_id'] == '$STREAM':
        print(f\"   the demo camera: {s['faces']} people (face tracks), {s['bodies']} bodies, {s['matched']} matched; the video has 3 people per pass\")"
echo "-- GET /v1/stats/streams (last 24 hours)"
api "http://$QUERY_ADDR/v1/stats/streams" | python3 -c "
import json, sys
for s in json.load(sys.stdin)['streams']:
    print(f\"{s['site']}/{s['stream_id']}: {s['faces']} faces, {s['bodies']} bodies, {s['matched']} matched\")"
echo "-- GET /v1/events?stream=$STREAM&matched=true&limit=5"
api "http://$QUERY_ADDR/v1/events?stream=$STREAM&matched=true&limit=5" | python3 -c "
import json, sys
for e in json.load(sys.stdin)['events']:
    names = ', '.join(f\"{m['person_display_name']} {m['similarity']:.2f}\" for m in e['matches'])
    print(f\"{e['capture_time']} {e['kind']} quality {e['quality']:.2f}, best shot {e['best_shot_url']}: {names}\")"
echo "-- GET /v1/stats/persons"
api "http://$QUERY_ADDR/v1/stats/persons" | python3 -c "
import json, sys
for p in json.load(sys.stdin)['persons']:
    print(f\"{p['display_name']} ({p['list_name']}): {p['sightings']} sightings, best {p['best_similarity']:.2f}\")"

echo "== scheduler: starting sightline-scheduler (schedules API on http://$SCHEDULER_ADDR)"
daemon scheduler "$DATA/logs/demo-scheduler.log" env SIGHTLINE_SCHEDULER__HTTP_ADDR="$SCHEDULER_ADDR" \
  "$BIN/sightline-scheduler" --config scheduler/scheduler.toml
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:9468/readyz >/dev/null && break; sleep 0.2; done
REPORT_TO="analysts-$SEED@example.com"
REPORT_TZ=${DEMO_TZ:-Europe/Berlin}
for old in $(api "http://$SCHEDULER_ADDR/v1/schedules" | python3 -c "import json,sys; print(' '.join(s['id'] for s in json.load(sys.stdin)['schedules'] if s['name']=='Daily matches'))"); do
  api -X DELETE "http://$SCHEDULER_ADDR/v1/schedules/$old" >/dev/null
done
SCHEDULE=$(api -X POST "http://$SCHEDULER_ADDR/v1/schedules" -d "{\"name\": \"Daily matches\",
  \"cron\": \"0 0 7 * * *\", \"tz\": \"$REPORT_TZ\", \"format\": \"pdf\", \"filters\": {\"matched\": true},
  \"recipients\": [\"$REPORT_TO\"]}" | json_field '["id"]')
echo "scheduled a daily PDF of the matches at 07:00 $REPORT_TZ for $REPORT_TO; sending it now"
api -X POST "http://$SCHEDULER_ADDR/v1/schedules/$SCHEDULE/run" >/dev/null
for _ in $(seq 1 100); do grep -lq "$REPORT_TO" "$SIGHTLINE_MAILDIR"/new/* 2>/dev/null && break; sleep 0.2; done
MAIL=$(grep -l "$REPORT_TO" "$SIGHTLINE_MAILDIR"/new/* 2>/dev/null | head -1)
[ -n "$MAIL" ] || { echo "no mail arrived; see $DATA/logs/demo-scheduler.log"; exit 1; }
echo "-- mail received by the SMTP server ($MAIL):"
grep -E '^(Subject|To|Message-ID):|filename' "$MAIL"
api "http://$SCHEDULER_ADDR/v1/schedules/$SCHEDULE/deliveries" | python3 -c "
import json, sys
for d in json.load(sys.stdin)['deliveries']:
    print(f\"delivery: ok={d['ok']} events={d['events']} bytes={d['bytes']} {d['error']}\")"

echo "== writer metrics"
curl -sf http://127.0.0.1:9464/metrics | grep -E '^sightline_writer_(consumed|inserted|dead_lettered|insert_retries)_total' || true

echo "== ingest: analysing the camera again, and left running"
daemon ingest "$DATA/logs/demo-ingest.log" env SIGHTLINE_INGEST__MODELS_DIR="$MODELS" SIGHTLINE_INGEST__HTTP_ADDR="$INGEST_ADDR" \
  "$BIN/sightline-ingest" --config ingest/ingest.toml
for _ in $(seq 1 100); do curl -sf "http://$INGEST_ADDR/healthz" >/dev/null && break; sleep 0.2; done
# A looping video is not a camera: after a few passes the demo disables it (the Streams screen can
# enable it again), so the counts stay those of a few people passing, not of a loop run for hours.
PASSES=${DEMO_CAMERA_PASSES:-3}
FRAMES=$((PASSES * 8 * 5)) # the video is 8 s long, analysed at 5 fps
daemon camera-stop "$DATA/logs/demo-camera-stop.log" bash -c '
  for _ in $(seq 1 600); do
    frames=$(curl -sf -H "Authorization: Bearer $1" "http://$2/v1/streams/$3" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"state\"].get(\"frames\") or 0)" 2>/dev/null || echo 0)
    [ "${frames:-0}" -ge "$4" ] && break
    sleep 2
  done
  curl -sf -X PATCH -H "Authorization: Bearer $1" -H "content-type: application/json" -d "{\"enabled\": false}" \
    "http://$2/v1/streams/$3" >/dev/null && echo "the demo camera disabled after $4 analysed frames"' \
  camera-stop "$TOKEN" "$INGEST_ADDR" "$STREAM" "$FRAMES"
echo "   the camera is disabled after $PASSES passes of the video ($FRAMES analysed frames); enable it on the Streams screen to watch again"

echo "== web app: built by infra/web, behind nginx on http://$WEB_ADDR"
WEB_ROOT=$(infra/web build)
PROXY="$RUN/demo-proxy"
mkdir -p "$PROXY"
infra/nginx/render "$PROXY" "$WEB_ROOT" "$WEB_ADDR" "$INGEST_ADDR" "$ENRICH_ADDR" "$QUERY_ADDR" "$NOTIFIER_ADDR" \
  "$SCHEDULER_ADDR" >"$PROXY/nginx.conf"
daemon proxy "$DATA/logs/demo-proxy.log" nginx -c "$PROXY/nginx.conf" -p "$PROXY" -e "$PROXY/error.log"
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://$WEB_ADDR/" && break; sleep 0.1; done
curl -sf -o /dev/null "http://$WEB_ADDR/" || { echo "nginx did not start; see $PROXY/error.log"; exit 1; }
PASSWORD=${DEMO_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')}
ADMIN=("$BIN/sightline-admin" --config infra/config/admin.toml)
if "${ADMIN[@]}" user list | grep -q ' demo$'; then
  echo "$PASSWORD" | "${ADMIN[@]}" user password demo >/dev/null
else
  echo "$PASSWORD" | "${ADMIN[@]}" user create --username demo --role admin >/dev/null
fi
echo
echo "Sightline is running: open http://localhost:${WEB_ADDR##*:}/ and log in as demo / $PASSWORD"
echo "  (the demo camera, its watchlist and alerts, and the scheduled report are in it; \`make down\` stops everything)"
