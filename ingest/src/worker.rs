//! One stream's work: frames from its source, faces and bodies detected, tracked, and every track
//! report produced to `sightline.detections.v1` (key = stream id) by an idempotent producer.
//!
//! Detection runs on the source's thread: when analysis falls behind, the appsink drops frames
//! (counted in the stream's `frames_dropped`) instead of queueing them. When a live connection drops,
//! the open tracks end at once (their events are emitted) instead of waiting for frames to resume.

use prost::Message as _;
use rdkafka::ClientContext;
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
use crate::source::{FrameHandler, FrameSource, SourceFrame, SourceSpec, StreamStatus};
use crate::track::{Detection, Kind, Tracker, TrackerSettings};

/// Delivery counters of a stream's producer.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Events the broker acknowledged.
    pub delivered: AtomicU64,
    /// Events that could not be delivered (after the producer's own retries).
    pub failed: AtomicU64,
}

/// Counts deliveries (in the counters and the metrics) and logs failures.
pub struct DeliveryContext {
    counters: Arc<DeliveryCounters>,
    metrics: StreamMetrics,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                self.metrics.events_delivered.inc();
            }
            Err((error, _)) => {
                tracing::error!(%error, "detection event not delivered");
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.metrics.events_failed.inc();
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

/// A running stream; stops when dropped or with [`StreamWorker::stop`].
pub struct StreamWorker {
    source: FrameSource,
    producer: ThreadedProducer<DeliveryContext>,
    counters: Arc<DeliveryCounters>,
    tracks: SharedTracks,
    topic: String,
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
    producer: ThreadedProducer<DeliveryContext>,
    topic: String,
    metrics: StreamMetrics,
    /// Wall-clock time of pts 0 of the current connection.
    epoch_ms: Option<i64>,
    last_pts: i64,
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
        let capture_ms = *self.epoch_ms.get_or_insert_with(|| now_ms() - frame.pts_ms) + frame.pts_ms;
        let detections = self.detect(&frame.frame);
        self.metrics.frames.inc();
        let faces = detections.iter().filter(|d| d.kind == Kind::Face).count() as u64;
        self.metrics.faces.inc_by(faces);
        self.metrics.bodies.inc_by(detections.len() as u64 - faces);
        let Ok(mut guard) = self.tracks.lock() else { return };
        let (tracker, context) = &mut *guard;
        (context.frame_width, context.frame_height) = (frame.frame.width, frame.frame.height);
        for report in tracker.update(capture_ms, &frame.frame, &detections) {
            emit(&self.producer, &self.topic, context, &report);
        }
        self.metrics.analysis_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// The connection dropped: its people are gone from view as far as anyone can tell, so their
    /// tracks end now rather than when (if ever) frames resume.
    fn interrupted(&mut self) {
        self.epoch_ms = None;
        self.last_pts = i64::MIN;
        finish_tracks(&self.tracks, &self.producer, &self.topic);
    }
}

/// Ends every open track of the stream, emitting the confirmed ones.
fn finish_tracks(tracks: &SharedTracks, producer: &ThreadedProducer<DeliveryContext>, topic: &str) {
    if let Ok(mut guard) = tracks.lock() {
        let (tracker, context) = &mut *guard;
        for report in tracker.finish() {
            emit(producer, topic, context, &report);
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
        let tracks = Arc::new(Mutex::new((
            Tracker::new(settings.tracker.clone(), &settings.context.stream_id),
            settings.context.clone(),
        )));
        let analysis = Analysis {
            stream_id: settings.context.stream_id.clone(),
            models,
            roi: settings.roi,
            tracks: tracks.clone(),
            producer: producer.clone(),
            topic: settings.topic.clone(),
            metrics: settings.metrics,
            epoch_ms: None,
            last_pts: i64::MIN,
        };
        let source = FrameSource::start(settings.source, analysis)?;
        Ok(Self { source, producer, counters, tracks, topic: settings.topic })
    }

    /// The stream's state.
    pub fn status(&self) -> StreamStatus {
        self.source.status()
    }

    /// Delivery counters (shared: they keep counting through [`Self::stop`]).
    pub fn counters_handle(&self) -> Arc<DeliveryCounters> {
        self.counters.clone()
    }

    /// Stops the source, ends the open tracks (emitting the confirmed ones) and flushes the producer
    /// (at most `flush_timeout`).
    pub fn stop(self, flush_timeout: Duration) {
        self.source.stop();
        finish_tracks(&self.tracks, &self.producer, &self.topic);
        if let Err(error) = rdkafka::producer::Producer::flush(&self.producer, flush_timeout) {
            tracing::error!(%error, "flushing detection events");
        }
    }
}

fn emit(
    producer: &ThreadedProducer<DeliveryContext>,
    topic: &str,
    context: &StreamContext,
    report: &crate::track::TrackReport,
) {
    let event = detection_event(context, report, now_ms());
    let payload = event.encode_to_vec();
    let record = BaseRecord::to(topic).key(context.stream_id.as_str()).payload(&payload);
    if let Err((error, _)) = producer.send(record) {
        tracing::error!(%error, stream = %context.stream_id, "queueing a detection event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32) -> Detection {
        Detection { kind: Kind::Face, bbox: BoxF { x, y, width: 20.0, height: 20.0 }, score: 0.9, landmarks: vec![] }
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
