//! One stream's work: frames from its source, faces and bodies detected, tracked, and every track
//! report produced to `sightline.detections.v1` (key = stream id) by an idempotent producer.
//!
//! Capture times: a live source's frames are stamped with the wall clock; a file's with its own
//! timeline ([`MediaClock`]), so a file analysed faster than real time is not stamped in the future.
//!
//! Detection runs on the source's thread: when analysis falls behind, the appsink drops frames
//! (counted in the stream's `frames_dropped`) instead of queueing them. When a live connection drops,
//! the open tracks end at once (their events are emitted) instead of waiting for frames to resume.

use prost::Message as _;
use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use sightline_common::clock::now_ms;
use sightline_common::kafka::KafkaSettings;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::Roi;
use crate::detect::{FaceDetector, PersonDetector};
use crate::events::{StreamContext, detection_event};
use crate::frame::{BoxF, RgbFrame};
use crate::metrics::StreamMetrics;
use crate::sealing::ImageSealer;
use crate::snapshot::SnapshotSlot;
use crate::source::{FrameHandler, FrameSource, SharedRecorder, SourceFrame, SourceSpec, StreamStatus};
use crate::track::{Detection, Kind, Tracker, TrackerSettings};

/// Delivery counters of a stream's producer.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Events the broker acknowledged.
    pub delivered: AtomicU64,
    /// Events that could not be queued or delivered (after the producer's own retries).
    pub failed: AtomicU64,
    /// Why the latest event was not delivered; cleared when one is.
    pub last_error: Mutex<Option<String>>,
}

impl DeliveryCounters {
    fn failed(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }
}

/// Counts deliveries (in the counters and the metrics) and logs failures.
pub struct DeliveryContext {
    counters: Arc<DeliveryCounters>,
    metrics: StreamMetrics,
}

impl ClientContext for DeliveryContext {}

impl DeliveryContext {
    /// Notes that an event goes without its best shot, and why (shown as the stream's delivery
    /// error until an event is delivered).
    fn withheld(&self, error: String) {
        self.metrics.best_shots_withheld.inc();
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(error);
        }
    }

    /// Counts an event that was not delivered, and why.
    fn failed(&self, error: String) {
        self.counters.failed(error);
        self.metrics.events_failed.inc();
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.counters.last_error.lock() {
                    *last = None;
                }
                self.metrics.events_delivered.inc();
            }
            Err((error, _)) => {
                tracing::error!(%error, "detection event not delivered");
                self.failed(error.to_string());
            }
        }
    }
}

/// The detectors a stream uses.
pub struct Models {
    /// Faces (required).
    pub faces: FaceDetector,
    /// Bodies (optional).
    pub people: Option<PersonDetector>,
}

/// Where a stream's capture times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaClock {
    /// A live source: the wall clock when its frames arrive (each connection's timestamps are
    /// mapped onto it at its first frame).
    Live,
    /// A file: its own timeline, from `start_ms`, so analysing it faster or slower than real time
    /// changes no capture time.
    File {
        /// When the file's first frame was taken, ms since the epoch: the start the stream declares,
        /// else the file's last modification minus its length (a recording was last written when
        /// it ended), else when its analysis started minus its length.
        start_ms: Option<i64>,
        /// The file's last modification, ms since the epoch, if known.
        modified_ms: Option<i64>,
    },
}

