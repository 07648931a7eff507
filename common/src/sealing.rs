//! Sealing and opening the biometric fields of the v1 events (docs/privacy.md, section 3), with the
//! keys of [`crate::keys`]. Producers seal just before producing; consumers open just after
//! decoding, so everything in between works on the clear fields as before.

use sightline_schemas::v1::{AlertEvent, DetectionEvent, EnrichedEvent, ProtectedFields, SealedFields};

use crate::keys::{DataKey, KeyError, KeyRing, KeyState, Opened, track_aad};
use prost::Message as _;

/// Why an event's sealed fields could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The bytes do not open or decode: dead-letter the message with this reason.
    #[error("{0}")]
    Invalid(String),
    /// Its key was not loaded: retry (never take the fields for erased).
    #[error("the key of its sealed fields is not loaded")]
    Unavailable,
}

impl From<OpenError> for sightline_schemas::validate::Invalid {
    /// The dead letter's reason (`sealed`); a key not loaded is a bug of the caller, dead-lettered
    /// so it is seen rather than lost.
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Invalid(reason) => Self::sealed(reason),
            OpenError::Unavailable => Self::sealed("its key was not loaded"),
        }
    }
}

/// How many sealed parts an event had, and how many of them were erased (their key destroyed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// Sealed parts found.
    pub sealed: u32,
    /// Of those, the parts whose key is destroyed: their fields are left absent.
    pub erased: u32,
}

impl Opening {
    fn add(&mut self, other: Opening) {
        self.sealed += other.sealed;
        self.erased += other.erased;
    }
}

fn open_part(ring: &KeyRing, sealed: &SealedFields, aad: &[u8]) -> Result<Option<ProtectedFields>, OpenError> {
    match ring.open(sealed, aad) {
        Opened::Clear(fields) => Ok(Some(*fields)),
        Opened::Erased => Ok(None),
        Opened::Invalid(reason) => Err(OpenError::Invalid(reason)),
        Opened::Unavailable => Err(OpenError::Unavailable),
    }
}

/// Moves the detection's best shot into `sealed`.
pub fn seal_detection(event: &mut DetectionEvent, key: &DataKey) -> Result<(), KeyError> {
    let Some(jpeg) = event.best_shot_jpeg.take() else { return Ok(()) };
    let fields = ProtectedFields { best_shot_jpeg: Some(jpeg), ..Default::default() };
    event.sealed = Some(key.seal(&fields, &track_aad(&event.stream_id, &event.track_id))?);
    Ok(())
}

/// Restores the detection's best shot from `sealed` (absent when its key is destroyed). `sealed`
/// is kept, so the event can be passed on as it came once [`strip_detection`] drops the clear copy.
pub fn open_detection(event: &mut DetectionEvent, ring: &KeyRing) -> Result<Opening, OpenError> {
    let Some(sealed) = &event.sealed else { return Ok(Opening::default()) };
    let opened = open_part(ring, sealed, &track_aad(&event.stream_id, &event.track_id))?;
    let erased = opened.is_none();
    event.best_shot_jpeg = opened.and_then(|fields| fields.best_shot_jpeg);
    Ok(Opening { sealed: 1, erased: u32::from(erased) })
}

/// Drops the clear best shot of a detection whose best shot is sealed, before it is passed on.
pub fn strip_detection(event: &mut DetectionEvent) {
    if event.sealed.is_some() {
        event.best_shot_jpeg = None;
    }
}

/// Moves the enriched event's descriptor, matches and track best match into `sealed` (the
/// detection's best shot stays as ingest sealed it).
pub fn seal_enriched(event: &mut EnrichedEvent, key: &DataKey) -> Result<(), KeyError> {
    let Some(detection) = event.detection.as_mut() else { return Ok(()) };
    strip_detection(detection);
    if event.descriptor.is_none() && event.matches.is_empty() && event.track_best_match.is_none() {
        return Ok(());
    }
    let aad = track_aad(&detection.stream_id, &detection.track_id);
    let fields = ProtectedFields {
        best_shot_jpeg: None,
        descriptor: event.descriptor.take(),
        matches: std::mem::take(&mut event.matches),
        track_best_match: event.track_best_match.take(),
    };
    event.sealed = Some(key.seal(&fields, &aad)?);
    Ok(())
}

/// The sealed parts of an enriched event, whose keys [`KeyRing::load`] must load before opening.
pub fn sealed_parts(event: &EnrichedEvent) -> impl Iterator<Item = &SealedFields> {
    event.sealed.iter().chain(event.detection.as_ref().and_then(|d| d.sealed.as_ref()))
}

