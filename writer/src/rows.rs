//! Turning one Kafka message into warehouse rows, or into a reason it cannot land.

use prost::Message;
use serde::Serialize;
use sightline_common::objects::{MediaKind, best_shot_key, best_shot_object, media_key};
use sightline_schemas::v1::EnrichedEvent;
use sightline_schemas::validate;
use uuid::Uuid;

/// Why a message cannot land; it is dead-lettered with its reason and detail (the rules every
/// consumer shares, [`sightline_schemas::validate`]).
pub use sightline_schemas::validate::Invalid as Rejection;

/// A row of `events` (see `schemas/clickhouse/0001_events.sql`; field order is column order).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize)]
#[allow(missing_docs)] // the fields are the table's columns, documented in its DDL
pub struct EventRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub detection_event_id: Uuid,
    pub schema_version: u16,
    pub stream_id: String,
    pub site: String,
    pub capture_time: u32,
    pub capture_ms: i64,
    pub processing_ms: i64,
    pub enriched_ms: i64,
    pub track_id: String,
    pub parent_track_id: String,
    pub kind: i8,
    pub bbox_x: f32,
    pub bbox_y: f32,
    pub bbox_w: f32,
    pub bbox_h: f32,
    pub landmarks_x: Vec<f32>,
    pub landmarks_y: Vec<f32>,
    pub detection_score: f32,
    pub quality: f32,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub frame_count: u32,
    pub frame_width: u32,
    pub frame_height: u32,
    pub track_ended: u8,
    pub has_best_shot: u8,
    pub descriptor: Vec<f32>,
    pub descriptor_model: String,
    pub descriptor_model_version: String,
    pub descriptor_skip_reason: String,
    pub matched_list_ids: Vec<String>,
    pub matched_person_ids: Vec<String>,
    pub top_similarity: f32,
    pub source_partition: i32,
    pub source_offset: i64,
}

/// A row of `matches`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize)]
#[allow(missing_docs)] // the fields are the table's columns, documented in its DDL
pub struct MatchRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub capture_time: u32,
    pub capture_ms: i64,
    pub stream_id: String,
    pub site: String,
    pub list_id: String,
    pub list_name: String,
    pub person_id: String,
    pub person_external_id: String,
    pub person_display_name: String,
    pub similarity: f32,
    pub rank: u16,
    pub threshold: f32,
}

/// A row of `best_shot_jpegs`: where the image is in the object store (`object_key`), and whether
/// the object is sealed (the detection's `SealedFields` as ingest sealed them, opened by the reader
/// with the track's image key) or a JPEG in clear (an event in clear); see
/// `schemas/clickhouse/0015_best_shot_objects.sql`. `jpeg` and `sealed` are the bytes rows landed
/// before 0015 kept in the warehouse; the writer leaves them empty.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, serde::Deserialize)]
#[allow(missing_docs)] // the fields are the table's columns, documented in its DDL
pub struct BestShotRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub capture_time: u32,
    pub stream_id: String,
    #[serde(with = "serde_bytes")]
    pub jpeg: Vec<u8>,
    pub track_id: String,
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
    pub object_key: String,
    pub object_sealed: u8,
}

/// An image to store before the row that names it lands.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageObject {
    /// Its key ([`media_key`]: the same for every copy of the event).
    pub key: String,
    /// The detection's `SealedFields`, encoded, or the JPEG in clear.
    pub bytes: Vec<u8>,
    /// Whether `bytes` are sealed.
    pub sealed: bool,
    /// The stream it was captured on.
    pub stream_id: String,
}

impl ImageObject {
    /// A best shot landed before the object store (migration 0015), named by its event `event_id`
    /// (the row does not say which of its track's reports carried it first), of `stream_id`,
    /// captured at `capture_ms`.
    pub fn best_shot(event_id: Uuid, capture_ms: i64, stream_id: &str, bytes: Vec<u8>, sealed: bool) -> Self {
        let key = media_key(MediaKind::BestShot, capture_ms, stream_id, &event_id.to_string());
        Self { key, bytes, sealed, stream_id: stream_id.to_owned() }
    }
}

/// A row of `tracks` (see `schemas/clickhouse/0002_tracks.sql`): the track's state as of one
/// report; the row with the highest `version` is the track's latest state.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize)]
#[allow(missing_docs)] // the fields are the table's columns, documented in its DDL
pub struct TrackRow {
    pub track_id: String,
    pub stream_id: String,
    pub site: String,
    pub kind: i8,
    pub first_seen: u32,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub dwell_ms: i64,
    pub frame_count: u32,
    pub report_count: u32,
    pub ended: u8,
    pub parent_track_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub best_shot_ms: i64,
    pub has_best_shot: u8,
    pub quality: f32,
    pub best_list_id: String,
    pub best_list_name: String,
    pub best_person_id: String,
    pub best_person_external_id: String,
    pub best_person_display_name: String,
    pub best_similarity: f32,
    pub matched_list_ids: Vec<String>,
    pub matched_person_ids: Vec<String>,
    pub version: u64,
    pub clip_key: String,
    pub clip_start_ms: i64,
}

