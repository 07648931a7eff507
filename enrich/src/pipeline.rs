//! The enrich loop: detections in, enriched events out, in a consumer group that scales by partitions.
//!
//! Each batch of messages goes through: decode and validate (bad ones to the dead-letter topic with
//! the reason) → align the faces worth describing ([`crate::describe`]), unless the report's best shot
//! was described before ([`crate::tracks`]) → descriptors in one model run (model errors retried
//! with backoff, then dead-lettered) → watchlist matches ([`crate::index`]) and the track's best
//! match so far →
//! produce every enriched event with an idempotent producer and wait for the broker's
//! acknowledgements → commit the batch's offsets (owned partitions only).
//!
//! The guarantee, without Kafka transactions (tansu 0.6 has none): offsets are committed only after
//! the outputs are acknowledged, so a crash replays the uncommitted tail (at least once); each
//! enriched event's id is derived from its detection's id ([`enriched_event_id`]), so a replayed
//! detection yields the same id and the writer's ReplacingMergeTree keeps one row. Every detection
//! therefore ends up as exactly one enriched event in the warehouse.

use prost::Message as _;
use rdkafka::Message;
use rdkafka::producer::FutureProducer;
use sightline_common::clock::now_ms;
use sightline_common::consumer::{self, GroupConsumer, Message as KafkaMessage};
use sightline_common::http::Readiness;
use sightline_common::kafka::{OutRecord, produce_until_acknowledged};
use sightline_common::keys::{KeyRing, Sealer, TrackToSeal, until_done};
use sightline_common::retry::Backoff;
use sightline_common::sealing::{open_detection, seal_enriched, strip_detection};
use sightline_common::shutdown::Shutdown;
use sightline_schemas::v1::{Descriptor, DetectionEvent, EnrichedEvent, MatchResult, ObjectKind, SCHEMA_VERSION};
use sightline_schemas::validate;
use sightline_vision::descriptor::{FaceDescriptor, MODEL_NAME, MODEL_VERSION};
use sightline_vision::frame::RgbFrame;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::describe::{FaceGate, aligned_face};
use crate::index::Candidate;
use crate::metrics::EnrichMetrics;
use crate::tracks::{TrackKey, TrackMemory};
use crate::watchlists::SharedIndex;

/// `descriptor_skip_reason` of a face that matched no one on a stream that keeps such faces as
/// counts only (its descriptor and best shot are dropped).
pub const NOT_KEPT: &str = "unmatched_not_kept";

/// `descriptor_skip_reason` of a face whose best shot is erased (its image key is destroyed).
pub const ERASED: &str = "erased";

/// Namespace of enriched event ids (UUID v5 of the detection's event id).
const ENRICHED_NAMESPACE: Uuid = Uuid::from_u128(0x5e1f_0e4a_1c2b_4d7e_9a10_6b3c_8d2f_e001);

/// The enriched event id of a detection: the same on every replay.
pub fn enriched_event_id(detection_event_id: &str) -> Uuid {
    Uuid::new_v5(&ENRICHED_NAMESPACE, detection_event_id.as_bytes())
}

/// What the loop needs.
pub struct Pipeline {
    /// Topic written.
    pub output_topic: String,
    /// Messages per batch at most.
    pub batch_max: usize,
    /// How long a batch waits for more messages after its first.
    pub batch_linger: Duration,
    /// Model failures tolerated per batch before its faces are dead-lettered.
    pub model_retries: u32,
    /// When a face is worth describing.
    pub gate: FaceGate,
    /// The descriptor model (run on a blocking thread).
    pub describer: Arc<Mutex<FaceDescriptor>>,
    /// The watchlists.
    pub index: SharedIndex,
    /// Idempotent producer of enriched events.
    pub producer: FutureProducer,
    /// Metrics.
    pub metrics: EnrichMetrics,
    /// Bounds on the fields of a detection; a detection beyond them is dead-lettered.
    pub limits: validate::Limits,
    /// The face tracks seen: descriptors of their best shots and their best matches.
    pub tracks: Mutex<TrackMemory>,
    /// Opens the best shots ingest sealed.
    pub ring: KeyRing,
    /// Seals descriptors and matches with the tracks' template keys (none: `privacy.seal` is off).
    pub sealer: Option<Sealer>,
    /// The service's readiness: not ready while track keys cannot be read or made.
    pub readiness: Readiness,
}