impl MediaClock {
    /// The clock of the source `url` (live or a local file), with the start its stream declares.
    pub fn for_source(url: &str, declared_start_ms: Option<i64>) -> Self {
        let source = SourceSpec::new(url);
        let Some(path) = source.file_path() else { return MediaClock::Live };
        let modified_ms = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok());
        MediaClock::File { start_ms: declared_start_ms, modified_ms }
    }

    /// The capture time of a frame at `pts_ms` (in media of `duration_ms`) that arrived at `now_ms`,
    /// on the connection's timeline `anchor` (the capture time of pts 0), which the first frame sets.
    /// A live frame is never stamped later than its arrival: when the first frame came late (the
    /// connection's start was slow) a later one arrives sooner than its timestamp says, and the
    /// timeline is anchored again at that frame's arrival.
    pub fn capture_ms(&self, anchor: &mut Option<i64>, pts_ms: i64, duration_ms: Option<i64>, now_ms: i64) -> i64 {
        let epoch = *anchor.get_or_insert_with(|| self.epoch_ms(pts_ms, duration_ms, now_ms));
        let capture_ms = epoch.saturating_add(pts_ms);
        if matches!(self, MediaClock::Live) && capture_ms > now_ms {
            *anchor = Some(now_ms - pts_ms);
            return now_ms;
        }
        capture_ms
    }

    /// Capture time of pts 0 for a connection whose first frame (at `pts_ms`, in media of
    /// `duration_ms`) arrives at `now_ms`.
    pub fn epoch_ms(&self, pts_ms: i64, duration_ms: Option<i64>, now_ms: i64) -> i64 {
        match *self {
            MediaClock::Live => now_ms - pts_ms,
            MediaClock::File { start_ms: Some(start), .. } => start,
            MediaClock::File { start_ms: None, modified_ms } => {
                modified_ms.unwrap_or(now_ms).min(now_ms) - duration_ms.unwrap_or(0).max(0)
            }
        }
    }
}

/// What a stream worker needs.
pub struct WorkerSettings {
    /// Stream identity and frame size.
    pub context: StreamContext,
    /// Source to read.
    pub source: SourceSpec,
    /// Tracker settings.
    pub tracker: TrackerSettings,
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// Topic of detection events.
    pub topic: String,
    /// Region of interest as fractions of the frame; detections centred outside it are ignored.
    pub roi: Option<Roi>,
    /// The stream's metrics.
    pub metrics: StreamMetrics,
    /// Where capture times come from.
    pub clock: MediaClock,
    /// Where the stream's snapshots go (none: not kept).
    pub snapshot: Option<SnapshotSlot>,
    /// Seals best shots with their tracks' keys (none: `privacy.seal` is off, images in clear).
    pub sealer: Option<Arc<ImageSealer>>,
    /// Records the tracks' clips (none: clips are off). `source.clips` must be the same recorder.
    pub recorder: Option<SharedRecorder>,
}

/// Keeps the detections whose centre lies inside `roi` (fractions of a `width` x `height` frame).
pub fn inside_roi(detections: Vec<Detection>, roi: Option<Roi>, width: u32, height: u32) -> Vec<Detection> {
    let Some(roi) = roi else { return detections };
    let (w, h) = (width as f32, height as f32);
    let area = BoxF { x: roi.x * w, y: roi.y * h, width: roi.width * w, height: roi.height * h };
    detections
        .into_iter()
        .filter(|d| area.contains(d.bbox.x + d.bbox.width / 2.0, d.bbox.y + d.bbox.height / 2.0))
        .collect()
}

/// A stop taking longer than this is logged with the time of each of its stages (closing the
/// source, reporting the open tracks ended, flushing the events).
pub const SLOW_STOP: Duration = Duration::from_secs(2);

/// A running stream; stops when dropped or with [`StreamWorker::stop`].
pub struct StreamWorker {
    source: FrameSource,
    emitter: Emitter,
    counters: Arc<DeliveryCounters>,
    tracks: SharedTracks,
}

/// Produces a stream's track reports: sealed, then queued on the idempotent producer.
#[derive(Clone)]
struct Emitter {
    producer: ThreadedProducer<DeliveryContext>,
    topic: String,
    sealer: Option<Arc<ImageSealer>>,
    recorder: Option<SharedRecorder>,
}

/// The stream's tracker and context (whose frame size the frames tell), shared by the source's thread
/// and [`StreamWorker::stop`], which ends the open tracks.
type SharedTracks = Arc<Mutex<(Tracker, StreamContext)>>;

/// The analysis of one stream's frames, run on its source's thread.
struct Analysis {
    stream_id: String,
    models: Models,
    roi: Option<Roi>,
    tracks: SharedTracks,
    emitter: Emitter,
    metrics: StreamMetrics,
    clock: MediaClock,
    /// Capture time of pts 0 of the current connection.
    epoch_ms: Option<i64>,
    last_pts: i64,
    snapshot: Option<SnapshotSlot>,
    /// When the last snapshot was rendered.
    last_snapshot: Option<Instant>,
}