/// Bits of [`track_version`] below the report sequence: enrichment times in ms up to the year 2109.
const ENRICHED_MS_BITS: u32 = 42;

/// The version of a track's state in one report: its report sequence first, then when it was
/// enriched, so a later report always wins and, among copies of one report, the latest enrichment.
pub fn track_version(report_sequence: u32, enriched_ms: i64) -> u64 {
    let enriched = u64::try_from(enriched_ms).unwrap_or(0) & ((1 << ENRICHED_MS_BITS) - 1);
    (u64::from(report_sequence) << ENRICHED_MS_BITS) | enriched
}

/// The rows one event lands as.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRows {
    /// The event itself.
    pub event: EventRow,
    /// Its watchlist matches.
    pub matches: Vec<MatchRow>,
    /// Its best shot's row, if it carried one...
    pub best_shot: Option<BestShotRow>,
    /// ...and the image, to store first.
    pub image: Option<ImageObject>,
    /// Its track's state as of this report.
    pub track: TrackRow,
}

/// `value` as a UUID (its canonical form was checked by [`validate::enriched`]).
fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Rejection> {
    Uuid::parse_str(value).map_err(|e| Rejection::field(format!("{field} {value:?} is not a UUID: {e}")))
}

/// Decodes and validates an `EnrichedEvent` from `payload`, read at `partition`/`offset`; every
/// field within `limits` ([`validate::enriched`]). For an event in clear (sealed ones go through
/// [`decode_event`], are opened but for their best shot, then [`rows_of`]).
pub fn event_rows(
    payload: Option<&[u8]>,
    partition: i32,
    offset: i64,
    limits: &validate::Limits,
) -> Result<EventRows, Rejection> {
    rows_of(decode_event(payload)?, partition, offset, limits)
}

/// Decodes an `EnrichedEvent` of a minor version this writer reads.
pub fn decode_event(payload: Option<&[u8]>) -> Result<EnrichedEvent, Rejection> {
    let payload = validate::payload(payload)?;
    let event = EnrichedEvent::decode(payload).map_err(|e| Rejection::decode("EnrichedEvent", e))?;
    validate::schema_version(event.schema_version)?;
    Ok(event)
}

