//! The ingest service's Prometheus metrics (`sightline_ingest_*`), labelled by stream.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::source::{Phase, StreamStatus};

/// Label naming a stream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    /// Stream id.
    pub stream: String,
}

/// Label naming a stream and an object kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Stream id.
    pub stream: String,
    /// `face` or `body`.
    pub kind: String,
}

/// Every stream's metrics, registered once per service.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    frames: Family<StreamLabel, Counter>,
    detections: Family<KindLabel, Counter>,
    events_delivered: Family<StreamLabel, Counter>,
    events_failed: Family<StreamLabel, Counter>,
    best_shots_withheld: Family<StreamLabel, Counter>,
    analysis_seconds: Histogram,
    running: Family<StreamLabel, Gauge>,
    frames_dropped: Family<StreamLabel, Gauge>,
    reconnects: Family<StreamLabel, Gauge>,
    fps: Family<StreamLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    clips: Family<StreamLabel, Counter>,
    clip_bytes: Family<StreamLabel, Counter>,
    clip_pieces_dropped: Family<StreamLabel, Counter>,
    clip_queue_bytes: Gauge,
    live_viewers: Gauge,
    live_relays: Gauge,
}

impl IngestMetrics {
    /// Creates the metrics and registers them under `sightline_ingest_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        let r = registry.sub_registry_with_prefix("sightline_ingest");
        r.register("frames_analysed", "Frames run through detection and tracking", metrics.frames.clone());
        r.register(
            "detections",
            "Faces and bodies detected (inside the region of interest)",
            metrics.detections.clone(),
        );
        r.register("events_delivered", "Detection events the broker acknowledged", metrics.events_delivered.clone());
        r.register("events_failed", "Detection events that could not be delivered", metrics.events_failed.clone());
        r.register(
            "best_shots_withheld",
            "Detection events produced without their best shot because it could not be sealed",
            metrics.best_shots_withheld.clone(),
        );
        r.register("analysis_seconds", "Detection and tracking time per frame", metrics.analysis_seconds.clone());
        r.register("stream_running", "1 while the stream delivers frames, else 0", metrics.running.clone());
        r.register("frames_dropped", "Frames skipped because analysis fell behind", metrics.frames_dropped.clone());
        r.register("reconnects", "Reconnects of the stream's source", metrics.reconnects.clone());
        r.register("analysed_fps", "Analysed frames per second, last second", metrics.fps.clone());
        r.register("clips", "Clips started (one per reported track of an H.264 source)", metrics.clips.clone());
        r.register(
            "clip_bytes",
            "Bytes of clips stored in the object store (increase over 1d: storage per camera-day)",
            metrics.clip_bytes.clone(),
        );
        r.register(
            "clip_pieces_dropped",
            "Clip segments dropped because the object store could not take them in time",
            metrics.clip_pieces_dropped.clone(),
        );
        r.register("clip_queue_bytes", "Clip bytes waiting for the object store", metrics.clip_queue_bytes.clone());
        r.register(
            "live_viewers",
            "Live views this instance serves (another instance's relay counts as one)",
            metrics.live_viewers.clone(),
        );
        r.register(
            "live_relays",
            "Live views of streams other instances run, relayed here once for all their viewers",
            metrics.live_relays.clone(),
        );
        metrics
    }

    /// Metrics that count but are not exported (tests, benchmarks).
    pub fn unregistered() -> Self {
        Self {
            frames: Family::default(),
            detections: Family::default(),
            events_delivered: Family::default(),
            events_failed: Family::default(),
            best_shots_withheld: Family::default(),
            analysis_seconds: Histogram::new(exponential_buckets(0.002, 2.0, 12)),
            running: Family::default(),
            frames_dropped: Family::default(),
            reconnects: Family::default(),
            fps: Family::default(),
            clips: Family::default(),
            clip_bytes: Family::default(),
            clip_pieces_dropped: Family::default(),
            clip_queue_bytes: Gauge::default(),
            live_viewers: Gauge::default(),
            live_relays: Gauge::default(),
        }
    }

    /// The instance's live views, counted in these metrics.
    pub fn live_views(&self) -> crate::live::LiveViews {
        crate::live::LiveViews::counted(self.live_viewers.clone(), self.live_relays.clone())
    }

    /// The handles one stream's worker updates.
    pub fn stream(&self, stream: &str) -> StreamMetrics {
        let label = StreamLabel { stream: stream.to_owned() };
        let kind = |kind: &str| KindLabel { stream: stream.to_owned(), kind: kind.to_owned() };
        let frames = owned(&self.frames, &label);
        let faces = owned(&self.detections, &kind("face"));
        let bodies = owned(&self.detections, &kind("body"));
        let events_delivered = owned(&self.events_delivered, &label);
        let events_failed = owned(&self.events_failed, &label);
        let best_shots_withheld = owned(&self.best_shots_withheld, &label);
        StreamMetrics {
            clips: owned(&self.clips, &label),
            best_shots_withheld,
            frames,
            faces,
            bodies,
            events_delivered,
            events_failed,
            analysis_seconds: self.analysis_seconds.clone(),
        }
    }

    /// Counts `bytes` of a stream's clips stored.
    pub fn clip_stored(&self, stream: &str, bytes: usize) {
        let label = StreamLabel { stream: stream.to_owned() };
        self.clip_bytes.get_or_create(&label).inc_by(bytes as u64);
    }

    /// Bytes of a stream's clips stored so far.
    pub fn clip_bytes_of(&self, stream: &str) -> u64 {
        self.clip_bytes.get_or_create(&StreamLabel { stream: stream.to_owned() }).get()
    }

    /// Counts a stream's clip segment dropped.
    pub fn clip_piece_dropped(&self, stream: &str) {
        self.clip_pieces_dropped.get_or_create(&StreamLabel { stream: stream.to_owned() }).inc();
    }

    /// Sets the clip bytes waiting for the object store.
    pub fn set_clip_queue_bytes(&self, bytes: usize) {
        self.clip_queue_bytes.set(bytes as i64);
    }

    /// Publishes a stream's state as gauges.
    pub fn observe_status(&self, stream: &str, status: &StreamStatus) {
        let label = StreamLabel { stream: stream.to_owned() };
        self.running.get_or_create(&label).set(i64::from(status.phase == Phase::Running));
        self.frames_dropped.get_or_create(&label).set(status.frames_dropped as i64);
        self.reconnects.get_or_create(&label).set(i64::from(status.reconnects));
        self.fps.get_or_create(&label).set(f64::from(status.fps));
    }

    /// Forgets a deleted stream's series.
    pub fn remove_stream(&self, stream: &str) {
        let label = StreamLabel { stream: stream.to_owned() };
        for family in [
            &self.frames,
            &self.events_delivered,
            &self.events_failed,
            &self.best_shots_withheld,
            &self.clips,
            &self.clip_bytes,
            &self.clip_pieces_dropped,
        ] {
            family.remove(&label);
        }
        for family in [&self.running, &self.frames_dropped, &self.reconnects] {
            family.remove(&label);
        }
        self.fps.remove(&label);
        for kind in ["face", "body"] {
            self.detections.remove(&KindLabel { stream: stream.to_owned(), kind: kind.to_owned() });
        }
    }
}