/// One message of a batch, once looked at.
enum Item {
    /// A valid detection and where its descriptor comes from.
    Detection { event: Box<DetectionEvent>, face: Face },
    /// Already dead-lettered.
    Done,
}

/// Where a detection's descriptor comes from.
enum Face {
    /// The batch's aligned face at this position (shared by reports of one best shot).
    Describe(usize),
    /// The track's earlier report with the same best shot was described: this descriptor.
    Known(Vec<f32>),
    /// None, for this reason.
    Skip(&'static str),
}

/// The most similar of `matches`.
fn best_match<'a>(matches: impl IntoIterator<Item = &'a MatchResult>) -> Option<&'a MatchResult> {
    matches.into_iter().max_by(|a, b| a.similarity.total_cmp(&b.similarity))
}

/// The track `event` is sealed for, when [`Pipeline::seal`] will seal anything of it.
fn to_seal(event: &EnrichedEvent) -> Option<TrackToSeal<'_>> {
    let detection = event.detection.as_ref()?;
    let sealed = event.descriptor.is_some() || !event.matches.is_empty() || event.track_best_match.is_some();
    sealed.then_some(TrackToSeal {
        stream_id: &detection.stream_id,
        track_id: &detection.track_id,
        parent_track_id: &detection.parent_track_id,
        first_seen_ms: detection.first_seen_ms,
        matched: event.track_best_match.is_some(),
    })
}

impl Pipeline {
    /// Runs until `shutdown`: the batch in hand is finished (or left uncommitted, to be replayed).
    /// Offsets are committed only once every output of the batch is acknowledged.
    pub async fn run(&self, consumer: &GroupConsumer, mut shutdown: Shutdown) {
        while let Some(batch) = consumer.recv_batch(self.batch_max, self.batch_linger, &mut shutdown).await {
            if !self.process(consumer, &batch, &shutdown).await {
                return; // shutdown mid-batch: nothing committed, the batch is read again
            }
            consumer.commit(consumer::next_offsets(&batch)).await;
        }
    }