/// The rows of `event` (its enrichment's sealed fields opened, its best shot in clear or still
/// sealed, what is erased absent), validated within `limits`.
pub fn rows_of(
    event: EnrichedEvent,
    partition: i32,
    offset: i64,
    limits: &validate::Limits,
) -> Result<EventRows, Rejection> {
    validate::enriched(&event, limits)?;
    let event_id = parse_uuid("event_id", &event.event_id)?;
    let detection = event.detection.ok_or_else(|| Rejection::field("detection is missing"))?;
    let detection_event_id = parse_uuid("detection.event_id", &detection.event_id)?;
    let capture_time = u32::try_from(detection.capture_time_ms / 1000).map_err(|_| {
        Rejection::field(format!("detection.capture_time_ms {} is out of range", detection.capture_time_ms))
    })?;
    // Validated as face or body; `events.kind`'s Enum8 codes are the `ObjectKind` numbers.
    let kind = i8::try_from(detection.kind).map_err(|_| Rejection::field("detection.kind is out of range"))?;
    let bbox = detection.bbox.ok_or_else(|| Rejection::field("detection.bbox is missing"))?;

    let (descriptor, descriptor_model, descriptor_model_version) = match event.descriptor {
        Some(d) => (d.values, d.model_name, d.model_version),
        None => (Vec::new(), String::new(), String::new()),
    };
    let matches: Vec<MatchRow> = event
        .matches
        .iter()
        .map(|m| MatchRow {
            event_id,
            capture_time,
            capture_ms: detection.capture_time_ms,
            stream_id: detection.stream_id.clone(),
            site: detection.site.clone(),
            list_id: m.list_id.clone(),
            list_name: m.list_name.clone(),
            person_id: m.person_id.clone(),
            person_external_id: m.person_external_id.clone(),
            person_display_name: m.person_display_name.clone(),
            similarity: m.similarity,
            rank: u16::try_from(m.rank).unwrap_or(u16::MAX), // bounded by validate::enriched
            threshold: m.threshold,
        })
        .collect();
    let first_seen = u32::try_from(detection.first_seen_ms.max(0) / 1000).unwrap_or(u32::MAX);
    // The track's best match: the one enrich carried over the track's reports, else this report's.
    let best = event
        .track_best_match
        .as_ref()
        .or_else(|| event.matches.iter().max_by(|a, b| a.similarity.total_cmp(&b.similarity)));
    let mut matched_list_ids: Vec<String> = event.matches.iter().map(|m| m.list_id.clone()).collect();
    let mut matched_person_ids: Vec<String> = event.matches.iter().map(|m| m.person_id.clone()).collect();
    if let Some(best) = best
        && !matched_person_ids.contains(&best.person_id)
    {
        matched_list_ids.push(best.list_id.clone());
        matched_person_ids.push(best.person_id.clone());
    }
    let track = TrackRow {
        track_id: detection.track_id.clone(),
        stream_id: detection.stream_id.clone(),
        site: detection.site.clone(),
        kind,
        first_seen,
        first_seen_ms: detection.first_seen_ms,
        last_seen_ms: detection.last_seen_ms,
        dwell_ms: (detection.last_seen_ms - detection.first_seen_ms).max(0),
        frame_count: detection.frame_count,
        report_count: detection.report_sequence.saturating_add(1),
        ended: u8::from(detection.track_ended),
        parent_track_id: detection.parent_track_id.clone(),
        event_id,
        best_shot_ms: detection.capture_time_ms,
        has_best_shot: u8::from(detection.best_shot_jpeg.is_some() || detection.sealed.is_some()),
        quality: detection.quality,
        best_list_id: best.map(|m| m.list_id.clone()).unwrap_or_default(),
        best_list_name: best.map(|m| m.list_name.clone()).unwrap_or_default(),
        best_person_id: best.map(|m| m.person_id.clone()).unwrap_or_default(),
        best_person_external_id: best.map(|m| m.person_external_id.clone()).unwrap_or_default(),
        best_person_display_name: best.map(|m| m.person_display_name.clone()).unwrap_or_default(),
        best_similarity: best.map_or(0.0, |m| m.similarity),
        matched_list_ids,
        matched_person_ids,
        version: track_version(detection.report_sequence, event.enriched_time_ms),
        clip_key: detection.clip_key.clone(),
        clip_start_ms: detection.clip_start_ms,
    };
    // A sealed detection part holds only the best shot (ingest seals nothing else into it).
    let image = best_shot_object(&detection).map(|(bytes, sealed)| ImageObject {
        key: best_shot_key(&detection),
        bytes,
        sealed,
        stream_id: detection.stream_id.clone(),
    });
    let best_shot = image.as_ref().map(|image| BestShotRow {
        event_id,
        capture_time,
        stream_id: detection.stream_id.clone(),
        jpeg: Vec::new(),
        track_id: detection.track_id.clone(),
        sealed: Vec::new(),
        object_key: image.key.clone(),
        object_sealed: u8::from(image.sealed),
    });
    let row = EventRow {
        event_id,
        detection_event_id,
        // Validated to fit (validate::schema_version).
        schema_version: u16::try_from(event.schema_version).unwrap_or(u16::MAX),
        stream_id: detection.stream_id,
        site: detection.site,
        capture_time,
        capture_ms: detection.capture_time_ms,
        processing_ms: detection.processing_time_ms,
        enriched_ms: event.enriched_time_ms,
        track_id: detection.track_id,
        parent_track_id: detection.parent_track_id,
        kind,
        bbox_x: bbox.x,
        bbox_y: bbox.y,
        bbox_w: bbox.width,
        bbox_h: bbox.height,
        landmarks_x: detection.landmarks.iter().map(|p| p.x).collect(),
        landmarks_y: detection.landmarks.iter().map(|p| p.y).collect(),
        detection_score: detection.detection_score,
        quality: detection.quality,
        first_seen_ms: detection.first_seen_ms,
        last_seen_ms: detection.last_seen_ms,
        frame_count: detection.frame_count,
        frame_width: detection.frame_width,
        frame_height: detection.frame_height,
        track_ended: u8::from(detection.track_ended),
        has_best_shot: u8::from(best_shot.is_some()),
        descriptor,
        descriptor_model,
        descriptor_model_version,
        descriptor_skip_reason: event.descriptor_skip_reason,
        matched_list_ids: event.matches.iter().map(|m| m.list_id.clone()).collect(),
        matched_person_ids: event.matches.iter().map(|m| m.person_id.clone()).collect(),
        top_similarity: event.matches.iter().map(|m| m.similarity).fold(0.0, f32::max),
        source_partition: partition,
        source_offset: offset,
    };
    Ok(EventRows { event: row, matches, best_shot, image, track })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_schemas::v1::{BoundingBox, DetectionEvent, MatchResult, ObjectKind, SealedFields};

    fn valid_event() -> EnrichedEvent {
        EnrichedEvent {
            schema_version: 1,
            event_id: Uuid::new_v4().to_string(),
            detection: Some(DetectionEvent {
                schema_version: 1,
                event_id: Uuid::new_v4().to_string(),
                stream_id: "cam-1".into(),
                site: "hq".into(),
                capture_time_ms: 1_700_000_000_123,
                track_id: Uuid::new_v4().to_string(),
                kind: ObjectKind::Face as i32,
                bbox: Some(BoundingBox { x: 1.0, y: 2.0, width: 3.0, height: 4.0 }),
                best_shot_jpeg: Some(vec![0xff, 0xd8]),
                ..Default::default()
            }),
            matches: vec![MatchResult {
                list_id: Uuid::new_v4().to_string(),
                person_id: Uuid::new_v4().to_string(),
                similarity: 0.8,
                rank: 1,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_event_becomes_rows() {
        let bytes = valid_event().encode_to_vec();
        let rows = event_rows(Some(&bytes), 2, 42, &validate::Limits::default()).expect("valid");
        assert_eq!(rows.event.capture_time, 1_700_000_000);
        assert_eq!(rows.event.kind, 1);
        assert_eq!(rows.event.matched_person_ids.len(), 1);
        assert_eq!((rows.event.source_partition, rows.event.source_offset), (2, 42));
        assert_eq!(rows.matches.len(), 1);
        let image = rows.image.expect("an image");
        assert_eq!((image.bytes.as_slice(), image.sealed), (&[0xff, 0xd8][..], false));
        let best_shot = rows.best_shot.expect("a best shot");
        assert!(best_shot.jpeg.is_empty() && best_shot.sealed.is_empty(), "the warehouse keeps no bytes");
        assert_eq!((best_shot.object_key, best_shot.object_sealed), (image.key, 0));
    }

    #[test]
    fn a_sealed_best_shot_lands_sealed() {
        let mut event = valid_event();
        let detection = event.detection.as_mut().expect("detection");
        detection.best_shot_jpeg = None;
        let sealed = SealedFields {
            key_id: Uuid::new_v4().to_string(),
            key_day: 3,
            nonce: vec![1; 12],
            ciphertext: vec![7; 40],
        };
        detection.sealed = Some(sealed.clone());
        let rows = rows_of(event, 0, 0, &validate::Limits::default()).expect("valid");
        let best_shot = rows.best_shot.expect("a best shot");
        let image = rows.image.expect("an image");
        assert!(image.sealed, "no JPEG in clear");
        assert_eq!(SealedFields::decode(image.bytes.as_slice()).expect("decodes"), sealed);
        assert_eq!(best_shot.track_id, rows.event.track_id, "the track it opens with");
        assert_eq!((best_shot.object_key, best_shot.object_sealed), (image.key.clone(), 1));
        let track_id = &rows.event.track_id;
        assert_eq!(image.key, format!("best-shots/2023-11-14/cam-1/{track_id}-1700000000123"));
        assert_eq!((rows.event.has_best_shot, rows.track.has_best_shot), (1, 1));
    }

    #[test]
    fn bad_messages_are_rejected_with_their_reason() {
        let limits = validate::Limits::default();
        assert_eq!(event_rows(None, 0, 0, &limits).unwrap_err().reason, "empty");
        assert_eq!(event_rows(Some(&[]), 0, 0, &limits).unwrap_err().reason, "empty", "zero bytes are empty");
        assert_eq!(event_rows(Some(b"\xff\xff\xff garbage"), 0, 0, &limits).unwrap_err().reason, "decode");
        let mut newer = valid_event();
        newer.schema_version = 99;
        let read = event_rows(Some(&newer.encode_to_vec()), 0, 0, &limits).expect("newer minor versions are read");
        assert_eq!(read.event.schema_version, 99);
        let mut too_new = valid_event();
        too_new.schema_version = 65_536;
        assert_eq!(event_rows(Some(&too_new.encode_to_vec()), 0, 0, &limits).unwrap_err().reason, "invalid");
        let mut unversioned = valid_event();
        unversioned.schema_version = 0;
        assert_eq!(event_rows(Some(&unversioned.encode_to_vec()), 0, 0, &limits).unwrap_err().reason, "invalid");
        let mut no_stream = valid_event();
        if let Some(d) = no_stream.detection.as_mut() {
            d.stream_id.clear();
        }
        let rejection = event_rows(Some(&no_stream.encode_to_vec()), 0, 0, &limits).unwrap_err();
        assert_eq!(rejection.reason, "invalid");
        assert!(rejection.detail.contains("stream_id"), "{}", rejection.detail);
        let mut bad_id = valid_event();
        bad_id.event_id = "not-a-uuid".into();
        assert_eq!(event_rows(Some(&bad_id.encode_to_vec()), 0, 0, &limits).unwrap_err().reason, "invalid");
    }
}