/// A copy of the series `label` of `family` (created if new). The family's read guard is released
/// before returning: holding it while creating another series of the same family deadlocks.
fn owned<S, M>(family: &Family<S, M>, label: &S) -> M
where
    S: Clone + std::hash::Hash + Eq,
    M: Clone + Default,
{
    family.get_or_create(label).clone()
}

/// One stream's counters (clones share their values with the registered families).
#[derive(Clone, Debug)]
pub struct StreamMetrics {
    /// Frames analysed.
    pub frames: Counter,
    /// Faces detected.
    pub faces: Counter,
    /// Bodies detected.
    pub bodies: Counter,
    /// Events acknowledged by the broker.
    pub events_delivered: Counter,
    /// Events not delivered.
    pub events_failed: Counter,
    /// Events produced without their best shot (it could not be sealed).
    pub best_shots_withheld: Counter,
    /// Detection and tracking time per frame (shared by all streams).
    pub analysis_seconds: Histogram,
    /// Clips started.
    pub clips: Counter,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        IngestMetrics::unregistered().stream("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_get_their_own_series() {
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        let (a, b) = (metrics.stream("a"), metrics.stream("b"));
        a.frames.inc();
        a.faces.inc_by(2);
        b.bodies.inc();
        metrics.observe_status("a", &StreamStatus { phase: Phase::Running, ..Default::default() });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            r#"sightline_ingest_frames_analysed_total{stream="a"} 1"#,
            r#"sightline_ingest_detections_total{stream="a",kind="face"} 2"#,
            r#"sightline_ingest_detections_total{stream="b",kind="body"} 1"#,
            r#"sightline_ingest_stream_running{stream="a"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        metrics.remove_stream("a");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(!text.contains(r#"stream="a""#), "{text}");
    }
}