    /// Enriches one batch; `false` if shutdown interrupted it before every output was acknowledged.
    async fn process(&self, consumer: &GroupConsumer, batch: &[KafkaMessage<'_>], shutdown: &Shutdown) -> bool {
        let checked: Vec<Result<DetectionEvent, validate::Invalid>> = batch.iter().map(|m| self.decode(m)).collect();
        let sealed = checked.iter().filter_map(|c| c.as_ref().ok().and_then(|e| e.sealed.as_ref()));
        if self.until_keys(shutdown, || self.ring.load(sealed.clone())).await.is_none() {
            return false;
        }
        let mut items = Vec::with_capacity(batch.len());
        let mut faces = Vec::new();
        let mut shots: HashMap<(TrackKey, i64), usize> = HashMap::new();
        for (message, checked) in batch.iter().zip(checked) {
            let opened = checked.and_then(|event| self.open(event));
            items.push(match opened {
                Ok((event, erased)) => {
                    let face = if erased { Face::Skip(ERASED) } else { self.face_of(&event, &mut faces, &mut shots) };
                    Item::Detection { event: Box::new(event), face }
                }
                Err(invalid) => {
                    if !consumer.dead_letter(message, invalid.reason, &invalid.detail, shutdown).await {
                        return false;
                    }
                    Item::Done
                }
            });
        }
        let descriptors = match self.describe(faces, shutdown).await {
            Some(Ok(descriptors)) => Some(descriptors),
            Some(Err(error)) => {
                // The model keeps failing on this batch: its faces go to the dead-letter topic.
                for (message, item) in batch.iter().zip(&items) {
                    if matches!(item, Item::Detection { face: Face::Describe(_), .. })
                        && !consumer.dead_letter(message, "model_error", &error, shutdown).await
                    {
                        return false;
                    }
                }
                None
            }
            None => return false,
        };
        let descriptors = descriptors.unwrap_or_default();
        let (mut inputs, mut enriched_events) = (Vec::new(), Vec::new());
        for (index, (message, item)) in batch.iter().zip(items).enumerate() {
            let Item::Detection { mut event, face } = item else { continue };
            let (mut descriptor, mut skip_reason) = match face {
                Face::Describe(at) => match descriptors.get(at) {
                    Some(values) => (Some(values.clone()), String::new()),
                    None => continue, // dead-lettered above
                },
                Face::Known(values) => {
                    self.metrics.descriptors_reused.inc();
                    (Some(values), String::new())
                }
                Face::Skip(reason) => (None, reason.to_owned()),
            };
            let (matches, track_best_match) = match &descriptor {
                Some(values) => self.match_track(&event, values),
                None => (Vec::new(), None),
            };
            // Privacy by default: on a stream that keeps unmatched faces as counts only, a face that
            // matches no one (and whose track matched no one) goes on without descriptor or best
            // shot, and the keys of its track go when it ends.
            let not_kept = event.count_only_unmatched_faces
                && event.kind == ObjectKind::Face as i32
                && matches.is_empty()
                && track_best_match.is_none();
            if not_kept {
                descriptor = None;
                if skip_reason.is_empty() {
                    skip_reason = NOT_KEPT.to_owned();
                }
                event.best_shot_jpeg = None;
                event.sealed = None;
                if event.track_ended && !self.destroy_unmatched_keys(&event, shutdown).await {
                    return false;
                }
            }
            self.metrics.observe(skip_reason.as_str(), matches.len());
            let enriched = EnrichedEvent {
                schema_version: SCHEMA_VERSION,
                event_id: enriched_event_id(&event.event_id).to_string(),
                descriptor: descriptor.map(|values| Descriptor {
                    values,
                    model_name: MODEL_NAME.into(),
                    model_version: MODEL_VERSION.into(),
                }),
                descriptor_skip_reason: skip_reason,
                track_best_match,
                matches,
                enriched_time_ms: now_ms(),
                detection: Some(*event),
                sealed: None,
            };
            enriched_events.push((index, message, enriched));
        }
        // The batch's new track keys made, and its matched tracks marked, in two statements.
        if let Some(sealer) = &self.sealer {
            let tracks: Vec<TrackToSeal<'_>> = enriched_events.iter().filter_map(|(_, _, e)| to_seal(e)).collect();
            if self.until_keys(shutdown, || sealer.prepare(&tracks)).await.is_none() {
                return false;
            }
        }
        let mut outputs = Vec::with_capacity(enriched_events.len());
        for (index, message, mut enriched) in enriched_events {
            if !self.seal(&mut enriched, shutdown).await {
                return false;
            }
            inputs.push(index);
            outputs.push(OutRecord { key: message.key().map(<[u8]>::to_vec), payload: enriched.encode_to_vec() });
        }
        self.produce_all(consumer, batch, &inputs, &outputs, shutdown).await
    }

    /// Where `event`'s descriptor comes from: the track's memory, a face of this batch with the same
    /// best shot, or a new aligned face pushed to `faces` (`shots` maps best shots to their place).
    fn face_of(
        &self,
        event: &DetectionEvent,
        faces: &mut Vec<RgbFrame>,
        shots: &mut HashMap<(TrackKey, i64), usize>,
    ) -> Face {
        let shot = ((event.stream_id.clone(), event.track_id.clone()), event.capture_time_ms);
        if event.kind == ObjectKind::Face as i32 {
            if let Some(known) =
                self.tracks.lock().ok().and_then(|m| m.descriptor(&shot.0, shot.1).map(<[f32]>::to_vec))
            {
                return Face::Known(known);
            }
            if let Some(&at) = shots.get(&shot) {
                return Face::Describe(at);
            }
        }
        match aligned_face(event, &self.gate) {
            Ok(face) => {
                faces.push(face);
                shots.insert(shot, faces.len() - 1);
                Face::Describe(faces.len() - 1)
            }
            Err(reason) => Face::Skip(reason.as_str()),
        }
    }

    /// The matches of `event`'s `descriptor`, and the track's best match so far: the best of these and
    /// of the track's best-matching earlier shot, searched again in the watchlists as they are now.
    fn match_track(&self, event: &DetectionEvent, descriptor: &[f32]) -> (Vec<MatchResult>, Option<MatchResult>) {
        let matches = self.matches(&event.stream_id, descriptor);
        let Ok(mut memory) = self.tracks.lock() else {
            let best = best_match(&matches).cloned();
            return (matches, best);
        };
        let track = (event.stream_id.clone(), event.track_id.clone());
        let earlier = memory
            .best_descriptor(&track, descriptor)
            .map(|values| self.matches(&event.stream_id, values))
            .unwrap_or_default();
        let best = best_match(matches.iter().chain(&earlier)).cloned();
        if event.track_ended {
            memory.forget(&track);
        } else {
            let similarity = best_match(&matches).map(|m| m.similarity);
            memory.remember(&track, event.capture_time_ms, descriptor, similarity);
        }
        (matches, best)
    }

    /// Runs track-key work until it succeeds ([`until_done`]): each failure counted, the service not
    /// ready meanwhile; `None` on shutdown first.
    async fn until_keys<T, Fut>(&self, shutdown: &Shutdown, operation: impl FnMut() -> Fut) -> Option<T>
    where
        Fut: std::future::Future<Output = Result<T, sightline_common::keys::KeyError>>,
    {
        until_done(shutdown, Some(&self.readiness), &self.metrics.key_errors, operation).await
    }

    /// Destroys the keys of `event`'s track, which ended matching no one on a counts-only stream;
    /// false when stopped while PostgreSQL fails.
    async fn destroy_unmatched_keys(&self, event: &DetectionEvent, shutdown: &Shutdown) -> bool {
        let Some(sealer) = &self.sealer else { return true };
        self.until_keys(shutdown, || sealer.destroy_unmatched(&event.stream_id, &event.track_id)).await.is_some()
    }

    /// Seals `enriched`'s descriptor and matches with its track's template key (created on the
    /// track's first sealed report, PostgreSQL retried); `false` on shutdown.
    async fn seal(&self, enriched: &mut EnrichedEvent, shutdown: &Shutdown) -> bool {
        let Some(detection) = enriched.detection.as_mut() else { return true };
        strip_detection(detection);
        let Some(sealer) = &self.sealer else { return true };
        let Some(track) = to_seal(enriched) else { return true };
        let (stream_id, track_id) = (track.stream_id.to_owned(), track.track_id.to_owned());
        let (first_seen_ms, parent) = (track.first_seen_ms, track.parent_track_id.to_owned());
        let ended = enriched.detection.as_ref().is_some_and(|d| d.track_ended);
        let Some(key) = self.until_keys(shutdown, || sealer.key(&stream_id, &track_id, first_seen_ms)).await else {
            return false;
        };
        // A matched track's keys are kept for the matched periods (docs/privacy.md).
        if track.matched
            && self.until_keys(shutdown, || sealer.mark_matched(&stream_id, &track_id, &parent)).await.is_none()
        {
            return false;
        }
        if ended {
            sealer.forget(&stream_id, &track_id);
        }
        match seal_enriched(enriched, &key) {
            Ok(()) => true,
            Err(error) => {
                // Only the system's random source can fail here; the event is not produced in clear.
                tracing::error!(%error, "sealing an enriched event failed");
                false
            }
        }
    }

    /// `event` with its best shot opened, checked again in clear, and whether it was erased.
    fn open(&self, mut event: DetectionEvent) -> Result<(DetectionEvent, bool), validate::Invalid> {
        let opening = open_detection(&mut event, &self.ring)?;
        validate::detection(&event, "", &self.limits)?;
        Ok((event, opening.erased > 0))
    }

    /// The message's detection, decoded; it is validated once opened ([`Self::open`]).
    fn decode(&self, message: &KafkaMessage<'_>) -> Result<DetectionEvent, validate::Invalid> {
        let payload = validate::payload(message.payload())?;
        let event = DetectionEvent::decode(payload).map_err(|e| validate::Invalid::decode("DetectionEvent", e))?;
        validate::schema_version(event.schema_version)?;
        Ok(event)
    }

    /// Descriptors of `faces`: `Some(Ok)`, `Some(Err)` after the retries, `None` on shutdown.
    async fn describe(&self, faces: Vec<RgbFrame>, shutdown: &Shutdown) -> Option<Result<Vec<Vec<f32>>, String>> {
        if faces.is_empty() {
            return Some(Ok(Vec::new()));
        }
        let faces = Arc::new(faces);
        let mut backoff = Backoff::new(MODEL_RETRY_INITIAL, MODEL_RETRY_MAX);
        let mut shutdown = shutdown.clone();
        let mut attempt = 0;
        loop {
            let (describer, batch) = (self.describer.clone(), faces.clone());
            let started = Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let refs: Vec<&RgbFrame> = batch.iter().collect();
                describer
                    .lock()
                    .map_err(|_| "model lock poisoned".to_owned())?
                    .describe(&refs)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("model task failed: {e}")));
            match result {
                Ok(descriptors) => {
                    self.metrics.describe_seconds.observe(started.elapsed().as_secs_f64());
                    self.metrics.described.inc_by(descriptors.len() as u64);
                    return Some(Ok(descriptors));
                }
                Err(error) if attempt >= self.model_retries => return Some(Err(error)),
                Err(error) => {
                    self.metrics.model_retries.inc();
                    tracing::warn!(%error, attempt, "descriptor model failed; retrying");
                }
            }
            if !backoff.pause(&mut shutdown).await {
                return None;
            }
            attempt += 1;
        }
    }

    fn matches(&self, stream_id: &str, descriptor: &[f32]) -> Vec<MatchResult> {
        let Ok(index) = self.index.read() else { return Vec::new() };
        index.search(stream_id, descriptor).into_iter().map(match_result).collect()
    }

    /// Produces every output and waits for all acknowledgements (`false` on shutdown first). An
    /// output over `kafka.max_message_bytes` (refused by the producer itself) or refused by the broker
    /// for its size can never be produced: its input (`batch[inputs[i]]`) is dead-lettered as
    /// `too_large` instead.
    async fn produce_all(
        &self,
        consumer: &GroupConsumer,
        batch: &[KafkaMessage<'_>],
        inputs: &[usize],
        outputs: &[OutRecord],
        shutdown: &Shutdown,
    ) -> bool {
        let Some(unproducible) =
            produce_until_acknowledged(&self.producer, &self.output_topic, outputs, shutdown).await
        else {
            return false;
        };
        self.metrics.produced.inc_by((outputs.len() - unproducible.len()) as u64);
        for failure in unproducible {
            let detail = format!("the enriched event is too large to produce: {}", failure.error);
            if !consumer.dead_letter(&batch[inputs[failure.index]], "too_large", &detail, shutdown).await {
                return false;
            }
        }
        true
    }
}

/// First delay after a failed descriptor model run; doubles (with jitter) up to [`MODEL_RETRY_MAX`].
const MODEL_RETRY_INITIAL: Duration = Duration::from_millis(100);
/// Longest delay between descriptor model runs.
const MODEL_RETRY_MAX: Duration = Duration::from_secs(5);

/// A candidate as the event contract carries it.
pub fn match_result(candidate: Candidate) -> MatchResult {
    MatchResult {
        list_id: candidate.list.id.to_string(),
        list_name: candidate.list.name,
        person_id: candidate.person.id.to_string(),
        person_external_id: candidate.person.external_id,
        person_display_name: candidate.person.display_name,
        similarity: candidate.similarity,
        rank: candidate.rank,
        threshold: candidate.list.threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enriched_ids_are_stable_and_distinct() {
        let a = enriched_event_id("6f1c2a3b-0000-4000-8000-000000000001");
        assert_eq!(a, enriched_event_id("6f1c2a3b-0000-4000-8000-000000000001"));
        assert_ne!(a, enriched_event_id("6f1c2a3b-0000-4000-8000-000000000002"));
        assert_ne!(a.to_string(), "6f1c2a3b-0000-4000-8000-000000000001");
    }
}
