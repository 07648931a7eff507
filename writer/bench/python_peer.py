"""What a team would otherwise write: a Python consumer (confluent-kafka) that decodes the enriched
events (protobuf), batches them, stores each batch's best shots in the object store (S3 PUTs signed
with SigV4 by the standard library, 16 at a time, each image once, under the writer's keys), then
inserts events, matches, best-shot keys and track states into ClickHouse (clickhouse-driver, native
protocol: clickhouse-connect cannot talk to 18.16), committing offsets after each batch's inserts:
the writer's work. Peer of sightline-writer in `make bench-writer`.

Prints `events_per_s=<rate>` measured from the first message to the last insert, and `puts_per_s=`,
the images stored per second over the same time.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import pathlib
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

from clickhouse_driver import Client
from confluent_kafka import Consumer

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_messages_module():
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="sightline-proto-")
    proto_root = ROOT / "schemas" / "proto"
    rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out}", str(proto_root / "sightline/v1/events.proto")])
    if rc != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    from sightline.v1 import events_pb2

    return events_pb2


EVENT_COLUMNS = (
    "event_id, detection_event_id, schema_version, stream_id, site, capture_time, capture_ms, processing_ms, "
    "enriched_ms, track_id, parent_track_id, kind, bbox_x, bbox_y, bbox_w, bbox_h, landmarks_x, landmarks_y, "
    "detection_score, quality, first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, track_ended, "
    "has_best_shot, descriptor, descriptor_model, descriptor_model_version, descriptor_skip_reason, "
    "matched_list_ids, matched_person_ids, top_similarity, source_partition, source_offset"
)
TRACK_COLUMNS = (
    "track_id, stream_id, site, kind, first_seen, first_seen_ms, last_seen_ms, dwell_ms, frame_count, "
    "report_count, ended, parent_track_id, event_id, best_shot_ms, has_best_shot, quality, best_list_id, "
    "best_list_name, best_person_id, best_person_external_id, best_person_display_name, best_similarity, "
    "matched_list_ids, matched_person_ids, version"
)
MATCH_COLUMNS = (
    "event_id, capture_time, capture_ms, stream_id, site, list_id, list_name, person_id, person_external_id, "
    "person_display_name, similarity, rank, threshold"
)


class Bucket:
    """A bucket of an S3-compatible store, path style, requests signed with AWS Signature V4; one
    keep-alive connection per thread."""

    def __init__(self, endpoint, bucket, region, prefix, access_key, secret):
        url = urllib.parse.urlsplit(endpoint)
        self.host, self.https = url.netloc, url.scheme == "https"
        self.bucket, self.region, self.prefix = bucket, region, prefix
        self.access_key, self.secret = access_key, secret
        self.local = threading.local()

    def _connection(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            connection = self.local.connection = kind(self.host, timeout=10)
        return connection

    def put(self, key, body, content_type):
        path = f"/{self.bucket}/" + urllib.parse.quote(self.prefix + key, safe="/-_.~")
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
        canonical = "\n".join(["PUT", path, "", canonical_headers, signed, payload])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key_bytes = hmac.new(("AWS4" + self.secret).encode(), day.encode(), hashlib.sha256).digest()
        for part in (self.region, "s3", "aws4_request"):
            key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        headers["content-type"] = content_type
        for _ in range(5):
            try:
                connection = self._connection()
                connection.request("PUT", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status == 200:
                    return
                raise RuntimeError(f"PUT {key}: HTTP {response.status} {answer[:200]!r}")
            except (http.client.HTTPException, OSError):
                self.local.connection = None
        raise RuntimeError(f"PUT {key}: the store did not answer")


def best_shot_key(stream_id, track_id, capture_ms):
    """The writer's key of a best shot (common::objects::best_shot_key)."""
    day = datetime.datetime.fromtimestamp(capture_ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%d")
    return f"best-shots/{day}/{urllib.parse.quote(stream_id, safe='-_.')}/{track_id}-{capture_ms}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--clickhouse-port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--fetch-wait-max-ms", type=int, default=500)
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument("--s3-bucket", required=True)
    parser.add_argument("--s3-region", required=True)
    parser.add_argument("--s3-prefix", default="")
    parser.add_argument("--s3-access-key", required=True)
    args = parser.parse_args()
    bucket = Bucket(args.s3_endpoint, args.s3_bucket, args.s3_region, args.s3_prefix, args.s3_access_key,
                    os.environ["SIGHTLINE_S3_SECRET_ACCESS_KEY"])
    uploads = ThreadPoolExecutor(max_workers=16)
    stored_keys = set()
    puts = 0

    pb = load_messages_module()
    ch = Client("127.0.0.1", port=args.clickhouse_port, database=args.database)
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": args.fetch_wait_max_ms,
        }
    )
    consumer.subscribe([args.topic])
    kinds = {1: "face", 2: "body"}
    seen = 0
    started = None
    events, matches, shots, tracks, images = [], [], [], [], {}

    def flush():
        nonlocal puts
        if not events:
            return
        # The images first, so no row names an image the store does not hold.
        for _ in uploads.map(lambda item: bucket.put(item[0], item[1], "image/jpeg"), images.items()):
            puts += 1
        stored_keys.update(images)
        images.clear()
        ch.execute("INSERT INTO best_shot_jpegs (event_id, capture_time, stream_id, track_id, object_key) VALUES",
                   shots)
        if matches:
            ch.execute(f"INSERT INTO matches ({MATCH_COLUMNS}) VALUES", matches)
        ch.execute(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES", events)
        ch.execute(f"INSERT INTO tracks ({TRACK_COLUMNS}) VALUES", tracks)
        consumer.commit(asynchronous=False)
        events.clear()
        matches.clear()
        shots.clear()
        tracks.clear()

    # The writer's batch rules: cut at `--batch` events, at 1 s of age, or when a poll comes back empty
    # after 100 ms (caught up). It is not told when the stream ends: it stops once all have landed.
    batch_started = None
    landed = 0
    while landed < args.count:
        batch = consumer.consume(num_messages=1000, timeout=0.1)
        for message in batch:
            if message.error():
                continue
            now = time.perf_counter()
            started = started or now
            batch_started = batch_started or now
            seen += 1
            event = pb.EnrichedEvent()
            event.ParseFromString(message.value())
            d = event.detection
            event_id = uuid.UUID(event.event_id)
            capture_time = d.capture_time_ms // 1000
            for m in event.matches:
                matches.append(
                    (event_id, capture_time, d.capture_time_ms, d.stream_id, d.site, m.list_id, m.list_name,
                     m.person_id, m.person_external_id, m.person_display_name, m.similarity, m.rank, m.threshold)
                )
            if d.HasField("best_shot_jpeg"):
                key = best_shot_key(d.stream_id, d.track_id, d.capture_time_ms)
                if key not in stored_keys:
                    images[key] = d.best_shot_jpeg
                shots.append((event_id, capture_time, d.stream_id, d.track_id, key))
            # The track's state as of this report, as the writer lands it (see writer/src/rows.rs).
            best = event.track_best_match if event.HasField("track_best_match") else max(
                event.matches, key=lambda m: m.similarity, default=None)
            listed, persons = [m.list_id for m in event.matches], [m.person_id for m in event.matches]
            if best is not None and best.person_id not in persons:
                listed, persons = listed + [best.list_id], persons + [best.person_id]
            tracks.append(
                (d.track_id, d.stream_id, d.site, kinds[d.kind], d.first_seen_ms // 1000, d.first_seen_ms,
                 d.last_seen_ms, max(d.last_seen_ms - d.first_seen_ms, 0), d.frame_count, d.report_sequence + 1,
                 int(d.track_ended), d.parent_track_id, event_id, d.capture_time_ms,
                 int(d.HasField("best_shot_jpeg")), d.quality, best.list_id if best else "",
                 best.list_name if best else "", best.person_id if best else "",
                 best.person_external_id if best else "", best.person_display_name if best else "",
                 best.similarity if best else 0.0, listed, persons,
                 (d.report_sequence << 42) | (max(event.enriched_time_ms, 0) & ((1 << 42) - 1)))
            )
            events.append(
                (event_id, uuid.UUID(d.event_id), event.schema_version, d.stream_id, d.site, capture_time,
                 d.capture_time_ms, d.processing_time_ms, event.enriched_time_ms, d.track_id, d.parent_track_id,
                 kinds[d.kind], d.bbox.x, d.bbox.y, d.bbox.width, d.bbox.height, [p.x for p in d.landmarks],
                 [p.y for p in d.landmarks], d.detection_score, d.quality, d.first_seen_ms, d.last_seen_ms,
                 d.frame_count, d.frame_width, d.frame_height, int(d.track_ended), int(d.HasField("best_shot_jpeg")),
                 list(event.descriptor.values), event.descriptor.model_name, event.descriptor.model_version,
                 event.descriptor_skip_reason, [m.list_id for m in event.matches],
                 [m.person_id for m in event.matches], max([m.similarity for m in event.matches], default=0.0),
                 message.partition(), message.offset())
            )
        if events and (len(events) >= args.batch or not batch or time.perf_counter() - batch_started >= 1.0):
            landed += len(events)
            flush()
            batch_started = None
    elapsed = time.perf_counter() - started
    consumer.close()
    uploads.shutdown()
    print(f"events_per_s={seen / elapsed:.1f}")
    print(f"puts_per_s={puts / elapsed:.1f}")


if __name__ == "__main__":
    main()
