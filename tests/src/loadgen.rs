//! Realistic enriched events for tests, benchmarks and the demo.

use prost::Message;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sightline_common::kafka::KafkaSettings;
use sightline_schemas::v1::{
    BoundingBox, Descriptor, DetectionEvent, EnrichedEvent, MatchResult, ObjectKind, Point, SCHEMA_VERSION,
    TrackReportKind,
};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Namespace of the deterministic ids the generator derives (UUID v5).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5167_6874_6c69_6e65_2d6c_6f61_6467_656e);

/// Shape of the generated traffic.
#[derive(Debug, Clone)]
pub struct LoadProfile {
    /// Seed: the same seed and index give the same event (and the same id).
    pub seed: u64,
    /// Number of distinct streams (cameras).
    pub streams: usize,
    /// Number of sites the streams are spread over.
    pub sites: usize,
    /// Capture time of the first event, ms since the epoch.
    pub start_ms: i64,
    /// Capture-time step between consecutive events, ms.
    pub step_ms: i64,
    /// Share of events that are faces (the rest are bodies).
    pub face_share: f64,
    /// Share of faces that match a watchlist person.
    pub match_share: f64,
    /// Reports per track (consecutive events): the first, improved ones, and the one that ends it.
    /// Every report of a track has its stream, kind, first sighting and matches.
    pub reports_per_track: u32,
    /// Distinct best-shot JPEGs the events cycle through. Real best shots all differ and, being
    /// JPEGs, do not compress, like sealed ones; a few repeated images compress in the warehouse
    /// (fine for most tests, not for comparing clear with sealed images).
    pub distinct_best_shots: usize,
}

impl Default for LoadProfile {
    fn default() -> Self {
        Self {
            seed: 1,
            streams: 8,
            sites: 3,
            start_ms: 1_763_800_000_000,
            step_ms: 250,
            face_share: 0.7,
            match_share: 0.3,
            reports_per_track: 1,
            distinct_best_shots: 8,
        }
    }
}

/// Generates enriched events.
pub struct EventGenerator {
    profile: LoadProfile,
    jpegs: Vec<Vec<u8>>,
    lists: Vec<(String, String)>,
}

impl EventGenerator {
    /// A generator for `profile`; encodes its pool of best-shot JPEGs once.
    pub fn new(profile: LoadProfile) -> Self {
        let jpegs =
            (0..profile.distinct_best_shots.max(1) as u64).map(|i| noise_jpeg(profile.seed.wrapping_add(i))).collect();
        let lists = vec![
            (Uuid::new_v5(&ID_NAMESPACE, b"list-vip").to_string(), "VIP".to_owned()),
            (Uuid::new_v5(&ID_NAMESPACE, b"list-banned").to_string(), "Banned".to_owned()),
        ];
        Self { profile, jpegs, lists }
    }

    /// The track of event number `index` and the event's report sequence in it.
    pub fn track_of(&self, index: u64) -> (u64, u32) {
        let per_track = u64::from(self.profile.reports_per_track.max(1));
        (index / per_track, (index % per_track) as u32)
    }

