//! The rules every consumer applies before trusting an event, so that all of them reject the same
//! messages with the same reasons (which go into dead-letter headers).

use crate::v1::{DetectionEvent, EnrichedEvent, MatchResult, ObjectKind};

/// Why an event is refused: a short reason class and a detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `empty` (no payload), `decode` (not the expected message), `invalid` (a required field is
    /// missing or malformed), `too_large` (a field or the whole message exceeds its limit) or
    /// `sealed` (its sealed biometric fields do not open with their key).
    pub reason: &'static str,
    /// What is wrong, naming the field.
    pub detail: String,
}

impl Invalid {
    /// A required field is missing or malformed.
    pub fn field(detail: impl Into<String>) -> Self {
        Self { reason: "invalid", detail: detail.into() }
    }

    /// The message has no payload.
    pub fn empty() -> Self {
        Self { reason: "empty", detail: "message has no payload".into() }
    }

    /// A field or the whole message exceeds its limit.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self { reason: "too_large", detail: detail.into() }
    }

    /// The event's sealed fields do not open with their key or do not decode (`sealed`).
    pub fn sealed(detail: impl Into<String>) -> Self {
        Self { reason: "sealed", detail: format!("sealed fields: {}", detail.into()) }
    }

    /// The payload is not a `message` (the decoder's `error`).
    pub fn decode(message: &str, error: impl std::fmt::Display) -> Self {
        Self { reason: "decode", detail: format!("not a valid {message}: {error}") }
    }
}

/// Bounds on every field of an event that can grow, so one message can never exceed what the
/// broker serves, what the warehouse holds or what a consumer keeps in memory. Services read them
/// from their settings (`[limits]`); the defaults fit every message Sightline itself produces.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest best-shot JPEG, bytes (ingest's crops are 10-60 KB).
    pub best_shot_max_bytes: usize,
    /// Most landmarks on one detection (RetinaFace gives 5; dense models up to 106).
    pub landmarks_max: usize,
    /// Most values in one descriptor (MobileFaceNet 192, ArcFace 512).
    pub descriptor_max_values: usize,
    /// Most watchlist matches on one event.
    pub matches_max: usize,
    /// Longest id, name or label, bytes of UTF-8.
    pub text_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            best_shot_max_bytes: 1024 * 1024,
            landmarks_max: 128,
            descriptor_max_values: 2048,
            matches_max: 100,
            text_max_bytes: 256,
        }
    }
}

/// The largest `rank` the warehouse holds (`matches.rank` is a UInt16).
pub const RANK_MAX: u32 = u16::MAX as u32;

/// Slack allowed when a box is compared with its frame's edges, pixels (float rounding).
const FRAME_EDGE_TOLERANCE: f32 = 0.5;

/// The largest `schema_version` the warehouse holds (`events.schema_version` is a UInt16).
pub const SCHEMA_VERSION_MAX: u32 = u16::MAX as u32;

/// A message's payload: a missing one (a tombstone) and a zero-byte one are both `empty`.
pub fn payload(payload: Option<&[u8]>) -> Result<&[u8], Invalid> {
    payload.filter(|bytes| !bytes.is_empty()).ok_or_else(Invalid::empty)
}

/// A `schema_version` is present and one the warehouse holds. Every minor version is readable,
/// newer ones included: changes within v1 only add fields, which a consumer that does not know them
/// ignores; an incompatible change gets new topics instead (see `events.proto`).
pub fn schema_version(version: u32) -> Result<(), Invalid> {
    match version {
        0 => Err(Invalid::field("schema_version is missing")),
        1..=SCHEMA_VERSION_MAX => Ok(()),
        _ => Err(Invalid::field(format!("schema_version {version} is more than {SCHEMA_VERSION_MAX}"))),
    }
}

/// Whether `value` is a UUID in its canonical text form (lowercase, hyphenated), the one spelling
/// every id field of the contract uses, so that one id is never stored under two spellings.
pub fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
}

/// `field` is a UUID in canonical form.
pub fn uuid_field(field: &str, value: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(Invalid::field(format!("{field} is missing")));
    }
    if !is_uuid(value) {
        return Err(Invalid::field(format!("{field} {:?} is not a lowercase hyphenated UUID", clip(value))));
    }
    Ok(())
}

/// `field` is text of at most `limits.text_max_bytes`.
pub fn text(field: &str, value: &str, limits: &Limits) -> Result<(), Invalid> {
    if value.len() > limits.text_max_bytes {
        return Err(Invalid::too_large(format!(
            "{field} is {} bytes, more than the {} allowed",
            value.len(),
            limits.text_max_bytes
        )));
    }
    Ok(())
}

