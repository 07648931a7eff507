#!/usr/bin/env bash
# Renders the entry point's nginx configuration from the environment, checks it, and runs nginx in
# the foreground (SIGQUIT from the orchestrator stops it gracefully).
set -euo pipefail
run=/var/lib/sightline/proxy
for name in SIGHTLINE_INGEST SIGHTLINE_ENRICH SIGHTLINE_QUERY SIGHTLINE_NOTIFIER SIGHTLINE_SCHEDULER; do
  [ -n "${!name:-}" ] || { echo "sightline-web: set $name (host:port, several separated by commas)" >&2; exit 2; }
done
/usr/share/sightline/nginx/render "$run" /usr/share/sightline/web "${SIGHTLINE_LISTEN:-0.0.0.0:8080}" \
  "$SIGHTLINE_INGEST" "$SIGHTLINE_ENRICH" "$SIGHTLINE_QUERY" "$SIGHTLINE_NOTIFIER" "$SIGHTLINE_SCHEDULER" \
  >"$run.conf"
/usr/sbin/nginx -t -q -c "$run.conf" -p "$run" -e "$run/error.log"
exec /usr/sbin/nginx -c "$run.conf" -p "$run" -e "$run/error.log"