    /// The enriched event number `index` (deterministic).
    pub fn event(&self, index: u64) -> EnrichedEvent {
        let (track, sequence) = self.track_of(index);
        let last_report = sequence + 1 == self.profile.reports_per_track.max(1);
        let mut rng = SmallRng::seed_from_u64(self.profile.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut track_rng =
            SmallRng::seed_from_u64(self.profile.seed ^ track.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0074_7261_636b);
        let stream = (track as usize) % self.profile.streams.max(1);
        let site = stream % self.profile.sites.max(1);
        let detection_id = Uuid::new_v5(&ID_NAMESPACE, format!("{}-detection-{index}", self.profile.seed).as_bytes());
        let track_id = Uuid::new_v5(&ID_NAMESPACE, format!("{}-track-{track}", self.profile.seed).as_bytes());
        let capture_ms = self.profile.start_ms + index as i64 * self.profile.step_ms;
        let track_start_ms = capture_ms - i64::from(sequence) * self.profile.step_ms;
        let first_seen_ms = track_start_ms - track_rng.random_range(500..8000);
        let is_face = track_rng.random_bool(self.profile.face_share);
        let (width, height) =
            if is_face { (rng.random_range(60.0..180.0), 0.0) } else { (rng.random_range(80.0..240.0), 0.0) };
        let height = if is_face { width * 1.25 } else { height + width * 2.4 };
        let x: f32 = rng.random_range(0.0..1000.0);
        // Inside the 1280x720 frame, as the contract requires (schemas::validate).
        let y: f32 = rng.random_range(0.0..1.0) * (720.0 - height);
        let landmarks = if is_face {
            [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]
                .iter()
                .map(|(fx, fy)| Point { x: x + width * fx, y: y + height * fy })
                .collect()
        } else {
            Vec::new()
        };
        let detection = DetectionEvent {
            schema_version: SCHEMA_VERSION,
            event_id: detection_id.to_string(),
            stream_id: format!("cam-{stream:02}"),
            site: format!("site-{}", (b'a' + site as u8) as char),
            capture_time_ms: capture_ms,
            processing_time_ms: capture_ms + rng.random_range(50..400),
            track_id: track_id.to_string(),
            kind: if is_face { ObjectKind::Face } else { ObjectKind::Body } as i32,
            bbox: Some(BoundingBox { x, y, width, height }),
            landmarks,
            detection_score: rng.random_range(0.6..1.0),
            quality: rng.random_range(0.2..1.0),
            best_shot_jpeg: Some(self.jpegs[(index as usize) % self.jpegs.len()].clone()),
            first_seen_ms,
            last_seen_ms: capture_ms + rng.random_range(100..4000),
            frame_count: rng.random_range(5..200),
            frame_width: 1280,
            frame_height: 720,
            track_ended: last_report,
            parent_track_id: String::new(),
            best_shot_origin: Some(Point { x: x.floor(), y: y.floor() }),
            report_kind: if last_report {
                TrackReportKind::Ended
            } else if sequence == 0 {
                TrackReportKind::First
            } else {
                TrackReportKind::Improved
            } as i32,
            report_sequence: sequence,
            sealed: None,
            count_only_unmatched_faces: false,
            clip_key: String::new(),
            clip_start_ms: 0,
        };
        let (descriptor, skip_reason, matches) = if is_face {
            let mut values: Vec<f32> = (0..192).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::EPSILON);
            values.iter_mut().for_each(|v| *v /= norm);
            let matches = if track_rng.random_bool(self.profile.match_share) {
                let (list_id, list_name) = &self.lists[track_rng.random_range(0..self.lists.len())];
                (1..=track_rng.random_range(1..=3u32))
                    .map(|rank| {
                        let person = track_rng.random_range(0..50u32);
                        MatchResult {
                            list_id: list_id.clone(),
                            list_name: list_name.clone(),
                            person_id: Uuid::new_v5(&ID_NAMESPACE, format!("person-{person}").as_bytes()).to_string(),
                            person_external_id: format!("EXT-{person:04}"),
                            person_display_name: person_name(person),
                            similarity: 0.9 - 0.05 * rank as f32,
                            rank,
                            threshold: 0.5,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let descriptor = Descriptor { values, model_name: "mobilefacenet".into(), model_version: "1".into() };
            (Some(descriptor), String::new(), matches)
        } else {
            (None, "body".to_owned(), Vec::new())
        };
        EnrichedEvent {
            schema_version: SCHEMA_VERSION,
            event_id: Uuid::new_v5(&ID_NAMESPACE, detection_id.as_bytes()).to_string(),
            detection: Some(detection),
            descriptor,
            descriptor_skip_reason: skip_reason,
            track_best_match: matches.first().cloned(),
            matches,
            enriched_time_ms: capture_ms + 500,
            sealed: None,
        }
    }
}

/// A 10–20 KB JPEG of textured noise (the size of a face best shot with margin).
pub fn noise_jpeg(seed: u64) -> Vec<u8> {
    let (w, h) = (120u16, 150u16);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let base = ((x as u32 * 2 + y as u32) % 256) as u8;
            for _ in 0..3 {
                pixels.push(base.wrapping_add(rng.random_range(0..48)));
            }
        }
    }
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    if encoder.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).is_err() {
        return vec![0xff, 0xd8, 0xff, 0xd9];
    }
    out
}

/// Produces events `first..first + count` of `generator` to `topic` (keyed by stream id), at most
/// `rate_per_s` per second when given, and waits for every acknowledgement; returns their ids.
pub async fn produce(
    kafka: &KafkaSettings,
    topic: &str,
    generator: &EventGenerator,
    first: u64,
    count: u64,
    rate_per_s: Option<f64>,
) -> anyhow::Result<Vec<String>> {
    produce_events(kafka, topic, (first..first + count).map(|i| generator.event(i)), rate_per_s).await
}

/// Produces `events` to `topic` (keyed by stream id), at most `rate_per_s` per second when given,
/// and waits for every acknowledgement; returns their ids.
pub async fn produce_events(
    kafka: &KafkaSettings,
    topic: &str,
    events: impl IntoIterator<Item = EnrichedEvent>,
    rate_per_s: Option<f64>,
) -> anyhow::Result<Vec<String>> {
    let producer: FutureProducer = kafka.idempotent_producer()?;
    let mut ids = Vec::new();
    let mut pending = VecDeque::new();
    let started = Instant::now();
    for (i, event) in events.into_iter().enumerate() {
        let key = event.detection.as_ref().map(|d| d.stream_id.clone()).unwrap_or_default();
        ids.push(event.event_id.clone());
        let payload = event.encode_to_vec();
        let delivery = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
            .map_err(|(e, _)| anyhow::anyhow!("queueing event {i}: {e}"))?;
        pending.push_back(delivery);
        if pending.len() >= 10_000
            && let Some(oldest) = pending.pop_front()
        {
            oldest.await?.map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
        }
        if let Some(rate) = rate_per_s {
            let due = started + Duration::from_secs_f64((i + 1) as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
    }
    Ok(ids)
}

/// Produces raw bytes (e.g. poison messages) to `topic`; returns (partition, offset) of each.
pub async fn produce_raw(
    kafka: &KafkaSettings,
    topic: &str,
    messages: &[(String, Vec<u8>)],
) -> anyhow::Result<Vec<(i32, i64)>> {
    let producer: FutureProducer = kafka.idempotent_producer()?;
    let mut positions = Vec::new();
    for (key, payload) in messages {
        let delivered = producer
            .send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(30))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
        positions.push((delivered.partition, delivered.offset));
    }
    Ok(positions)
}

/// Watchlist person `n`'s display name: the names cycle through Latin, Cyrillic, CJK, Greek and
/// Arabic script, as a watchlist of an international site would, so reports show them all.
pub fn person_name(n: u32) -> String {
    const NAMES: [&str; 5] = ["Ann Lee", "Анна Петрова", "王小明", "Νίκος Παππάς", "محمد علي"];
    format!("{} {n}", NAMES[n as usize % NAMES.len()])
}

/// Seals generated events as ingest and enrich seal real ones (docs/privacy.md, section 3): each
/// event's best shot with its track's image key, its descriptor and matches with its template key,
/// the keys made in PostgreSQL on a track's first event and held for its others. Another sealer
/// (another run) makes new keys for the same tracks, as a restarted ingest does: an erasure or
/// expiry destroys every key of a track.
pub struct EventSealer {
    images: sightline_common::keys::Sealer,
    templates: sightline_common::keys::Sealer,
}

impl EventSealer {
    /// A sealer whose keys live in `store`.
    pub fn new(store: std::sync::Arc<sightline_common::keys::KeyStore>) -> Self {
        use sightline_common::keys::{KeyClass, Sealer};
        Self { images: Sealer::new(store.clone(), KeyClass::Image), templates: Sealer::new(store, KeyClass::Template) }
    }

    /// `event` sealed.
    pub async fn seal(&self, mut event: EnrichedEvent) -> anyhow::Result<EnrichedEvent> {
        use sightline_common::sealing::{seal_detection, seal_enriched};
        let Some(detection) = event.detection.as_mut() else { return Ok(event) };
        let (stream, track, first) = (detection.stream_id.clone(), detection.track_id.clone(), detection.first_seen_ms);
        seal_detection(detection, &self.images.key(&stream, &track, first).await?)?;
        seal_enriched(&mut event, &self.templates.key(&stream, &track, first).await?)?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_deterministic_and_realistic() {
        let generator = EventGenerator::new(LoadProfile::default());
        assert_eq!(generator.event(7), generator.event(7));
        assert_ne!(generator.event(7).event_id, generator.event(8).event_id);
        for jpeg in &generator.jpegs {
            assert!((10_000..=20_000).contains(&jpeg.len()), "jpeg of {} bytes", jpeg.len());
            assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        }
        let events: Vec<EnrichedEvent> = (0..500).map(|i| generator.event(i)).collect();
        let faces = events.iter().filter(|e| e.descriptor.is_some()).count();
        assert!((250..450).contains(&faces), "{faces} faces of 500");
        assert!(events.iter().filter_map(|e| e.descriptor.as_ref()).all(|d| d.values.len() == 192));
        assert!(events.iter().any(|e| !e.matches.is_empty()));
        let streams: std::collections::BTreeSet<_> =
            events.iter().map(|e| e.detection.as_ref().map(|d| d.stream_id.clone())).collect();
        assert_eq!(streams.len(), 8);
    }
}