/// `field` is a finite number.
pub fn finite(field: &str, value: f32) -> Result<(), Invalid> {
    if !value.is_finite() {
        return Err(Invalid::field(format!("{field} {value} is not a finite number")));
    }
    Ok(())
}

/// At most 64 characters of `value`, for details that quote untrusted input.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A detection as the contract allows it (`prefix` names it in details, e.g. `detection.`): the
/// required fields, every growing field within `limits`, finite scores and a box inside its frame.
pub fn detection(event: &DetectionEvent, prefix: &str, limits: &Limits) -> Result<(), Invalid> {
    let field = |name: &str| format!("{prefix}{name}");
    uuid_field(&field("event_id"), &event.event_id)?;
    if event.stream_id.is_empty() {
        return Err(Invalid::field(format!("{prefix}stream_id is missing")));
    }
    text(&field("stream_id"), &event.stream_id, limits)?;
    text(&field("site"), &event.site, limits)?;
    if event.capture_time_ms <= 0 {
        return Err(Invalid::field(format!("{prefix}capture_time_ms {} is not a time", event.capture_time_ms)));
    }
    if event.track_id.is_empty() {
        return Err(Invalid::field(format!("{prefix}track_id is missing")));
    }
    text(&field("track_id"), &event.track_id, limits)?;
    text(&field("parent_track_id"), &event.parent_track_id, limits)?;
    if !matches!(ObjectKind::try_from(event.kind), Ok(ObjectKind::Face | ObjectKind::Body)) {
        return Err(Invalid::field(format!("{prefix}kind {} is not face or body", event.kind)));
    }
    let Some(bbox) = &event.bbox else {
        return Err(Invalid::field(format!("{prefix}bbox is missing")));
    };
    for (name, value) in [("x", bbox.x), ("y", bbox.y), ("width", bbox.width), ("height", bbox.height)] {
        finite(&field(&format!("bbox.{name}")), value)?;
        if value < 0.0 {
            return Err(Invalid::field(format!("{prefix}bbox.{name} {value} is negative")));
        }
    }
    for (name, end, size) in
        [("width", bbox.x + bbox.width, event.frame_width), ("height", bbox.y + bbox.height, event.frame_height)]
    {
        if size > 0 && end > size as f32 + FRAME_EDGE_TOLERANCE {
            return Err(Invalid::field(format!("{prefix}bbox ends at {end} beyond the frame's {name} {size}")));
        }
    }
    finite(&field("detection_score"), event.detection_score)?;
    finite(&field("quality"), event.quality)?;
    if event.landmarks.len() > limits.landmarks_max {
        return Err(Invalid::too_large(format!(
            "{prefix}landmarks has {} points, more than the {} allowed",
            event.landmarks.len(),
            limits.landmarks_max
        )));
    }
    for point in event.landmarks.iter().chain(event.best_shot_origin.as_ref()) {
        finite(&field("landmarks"), point.x)?;
        finite(&field("landmarks"), point.y)?;
    }
    if let Some(jpeg) = &event.best_shot_jpeg
        && jpeg.len() > limits.best_shot_max_bytes
    {
        return Err(Invalid::too_large(format!(
            "{prefix}best_shot_jpeg is {} bytes, more than the {} allowed",
            jpeg.len(),
            limits.best_shot_max_bytes
        )));
    }
    // A sealed best shot is checked by its size only (the warehouse keeps it sealed; its reader
    // opens it): the JPEG within the limit, plus its field's framing and the 16-byte tag.
    if let Some(sealed) = &event.sealed
        && sealed.ciphertext.len() > limits.best_shot_max_bytes + SEALED_OVERHEAD_BYTES
    {
        return Err(Invalid::too_large(format!(
            "{prefix}sealed is {} bytes, more than a best shot of the {} allowed",
            sealed.ciphertext.len(),
            limits.best_shot_max_bytes
        )));
    }
    Ok(())
}

/// What sealing adds to a best shot's bytes: the protobuf field's tag and length, and AES-GCM's tag.
const SEALED_OVERHEAD_BYTES: usize = 32;