impl Analysis {
    fn detect(&mut self, frame: &RgbFrame) -> Vec<Detection> {
        let stream_id = &self.stream_id;
        let mut detections: Vec<Detection> = match self.models.faces.detect(frame) {
            Ok(faces) => faces
                .into_iter()
                .map(|f| Detection { kind: Kind::Face, bbox: f.bbox, score: f.score, landmarks: f.landmarks.to_vec() })
                .collect(),
            Err(error) => {
                tracing::error!(%error, stream = %stream_id, "face detection failed on a frame");
                Vec::new()
            }
        };
        if let Some(people) = self.models.people.as_mut() {
            match people.detect(frame) {
                Ok(bodies) => detections.extend(bodies.into_iter().map(|b| Detection {
                    kind: Kind::Body,
                    bbox: b.bbox,
                    score: b.score,
                    landmarks: Vec::new(),
                })),
                Err(error) => tracing::error!(%error, stream = %stream_id, "person detection failed on a frame"),
            }
        }
        inside_roi(detections, self.roi, frame.width, frame.height)
    }
}

impl FrameHandler for Analysis {
    fn frame(&mut self, frame: SourceFrame) {
        let started = Instant::now();
        if frame.pts_ms < self.last_pts {
            self.epoch_ms = None; // a new connection restarts its timestamps
        }
        self.last_pts = frame.pts_ms;
        let capture_ms = self.clock.capture_ms(&mut self.epoch_ms, frame.pts_ms, frame.duration_ms, now_ms());
        if let Some(mut recorder) = self.emitter.recorder() {
            recorder.set_epoch(self.epoch_ms);
        }
        let detections = self.detect(&frame.frame);
        self.metrics.frames.inc();
        let faces = detections.iter().filter(|d| d.kind == Kind::Face).count() as u64;
        self.metrics.faces.inc_by(faces);
        self.metrics.bodies.inc_by(detections.len() as u64 - faces);
        let snapshot_due =
            self.snapshot.as_ref().is_some_and(|slot| slot.due(self.last_snapshot.map(|at| at.elapsed())));
        let tracks = {
            let Ok(mut guard) = self.tracks.lock() else { return };
            let (tracker, context) = &mut *guard;
            (context.frame_width, context.frame_height) = (frame.frame.width, frame.frame.height);
            let mut reports = tracker.update(capture_ms, &frame.frame, &detections);
            // Bodies first: a face first reported in the same frame as its body shares the clip the
            // body's report starts (`clip::recorder`).
            reports.sort_by_key(|report| report.kind == Kind::Face);
            for report in reports {
                self.emitter.emit(context, &report);
            }
            if let Some(mut recorder) = self.emitter.recorder() {
                let boxes = detections.iter().map(|d| d.bbox);
                recorder.observe(capture_ms, frame.frame.width, frame.frame.height, tracker.assigned(), boxes);
            }
            // The boxes' tracks, copied only for a frame that becomes a snapshot.
            if snapshot_due { tracker.assigned().to_vec() } else { Vec::new() }
        };
        // Drawn after tracking, so each box carries the track its reports name.
        if let Some(slot) = &self.snapshot
            && snapshot_due
        {
            self.last_snapshot = Some(Instant::now());
            if let Some(snapshot) = crate::snapshot::render(
                &frame.frame,
                &detections,
                &tracks,
                self.roi,
                capture_ms,
                slot.blur_faces_for_viewers,
            ) {
                slot.put(snapshot);
            }
        }
        self.metrics.analysis_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// The connection dropped: its people are gone from view as far as anyone can tell, so their
    /// tracks end now rather than when (if ever) frames resume.
    fn interrupted(&mut self) {
        self.epoch_ms = None;
        self.last_pts = i64::MIN;
        finish_tracks(&self.tracks, &self.emitter);
        if let Some(mut recorder) = self.emitter.recorder() {
            recorder.interrupted();
        }
    }
}

/// Ends every open track of the stream, emitting the confirmed ones.
fn finish_tracks(tracks: &SharedTracks, emitter: &Emitter) {
    if let Ok(mut guard) = tracks.lock() {
        let (tracker, context) = &mut *guard;
        for report in tracker.finish() {
            emitter.emit(context, &report);
        }
    }
}

impl StreamWorker {
    /// Starts the stream.
    pub fn start(settings: WorkerSettings, models: Models) -> anyhow::Result<Self> {
        let counters = Arc::new(DeliveryCounters::default());
        let producer: ThreadedProducer<DeliveryContext> = settings
            .kafka
            .idempotent_producer_config()
            .create_with_context(DeliveryContext { counters: counters.clone(), metrics: settings.metrics.clone() })?;
        let emitter = Emitter { producer, topic: settings.topic, sealer: settings.sealer, recorder: settings.recorder };
        let tracks = Arc::new(Mutex::new((
            Tracker::new(settings.tracker.clone(), &settings.context.stream_id),
            settings.context.clone(),
        )));
        let analysis = Analysis {
            stream_id: settings.context.stream_id.clone(),
            models,
            roi: settings.roi,
            tracks: tracks.clone(),
            emitter: emitter.clone(),
            metrics: settings.metrics,
            clock: settings.clock,
            epoch_ms: None,
            last_pts: i64::MIN,
            snapshot: settings.snapshot,
            last_snapshot: None,
        };
        let source = FrameSource::start(settings.source, analysis)?;
        Ok(Self { source, emitter, counters, tracks })
    }