/// Restores the enriched event's biometric fields from its sealed parts (those whose key is
/// destroyed are left absent).
pub fn open_enriched(event: &mut EnrichedEvent, ring: &KeyRing) -> Result<Opening, OpenError> {
    let mut opening = Opening::default();
    let Some(detection) = event.detection.as_mut() else { return Ok(opening) };
    opening.add(open_detection(detection, ring)?);
    opening.add(open_enrichment(event, ring)?);
    Ok(opening)
}

/// What the warehouse keeps of an enriched event: its descriptor, matches and track best match
/// opened (the warehouse searches and counts them), its best shot left sealed when its key is held
/// (the reader opens it, [`open_stored_best_shot`]; the writer only checks it can still be opened)
/// and dropped when its key is destroyed (erased or expired: counted as erased).
pub fn open_enriched_keeping_images(event: &mut EnrichedEvent, ring: &KeyRing) -> Result<Opening, OpenError> {
    let mut opening = Opening::default();
    let Some(detection) = event.detection.as_mut() else { return Ok(opening) };
    if let Some(sealed) = &detection.sealed {
        let erased = match ring.state(sealed) {
            KeyState::Held => false,
            KeyState::Destroyed => true,
            KeyState::Unavailable => return Err(OpenError::Unavailable),
            KeyState::Invalid(reason) => return Err(OpenError::Invalid(reason)),
        };
        if erased {
            detection.sealed = None;
        }
        opening.add(Opening { sealed: 1, erased: u32::from(erased) });
    }
    opening.add(open_enrichment(event, ring)?);
    Ok(opening)
}

/// Restores the enriched event's own sealed part (descriptor, matches, track best match), left
/// absent when its key is destroyed.
fn open_enrichment(event: &mut EnrichedEvent, ring: &KeyRing) -> Result<Opening, OpenError> {
    let (Some(sealed), Some(detection)) = (&event.sealed, &event.detection) else { return Ok(Opening::default()) };
    let opened = open_part(ring, sealed, &track_aad(&detection.stream_id, &detection.track_id))?;
    let erased = opened.is_none();
    let fields = opened.unwrap_or_default();
    event.descriptor = fields.descriptor;
    event.matches = fields.matches;
    event.track_best_match = fields.track_best_match;
    Ok(Opening { sealed: 1, erased: u32::from(erased) })
}

/// Why a best shot the warehouse keeps sealed could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoredImageError {
    /// Its key could not be read (PostgreSQL): try again.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The stored bytes do not decode or open with their key (altered, or moved to another track).
    #[error("the stored best shot does not open: {0}")]
    Invalid(String),
}

/// The JPEG of a best shot the warehouse keeps sealed (`stored`: the detection's `SealedFields`,
/// encoded, as the writer landed it) of track `stream_id`/`track_id`: `None` when its key is
/// destroyed (the person is erased or the image expired). Loads the key into `ring` if needed.
pub async fn open_stored_best_shot(
    ring: &KeyRing,
    stored: &[u8],
    stream_id: &str,
    track_id: &str,
) -> Result<Option<Vec<u8>>, StoredImageError> {
    let sealed =
        SealedFields::decode(stored).map_err(|e| StoredImageError::Invalid(format!("not sealed fields: {e}")))?;
    let id = uuid::Uuid::parse_str(&sealed.key_id)
        .map_err(|_| StoredImageError::Invalid(format!("it names key {:?}, not a UUID", sealed.key_id)))?;
    let Some(key) = ring.key(sealed.key_day, id).await? else { return Ok(None) };
    let fields = key.open(&sealed, &track_aad(stream_id, track_id)).map_err(StoredImageError::Invalid)?;
    Ok(fields.best_shot_jpeg)
}

/// Seals the alert's match with `key` (the template key of the event that raised it): the clear
/// match keeps only ids, similarity, rank and threshold.
pub fn seal_alert(event: &mut AlertEvent, key: &DataKey) -> Result<(), KeyError> {
    let Some(identity) = event.r#match.as_mut() else { return Ok(()) };
    let fields = ProtectedFields { matches: vec![identity.clone()], ..Default::default() };
    event.sealed = Some(key.seal(&fields, &track_aad(&event.stream_id, &event.track_id))?);
    identity.list_name.clear();
    identity.person_external_id.clear();
    identity.person_display_name.clear();
    Ok(())
}

/// Restores the alert's match from `sealed` (`None` when its key is destroyed: the alert's person
/// is erased).
pub fn open_alert(event: &mut AlertEvent, ring: &KeyRing) -> Result<Opening, OpenError> {
    let Some(sealed) = &event.sealed else { return Ok(Opening::default()) };
    let opened = open_part(ring, sealed, &track_aad(&event.stream_id, &event.track_id))?;
    let erased = opened.is_none();
    event.r#match = opened.and_then(|mut fields| fields.matches.pop());
    Ok(Opening { sealed: 1, erased: u32::from(erased) })
}