/// An enriched event as the contract allows it: its id, its detection ([`detection`]), a bounded
/// finite descriptor, and at most `limits.matches_max` matches with finite similarities, ranks the
/// warehouse holds and bounded texts.
pub fn enriched(event: &EnrichedEvent, limits: &Limits) -> Result<(), Invalid> {
    uuid_field("event_id", &event.event_id)?;
    let detection_event = event.detection.as_ref().ok_or_else(|| Invalid::field("detection is missing"))?;
    detection(detection_event, "detection.", limits)?;
    text("descriptor_skip_reason", &event.descriptor_skip_reason, limits)?;
    if let Some(descriptor) = &event.descriptor {
        if descriptor.values.len() > limits.descriptor_max_values {
            return Err(Invalid::too_large(format!(
                "descriptor has {} values, more than the {} allowed",
                descriptor.values.len(),
                limits.descriptor_max_values
            )));
        }
        if descriptor.values.iter().any(|v| !v.is_finite()) {
            return Err(Invalid::field("descriptor has a value that is not a finite number"));
        }
        text("descriptor.model_name", &descriptor.model_name, limits)?;
        text("descriptor.model_version", &descriptor.model_version, limits)?;
    }
    if event.matches.len() > limits.matches_max {
        return Err(Invalid::too_large(format!(
            "matches has {} entries, more than the {} allowed",
            event.matches.len(),
            limits.matches_max
        )));
    }
    for (i, m) in event.matches.iter().enumerate() {
        match_result(&format!("matches[{i}]"), m, limits)?;
    }
    if let Some(best) = &event.track_best_match {
        match_result("track_best_match", best, limits)?;
    }
    Ok(())
}