    /// The stream's state, with its deliveries.
    pub fn status(&self) -> StreamStatus {
        StreamStatus {
            events_delivered: self.counters.delivered.load(Ordering::Relaxed),
            events_failed: self.counters.failed.load(Ordering::Relaxed),
            delivery_error: self.counters.last_error.lock().ok().and_then(|last| last.clone()),
            ..self.source.status()
        }
    }

    /// Delivery counters (shared: they keep counting through [`Self::stop`]).
    pub fn counters_handle(&self) -> Arc<DeliveryCounters> {
        self.counters.clone()
    }

    /// Stops the source, ends the open tracks (emitting the confirmed ones) and flushes the producer
    /// (at most `flush_timeout`). A stop slower than [`SLOW_STOP`] is logged with each stage's time.
    pub fn stop(self, flush_timeout: Duration) {
        let started = Instant::now();
        self.source.stop();
        let source = started.elapsed();
        finish_tracks(&self.tracks, &self.emitter);
        if let Some(mut recorder) = self.emitter.recorder() {
            recorder.close_all();
        }
        let ended = started.elapsed() - source;
        if let Err(error) = rdkafka::producer::Producer::flush(&self.emitter.producer, flush_timeout) {
            tracing::error!(%error, "flushing detection events");
        }
        let total = started.elapsed();
        let ms = |d: Duration| d.as_millis();
        let flush = total - source - ended;
        if total > SLOW_STOP {
            tracing::warn!(
                source_ms = ms(source),
                ended_ms = ms(ended),
                flush_ms = ms(flush),
                "stopping the stream was slow"
            );
        } else {
            tracing::debug!(source_ms = ms(source), ended_ms = ms(ended), flush_ms = ms(flush), "stream stopped");
        }
    }
}

impl Emitter {
    /// The stream's clip recorder, locked; none when clips are off.
    fn recorder(&self) -> Option<std::sync::MutexGuard<'_, crate::clip::recorder::Recorder>> {
        self.recorder.as_ref().and_then(|recorder| recorder.lock().ok())
    }

