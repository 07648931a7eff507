//! The rules every consumer applies before trusting an event, so that all of them reject the same
//! messages with the same reasons (which go into dead-letter headers).

use crate::v1::{DetectionEvent, ObjectKind, SCHEMA_VERSION};

/// Why an event is refused: a short reason class and a detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `empty` (no payload), `decode` (not the expected message), `schema_version` (newer than this
    /// build understands) or `invalid` (a required field is missing or malformed).
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

    /// The payload is not a `message` (the decoder's `error`).
    pub fn decode(message: &str, error: impl std::fmt::Display) -> Self {
        Self { reason: "decode", detail: format!("not a valid {message}: {error}") }
    }
}

/// A `schema_version` this build can interpret: present and not newer than [`SCHEMA_VERSION`].
pub fn schema_version(version: u32) -> Result<(), Invalid> {
    match version {
        0 => Err(Invalid::field("schema_version is missing")),
        v if v > SCHEMA_VERSION => Err(Invalid {
            reason: "schema_version",
            detail: format!("schema_version {v} is newer than {SCHEMA_VERSION}, the newest this consumer knows"),
        }),
        _ => Ok(()),
    }
}

/// Whether `value` is a UUID in its hyphenated text form.
pub fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The required fields of a detection (`prefix` names it in details, e.g. `detection.`).
pub fn detection(event: &DetectionEvent, prefix: &str) -> Result<(), Invalid> {
    if !is_uuid(&event.event_id) {
        return Err(Invalid::field(format!("{prefix}event_id {:?} is not a UUID", event.event_id)));
    }
    if event.stream_id.is_empty() {
        return Err(Invalid::field(format!("{prefix}stream_id is missing")));
    }
    if event.capture_time_ms <= 0 {
        return Err(Invalid::field(format!("{prefix}capture_time_ms {} is not a time", event.capture_time_ms)));
    }
    if event.track_id.is_empty() {
        return Err(Invalid::field(format!("{prefix}track_id is missing")));
    }
    if !matches!(ObjectKind::try_from(event.kind), Ok(ObjectKind::Face | ObjectKind::Body)) {
        return Err(Invalid::field(format!("{prefix}kind {} is not face or body", event.kind)));
    }
    if event.bbox.is_none() {
        return Err(Invalid::field(format!("{prefix}bbox is missing")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::BoundingBox;

    #[test]
    fn detections_missing_what_consumers_need_are_refused() {
        let valid = DetectionEvent {
            schema_version: 1,
            event_id: "6f1c2a3b-0000-4000-8000-000000000001".into(),
            stream_id: "cam".into(),
            capture_time_ms: 1,
            track_id: "t".into(),
            kind: ObjectKind::Face as i32,
            bbox: Some(BoundingBox::default()),
            ..Default::default()
        };
        assert_eq!(detection(&valid, ""), Ok(()));
        let bad = [
            DetectionEvent { event_id: "nope".into(), ..valid.clone() },
            DetectionEvent { stream_id: String::new(), ..valid.clone() },
            DetectionEvent { capture_time_ms: 0, ..valid.clone() },
            DetectionEvent { track_id: String::new(), ..valid.clone() },
            DetectionEvent { kind: 0, ..valid.clone() },
            DetectionEvent { bbox: None, ..valid.clone() },
        ];
        for event in bad {
            let invalid = detection(&event, "detection.").expect_err("refused");
            assert_eq!(invalid.reason, "invalid");
            assert!(invalid.detail.starts_with("detection."), "{}", invalid.detail);
        }
        assert_eq!(schema_version(2).map_err(|e| e.reason), Err("schema_version"));
        assert_eq!(schema_version(0).map_err(|e| e.reason), Err("invalid"));
        assert!(schema_version(1).is_ok());
    }
}