/// One watchlist match, named `prefix` in errors.
fn match_result(prefix: &str, m: &MatchResult, limits: &Limits) -> Result<(), Invalid> {
    let field = |name: &str| format!("{prefix}.{name}");
    uuid_field(&field("list_id"), &m.list_id)?;
    uuid_field(&field("person_id"), &m.person_id)?;
    for (name, value) in [
        ("list_name", &m.list_name),
        ("person_external_id", &m.person_external_id),
        ("person_display_name", &m.person_display_name),
    ] {
        text(&field(name), value, limits)?;
    }
    for (name, value) in [("similarity", m.similarity), ("threshold", m.threshold)] {
        finite(&field(name), value)?;
        if !(-1.0..=1.0).contains(&value) {
            return Err(Invalid::field(format!("{} {value} is outside -1..1", field(name))));
        }
    }
    if m.rank > RANK_MAX {
        return Err(Invalid::field(format!("{} {} is more than {RANK_MAX}", field("rank"), m.rank)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{BoundingBox, Descriptor, MatchResult, Point, SCHEMA_VERSION, SealedFields};

    fn valid_detection() -> DetectionEvent {
        DetectionEvent {
            schema_version: 1,
            event_id: "6f1c2a3b-0000-4000-8000-000000000001".into(),
            stream_id: "cam".into(),
            capture_time_ms: 1,
            track_id: "t".into(),
            kind: ObjectKind::Face as i32,
            bbox: Some(BoundingBox { x: 600.0, y: 0.0, width: 40.0, height: 30.0 }),
            frame_width: 640,
            frame_height: 360,
            landmarks: vec![Point { x: 610.0, y: 10.0 }; 5],
            best_shot_jpeg: Some(vec![0xff; 1000]),
            ..Default::default()
        }
    }

    fn valid_enriched() -> EnrichedEvent {
        EnrichedEvent {
            schema_version: 1,
            event_id: "6f1c2a3b-0000-4000-8000-000000000002".into(),
            detection: Some(valid_detection()),
            descriptor: Some(Descriptor { values: vec![0.1; 192], ..Default::default() }),
            matches: vec![MatchResult {
                list_id: "6f1c2a3b-0000-4000-8000-000000000003".into(),
                person_id: "6f1c2a3b-0000-4000-8000-000000000004".into(),
                similarity: 0.7,
                rank: 1,
                threshold: 0.5,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn detections_missing_what_consumers_need_are_refused() {
        let limits = Limits::default();
        let valid = valid_detection();
        assert_eq!(detection(&valid, "", &limits), Ok(()));
        let boxed = |x: f32, y: f32, width: f32, height: f32| DetectionEvent {
            bbox: Some(BoundingBox { x, y, width, height }),
            ..valid.clone()
        };
        let bad = [
            DetectionEvent { event_id: "nope".into(), ..valid.clone() },
            DetectionEvent { event_id: "6F1C2A3B-0000-4000-8000-000000000001".into(), ..valid.clone() },
            DetectionEvent { stream_id: String::new(), ..valid.clone() },
            DetectionEvent { capture_time_ms: 0, ..valid.clone() },
            DetectionEvent { track_id: String::new(), ..valid.clone() },
            DetectionEvent { kind: 0, ..valid.clone() },
            DetectionEvent { bbox: None, ..valid.clone() },
            boxed(-1.0, 0.0, 10.0, 10.0),
            boxed(0.0, 0.0, f32::NAN, 10.0),
            boxed(620.0, 0.0, 40.0, 10.0),
            boxed(0.0, 350.0, 10.0, 20.0),
            DetectionEvent { detection_score: f32::INFINITY, ..valid.clone() },
            DetectionEvent { quality: f32::NAN, ..valid.clone() },
            DetectionEvent { landmarks: vec![Point { x: f32::NAN, y: 0.0 }], ..valid.clone() },
        ];
        for event in bad {
            let invalid = detection(&event, "detection.", &limits).expect_err("refused");
            assert_eq!(invalid.reason, "invalid", "{}", invalid.detail);
            assert!(invalid.detail.starts_with("detection."), "{}", invalid.detail);
        }
        // Fields over their limits are too large, not invalid.
        let over = [
            DetectionEvent { best_shot_jpeg: Some(vec![0xff; 1024 * 1024 + 1]), ..valid.clone() },
            DetectionEvent { stream_id: "s".repeat(257), ..valid.clone() },
            DetectionEvent { site: "s".repeat(257), ..valid.clone() },
            DetectionEvent { landmarks: vec![Point::default(); 129], ..valid.clone() },
            DetectionEvent {
                sealed: Some(SealedFields { ciphertext: vec![0; 1024 * 1024 + 33], ..Default::default() }),
                ..valid.clone()
            },
        ];
        for event in over {
            let refused = detection(&event, "", &limits).expect_err("refused");
            assert_eq!(refused.reason, "too_large", "{}", refused.detail);
        }
        assert_eq!(schema_version(0).map_err(|e| e.reason), Err("invalid"));
        assert!(schema_version(1).is_ok());
        assert!(schema_version(SCHEMA_VERSION + 1).is_ok(), "newer minor versions are read");
        assert!(schema_version(65_535).is_ok());
        assert!(
            schema_version(65_536).is_err_and(|e| e.reason == "invalid" && e.detail.contains("65536")),
            "a version the warehouse cannot hold is refused, not stored as 65535"
        );
        assert_eq!(payload(None).map_err(|e| e.reason), Err("empty"));
        assert_eq!(payload(Some(&[])).map_err(|e| e.reason), Err("empty"), "zero bytes are empty");
        assert_eq!(payload(Some(&[8, 1])), Ok(&[8u8, 1][..]));
    }

    #[test]
    fn enriched_events_beyond_the_contract_are_refused() {
        let limits = Limits::default();
        assert_eq!(enriched(&valid_enriched(), &limits), Ok(()));
        let with_match = |change: &dyn Fn(&mut MatchResult)| {
            let mut event = valid_enriched();
            change(&mut event.matches[0]);
            event
        };
        let mut too_many = valid_enriched();
        too_many.matches = vec![too_many.matches[0].clone(); 101];
        let mut long_descriptor = valid_enriched();
        long_descriptor.descriptor = Some(Descriptor { values: vec![0.0; 2049], ..Default::default() });
        let mut nan_descriptor = valid_enriched();
        nan_descriptor.descriptor = Some(Descriptor { values: vec![f32::NAN; 192], ..Default::default() });
        let mut bad_best = valid_enriched();
        bad_best.track_best_match = Some(MatchResult { similarity: f32::NAN, ..bad_best.matches[0].clone() });
        let mut good_best = valid_enriched();
        good_best.track_best_match = good_best.matches.first().cloned();
        assert_eq!(enriched(&good_best, &limits), Ok(()));
        let bad = [
            bad_best,
            with_match(&|m| m.similarity = f32::NAN),
            with_match(&|m| m.similarity = f32::INFINITY),
            with_match(&|m| m.threshold = 2.0),
            with_match(&|m| m.rank = 70_000),
            with_match(&|m| m.person_id = "P".into()),
            with_match(&|m| m.list_id = "{6f1c2a3b-0000-4000-8000-000000000003}".into()),
            nan_descriptor,
            EnrichedEvent { detection: None, ..valid_enriched() },
        ];
        for event in bad {
            assert_eq!(enriched(&event, &limits).map_err(|e| e.reason), Err("invalid"), "{event:?}");
        }
        for event in [with_match(&|m| m.person_display_name = "n".repeat(300)), too_many, long_descriptor] {
            assert_eq!(enriched(&event, &limits).map_err(|e| e.reason), Err("too_large"), "{event:?}");
        }
    }
}