    /// Produces `report` (its best shot sealed first, or withheld when it cannot be sealed).
    fn emit(&self, context: &StreamContext, report: &crate::track::TrackReport) {
        let mut event = detection_event(context, report, now_ms());
        if let Some(clip) = self.recorder().and_then(|mut recorder| recorder.clip_for(report)) {
            event.clip_key = clip.key;
            event.clip_start_ms = clip.start_ms;
        }
        let context_of = || rdkafka::producer::Producer::context(&self.producer);
        if let Some(sealer) = &self.sealer
            && let Err(error) = sealer.seal(&mut event)
        {
            tracing::error!(%error, stream = %context.stream_id, "a detection event goes without its best shot");
            context_of().withheld(error);
        }
        let payload = event.encode_to_vec();
        let mut record = BaseRecord::to(&self.topic).key(context.stream_id.as_str()).payload(&payload);
        if !context.instance.is_empty() {
            record = record.headers(
                OwnedHeaders::new()
                    .insert(Header { key: crate::events::INSTANCE_HEADER, value: Some(context.instance.as_str()) }),
            );
        }
        if let Err((error, _)) = self.producer.send(record) {
            tracing::error!(%error, stream = %context.stream_id, "queueing a detection event failed");
            context_of().failed(format!("queueing for {}: {error}", self.topic));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32) -> Detection {
        Detection { kind: Kind::Face, bbox: BoxF { x, y, width: 20.0, height: 20.0 }, score: 0.9, landmarks: vec![] }
    }

    #[test]
    fn files_are_stamped_on_their_own_timeline() {
        let now = 1_800_000_000_000;
        assert_eq!(MediaClock::Live.epoch_ms(2_000, None, now), now - 2_000);
        let declared = MediaClock::File { start_ms: Some(1_700_000_000_000), modified_ms: Some(now) };
        assert_eq!(declared.epoch_ms(0, Some(60_000), now), 1_700_000_000_000);
        // A 60 s recording last written at `modified` started 60 s before; never in the future.
        let recorded = MediaClock::File { start_ms: None, modified_ms: Some(now - 3_600_000) };
        assert_eq!(recorded.epoch_ms(0, Some(60_000), now), now - 3_600_000 - 60_000);
        let touched_later = MediaClock::File { start_ms: None, modified_ms: Some(now + 5_000) };
        assert_eq!(touched_later.epoch_ms(0, Some(60_000), now), now - 60_000);
        assert_eq!(MediaClock::for_source("rtsp://cam/1", Some(1)), MediaClock::Live);
        assert_eq!(
            MediaClock::for_source("/no/such/file.mp4", Some(5)),
            MediaClock::File { start_ms: Some(5), modified_ms: None }
        );
    }

    #[test]
    fn live_frames_are_never_stamped_after_they_arrived() {
        // The first frame (pts 0) arrives 300 ms late, at 10_300; the next ones come on time, every
        // 40 ms of media and of arrival from 10_010.
        let mut anchor = None;
        let live = MediaClock::Live;
        assert_eq!(live.capture_ms(&mut anchor, 0, None, 10_300), 10_300);
        let mut previous = 10_300;
        for (pts, arrived) in [(40, 10_310), (80, 10_350), (120, 10_390), (160, 10_430)] {
            let capture = live.capture_ms(&mut anchor, pts, None, arrived);
            assert!(capture <= arrived, "frame {pts} stamped {capture}, after its arrival at {arrived}");
            assert!(capture >= previous, "capture times keep their order: {capture} after {previous}");
            previous = capture;
        }
        // Re-anchored at the second frame: the rest follow their timestamps from there.
        assert_eq!(anchor, Some(10_310 - 40));
        // A file keeps its own timeline, whatever the arrival.
        let file = MediaClock::File { start_ms: Some(1_000), modified_ms: None };
        let mut anchor = None;
        assert_eq!(file.capture_ms(&mut anchor, 0, Some(10_000), 50), 1_000);
        assert_eq!(file.capture_ms(&mut anchor, 5_000, Some(10_000), 60), 6_000);
    }

    #[test]
    fn detections_outside_the_region_of_interest_are_ignored() {
        let detections = vec![at(10.0, 10.0), at(300.0, 200.0), at(620.0, 340.0)];
        assert_eq!(inside_roi(detections.clone(), None, 640, 360).len(), 3);
        let centre = Roi { x: 0.25, y: 0.25, width: 0.5, height: 0.5 };
        let kept = inside_roi(detections, Some(centre), 640, 360);
        assert_eq!(kept, vec![at(300.0, 200.0)]);
    }
}
