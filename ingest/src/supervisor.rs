//! Runs one [`StreamWorker`] per enabled stream this instance holds (see below) and keeps them in
//! line with the table: a change announced on `sightline_streams` restarts (or stops) only that
//! stream's worker, without restarting the service. Worker states are published to the API's
//! [`StatusBoard`] every second.
//! A stream whose URL the service's [`SourcePolicy`] does not allow (stored before the policy was
//! tightened, or written to the table directly) is not started: its state is `failed` with the reason.
//! A video file analysed to its end is recorded (`streams.finished_at`) and not analysed again, also
//! after a restart, until an operator restarts it or changes the stream. While a stream's detection
//! events are not reaching Kafka (a missing topic, an unreachable broker), its state says why and
//! the service's `/readyz` is not ready.
//!
//! Several instances share the streams ([`crate::ownership`]): each runs only the streams it holds a
//! lease for, takes more as they are added or their owner stops, gives back those beyond its share,
//! and writes its streams' states into their leases so every instance's API shows them. While the
//! leases cannot be renewed (PostgreSQL unreachable), `/readyz` says so (condition `leases`).

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::api::{COLUMNS, SourcePolicy, StatusBoard, Stream, live_state};
use crate::detect::{self, FaceDetector, FaceDetectorSettings, PersonDetector, PersonDetectorSettings};
use crate::events::StreamContext;
use crate::metrics::IngestMetrics;
use crate::ownership::{Ownership, WrittenState};
use crate::sealing::ImageSealer;
use crate::snapshot::{SnapshotBoard, SnapshotSlot};
use crate::source::{Phase, SourceSpec, StreamStatus};
use crate::track::TrackerSettings;
use crate::worker::{MediaClock, Models, StreamWorker, WorkerSettings};
use sightline_common::http::Readiness;
use sightline_common::kafka::KafkaSettings;
use sightline_common::shutdown::Shutdown;

/// What every worker shares.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    /// This instance's name (see [`Ownership::instance`]), on each detection it reports.
    pub instance: String,
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// Topic of detection events.
    pub topic: String,
    /// Directory prepared by `infra/models`.
    pub models_dir: PathBuf,
    /// ONNX Runtime threads per detector.
    pub threads: usize,
    /// Width of analysed frames.
    pub analysis_width: u32,
    /// Whether bodies are detected too.
    pub detect_bodies: bool,
    /// Tracker settings.
    pub tracker: TrackerSettings,
    /// Which source URLs may be opened (checked again here, not only by the API).
    pub sources: SourcePolicy,
    /// Where the workers' metrics go.
    pub metrics: IngestMetrics,
    /// Where the workers' snapshots go (the API serves them).
    pub snapshots: SnapshotBoard,
    /// The streams' live views (the API serves them).
    pub live: crate::live::LiveViews,
    /// The service's readiness: blocked (condition `delivery`) while a stream's detections are not
    /// reaching Kafka.
    pub readiness: Readiness,
    /// Seals best shots with their tracks' keys (none: `privacy.seal` is off).
    pub sealer: Option<Arc<ImageSealer>>,
    /// Records clips of the tracks (none: clips are off).
    pub clips: Option<crate::clip::Clips>,
}

/// The readiness condition of streams whose detections are not delivered.
const DELIVERY: &str = "delivery";

/// The readiness condition of leases that cannot be renewed.
const LEASES: &str = "leases";

/// Blocks or clears [`DELIVERY`] from the streams' states.
fn report_deliveries(readiness: &Readiness, board: &HashMap<Uuid, StreamStatus>) {
    let failing: Vec<(&Uuid, &String)> =
        board.iter().filter_map(|(id, status)| status.delivery_error.as_ref().map(|error| (id, error))).collect();
    match failing.first() {
        None => readiness.clear(DELIVERY),
        Some((id, error)) => readiness.block(
            DELIVERY,
            format!("detections of {} stream(s) are not reaching Kafka; stream {id}: {error}", failing.len()),
        ),
    }
}

/// Starts the worker of `stream`.
fn start_worker(settings: &SupervisorSettings, stream: &Stream) -> anyhow::Result<StreamWorker> {
    let files = detect::ModelFiles { dir: settings.models_dir.clone() };
    let environment = detect::runtime(&files.runtime_library())?;
    let faces = FaceDetector::new(
        &environment,
        &files.face_model(),
        FaceDetectorSettings { min_score: stream.face_min_score, threads: settings.threads, ..Default::default() },
    )?;
    let people = if settings.detect_bodies {
        Some(PersonDetector::new(
            &environment,
            &files.person_model(),
            PersonDetectorSettings { min_score: stream.person_min_score, threads: settings.threads },
        )?)
    } else {
        None
    };
    let metrics = settings.metrics.stream(&stream.id.to_string());
    let recorder = settings.clips.as_ref().map(|clips| clips.recorder(&stream.id.to_string(), &metrics));
    let worker_settings = WorkerSettings {
        context: StreamContext {
            stream_id: stream.id.to_string(),
            site: stream.site.clone(),
            frame_width: 0,
            frame_height: 0,
            count_only_unmatched_faces: stream.count_only_unmatched_faces,
            instance: settings.instance.clone(),
        },
        source: SourceSpec {
            analysis_fps: stream.analysis_fps.clamp(1, 30) as u32,
            width: settings.analysis_width,
            clips: recorder.clone(),
            ..SourceSpec::new(stream.source_url.clone())
        },
        tracker: settings.tracker.clone(),
        kafka: settings.kafka.clone(),
        topic: settings.topic.clone(),
        roi: stream.roi.as_ref().map(|r| r.0),
        metrics,
        clock: MediaClock::for_source(&stream.source_url, stream.media_start_ms),
        snapshot: Some(SnapshotSlot {
            board: settings.snapshots.clone(),
            stream: stream.id,
            blur_faces_for_viewers: stream.blur_faces_for_viewers,
            live: settings.live.start(stream.id),
        }),
        sealer: settings.sealer.clone(),
        recorder,
    };
    StreamWorker::start(worker_settings, Models { faces, people })
}

async fn load(pool: &PgPool, id: Option<Uuid>) -> Result<Vec<Stream>, sqlx::Error> {
    match id {
        Some(id) => {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams WHERE id = $1")).bind(id).fetch_all(pool).await
        }
        None => sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams WHERE enabled")).fetch_all(pool).await,
    }
}

/// Records that the file of stream `id` was analysed to its end.
async fn record_finished(pool: &PgPool, id: Uuid) {
    let recorded = sqlx::query("UPDATE streams SET finished_at = now() WHERE id = $1 AND finished_at IS NULL")
        .bind(id)
        .execute(pool)
        .await;
    if let Err(error) = recorded {
        tracing::warn!(stream = %id, %error, "recording that a file finished failed; it plays again on restart");
    }
}

async fn stop_worker(id: Uuid, worker: StreamWorker) {
    let _ = stop_in_background(id, worker).await;
}

/// Stops `worker` on a blocking thread without waiting for it: it analyses no further frame once
/// asked, then reports its open tracks ended and flushes its events (up to 30 s). A stream whose
/// settings changed restarts at once, however slowly its old connection closes or the broker takes
/// the last events; the service's shutdown waits for these stops.
fn stop_in_background(id: Uuid, worker: StreamWorker) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("stopping", stream = %id);
    tokio::task::spawn_blocking(move || span.in_scope(|| worker.stop(Duration::from_secs(30))))
}

/// The running streams and the final states of those that stopped by themselves (a finished file, a
/// stream that could not start).
struct Streams {
    workers: HashMap<Uuid, StreamWorker>,
    /// Workers stopping in the background (a stream changed or lost).
    stopping: Vec<tokio::task::JoinHandle<()>>,
    /// Streams beyond this instance's share whose leases it keeps until their workers stopped (none:
    /// nothing to wait for), so no other instance reports them before their last reports are out.
    handing_over: HashMap<Uuid, Option<tokio::task::JoinHandle<()>>>,
    retired: HashMap<Uuid, StreamStatus>,
    /// The streams this instance holds a lease for.
    owned: HashSet<Uuid>,
    /// When the leases were last renewed.
    renewed: std::time::Instant,
}

impl Streams {
    /// Makes stream `id` what the table says (None: deleted, or no longer this instance's).
    async fn reload(&mut self, settings: &SupervisorSettings, id: Uuid, stream: Option<Stream>) {
        let previous = self.retired.remove(&id);
        if let Some(state) = apply(settings, &mut self.workers, &mut self.stopping, id, stream).await {
            // Recording a finished file notifies too: keep the state it finished with.
            let kept = previous.filter(|p| p.phase == Phase::Finished && state.phase == Phase::Finished);
            self.retired.insert(id, kept.unwrap_or(state));
        }
    }

    /// Starts the streams of `held` this instance did not hold, and stops those it no longer holds;
    /// those of `surplus` are handed over: stopped, and given back once stopped
    /// ([`Self::give_back_stopped`]).
    async fn adopt(
        &mut self,
        settings: &SupervisorSettings,
        pool: &PgPool,
        held: HashSet<Uuid>,
        surplus: &[Uuid],
    ) -> anyhow::Result<()> {
        let lost: Vec<Uuid> = self.owned.difference(&held).copied().collect();
        let gained: Vec<Uuid> = held.difference(&self.owned).copied().collect();
        self.owned = held;
        self.handing_over.retain(|id, _| !self.owned.contains(id));
        for id in surplus {
            if !self.handing_over.contains_key(id) && !lost.contains(id) {
                // Leased here but not running (this instance restarted under the same name).
                self.handing_over.insert(*id, None);
            }
        }
        for id in lost {
            tracing::info!(stream = %id, "stream no longer this instance's");
            if surplus.contains(&id)
                && let Some(worker) = self.workers.remove(&id)
            {
                self.handing_over.insert(id, Some(stop_in_background(id, worker)));
            } else if surplus.contains(&id) {
                self.handing_over.insert(id, None);
            }
            self.reload(settings, id, None).await;
            self.retired.remove(&id);
            settings.metrics.remove_stream(&id.to_string());
        }
        for id in gained {
            let stream = load(pool, Some(id)).await?.into_iter().next();
            self.reload(settings, id, stream).await;
        }
        Ok(())
    }

    /// Gives back the leases of the streams handed over whose workers stopped.
    async fn give_back_stopped(&mut self, ownership: &Ownership) {
        let stopped: Vec<Uuid> = self
            .handing_over
            .iter()
            .filter(|(_, stop)| stop.as_ref().is_none_or(|stop| stop.is_finished()))
            .map(|(id, _)| *id)
            .collect();
        if stopped.is_empty() {
            return;
        }
        match ownership.give_back(&stopped).await {
            Ok(()) => self.handing_over.retain(|id, _| !stopped.contains(id)),
            // Renewed meanwhile and named again at the next renewal; they expire if this one dies.
            Err(error) => tracing::warn!(%error, "giving streams back failed; retrying"),
        }
    }

    /// The state of each held stream, as the API shows it (before any role's masking).
    fn written_states(&self, statuses: &StatusBoard, snapshots: &crate::snapshot::SnapshotBoard) -> Vec<WrittenState> {
        let board = statuses.read().map(|b| b.clone()).unwrap_or_default();
        let frames = snapshots
            .read()
            .map(|s| s.iter().map(|(id, s)| (*id, s.into())).collect())
            .unwrap_or_else(|_| HashMap::new());
        self.owned
            .iter()
            .filter_map(|id| {
                let state = live_state(board.get(id).cloned(), frames.get(id).cloned(), true);
                serde_json::to_value(state).ok().map(|value| (*id, value))
            })
            .collect()
    }

    /// Puts the workers' and retired streams' states on `statuses`.
    fn publish(&self, settings: &SupervisorSettings, statuses: &StatusBoard) {
        if let Ok(mut board) = statuses.write() {
            board.clear();
            board.extend(self.retired.iter().map(|(id, s)| (*id, s.clone())));
            board.extend(self.workers.iter().map(|(id, w)| (*id, w.status())));
            for (id, status) in board.iter() {
                settings.metrics.observe_status(&id.to_string(), status);
            }
            report_deliveries(&settings.readiness, &board);
        }
    }
}

/// Takes and renews this instance's leases, writing its streams' states; starts and stops streams
/// as they come and go, handing over those beyond its share. `/readyz` says so while the leases
/// cannot be renewed. When to look again if no renewal comes first: as the next lease of another
/// instance expires.
async fn settle(
    settings: &SupervisorSettings,
    pool: &PgPool,
    ownership: &Ownership,
    streams: &mut Streams,
    statuses: &StatusBoard,
) -> anyhow::Result<Option<tokio::time::Instant>> {
    let states = streams.written_states(statuses, &settings.snapshots);
    match ownership.settle(&states).await {
        Ok(settled) => {
            settings.readiness.clear(LEASES);
            streams.renewed = std::time::Instant::now();
            streams.adopt(settings, pool, settled.run, &settled.surplus).await?;
            streams.publish(settings, statuses);
            streams.give_back_stopped(ownership).await;
            // A little after the expiry, as PostgreSQL's clock sees it.
            return Ok(settled.next_expiry.map(|wait| tokio::time::Instant::now() + wait + EXPIRY_MARGIN));
        }
        Err(error) => {
            tracing::warn!(%error, "renewing the streams' leases failed; retrying");
            settings.readiness.block(LEASES, format!("the streams' leases cannot be renewed: {error}"));
            // Leases about to expire may be taken by another instance: stop before they do, so no
            // stream is analysed twice.
            if streams.renewed.elapsed() > ownership.lease - ownership.renew_every() && !streams.owned.is_empty() {
                tracing::warn!(streams = streams.owned.len(), "leases not renewed in time; stopping their streams");
                streams.adopt(settings, pool, HashSet::new(), &[]).await?;
                streams.publish(settings, statuses);
            }
        }
    }
    Ok(None)
}

/// How long after another instance's lease expires this one looks whether to take its stream.
const EXPIRY_MARGIN: Duration = Duration::from_millis(100);

/// Sleeps until `at`; forever without one.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs until `shutdown`, then stops every worker (flushing their events) and gives its streams
/// back.
pub async fn run(
    settings: SupervisorSettings,
    pool: PgPool,
    statuses: StatusBoard,
    ownership: Ownership,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen("sightline_streams").await?;
    let mut streams = Streams {
        workers: HashMap::new(),
        stopping: Vec::new(),
        handing_over: HashMap::new(),
        retired: HashMap::new(),
        owned: HashSet::new(),
        renewed: std::time::Instant::now(),
    };
    let mut renew = tokio::time::interval(ownership.renew_every());
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut publish = tokio::time::interval(Duration::from_secs(1));
    let mut next_expiry = None;
    loop {
        tokio::select! {
            _ = shutdown.requested() => break,
            _ = renew.tick() => next_expiry = settle(&settings, &pool, &ownership, &mut streams, &statuses).await?,
            _ = until(next_expiry) => next_expiry = settle(&settings, &pool, &ownership, &mut streams, &statuses).await?,
            _ = publish.tick() => {
                streams.give_back_stopped(&ownership).await;
                // A stream that finished (a file) or gave up is retired: its open tracks are emitted
                // and its final state stays visible until the stream changes.
                let done: Vec<Uuid> = streams
                    .workers
                    .iter()
                    .filter(|(_, w)| matches!(w.status().phase, Phase::Finished | Phase::Failed))
                    .map(|(id, _)| *id)
                    .collect();
                for id in done {
                    if let Some(worker) = streams.workers.remove(&id) {
                        let status = worker.status();
                        stop_worker(id, worker).await;
                        if status.phase == Phase::Finished {
                            record_finished(&pool, id).await;
                        }
                        streams.retired.insert(id, status);
                    }
                }
                streams.publish(&settings, &statuses);
            }
            notification = listener.recv() => {
                let notification = notification?;
                let Ok(id) = Uuid::parse_str(notification.payload()) else { continue };
                if streams.owned.contains(&id) {
                    let stream = load(&pool, Some(id)).await?.into_iter().next();
                    if stream.is_none() {
                        settings.metrics.remove_stream(&id.to_string());
                    }
                    streams.reload(&settings, id, stream).await;
                    streams.publish(&settings, &statuses);
                }
                // A new, re-enabled or given back stream is taken at once by whichever instance has
                // room; a disabled one is given back.
                next_expiry = settle(&settings, &pool, &ownership, &mut streams, &statuses).await?;
            }
        }
    }
    for (id, worker) in streams.workers.drain() {
        stop_worker(id, worker).await;
    }
    for stopping in streams.stopping.drain(..).chain(streams.handing_over.drain().filter_map(|(_, stop)| stop)) {
        let _ = stopping.await;
    }
    ownership.release_all().await;
    Ok(())
}

/// Makes stream `id`'s worker match `stream` (None: deleted); the state of a stream that is not
/// started: a file that finished before, or one that may not or could not start. The last snapshot
/// stays only for a file that finished (it is what the file ended with); a stream that is deleted,
/// disabled or started again shows none until its next frame.
async fn apply(
    settings: &SupervisorSettings,
    workers: &mut HashMap<Uuid, StreamWorker>,
    stopping: &mut Vec<tokio::task::JoinHandle<()>>,
    id: Uuid,
    stream: Option<Stream>,
) -> Option<StreamStatus> {
    stopping.retain(|stop| !stop.is_finished());
    if let Some(worker) = workers.remove(&id) {
        tracing::info!(stream = %id, "stopping stream");
        stopping.push(stop_in_background(id, worker));
    }
    let finished_before = stream
        .as_ref()
        .is_some_and(|s| s.enabled && s.finished_ms.is_some() && !SourceSpec::new(s.source_url.clone()).is_live());
    if !finished_before && let Ok(mut board) = settings.snapshots.write() {
        board.remove(&id);
    }
    let stream = stream.filter(|s| s.enabled)?;
    if finished_before {
        tracing::info!(stream = %id, "file analysed to its end before; not analysed again until restarted");
        return Some(StreamStatus { phase: Phase::Finished, ..StreamStatus::default() });
    }
    if let Err(reason) = settings.sources.check(stream.source_url.trim()) {
        tracing::error!(stream = %id, %reason, "stream refused by the source policy");
        return Some(failed(format!("not started: {reason}")));
    }
    match start_worker(settings, &stream) {
        Ok(worker) => {
            tracing::info!(stream = %id, url = %sightline_common::api::mask_url(&stream.source_url), "stream started");
            workers.insert(id, worker);
            None
        }
        Err(error) => {
            let error = sightline_common::api::mask_url_in(&format!("{error:#}"), &stream.source_url);
            tracing::error!(stream = %id, %error, "stream could not start");
            Some(failed(format!("could not start: {error}")))
        }
    }
}

/// The state of a stream that was not started.
fn failed(reason: String) -> StreamStatus {
    StreamStatus { phase: Phase::Failed, last_error: Some(reason), ..StreamStatus::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_whether_detections_reach_kafka() {
        let readiness = Readiness::new("starting");
        readiness.set_ready();
        let stream = Uuid::new_v4();
        let mut board = HashMap::from([(stream, StreamStatus::default())]);
        report_deliveries(&readiness, &board);
        assert_eq!(readiness.reason(), None, "a stream delivering (or not yet producing) is fine");
        board.insert(stream, StreamStatus { delivery_error: Some("Unknown topic".into()), ..StreamStatus::default() });
        report_deliveries(&readiness, &board);
        let reason = readiness.reason().unwrap_or_default();
        assert!(reason.contains("not reaching Kafka") && reason.contains("Unknown topic"), "{reason}");
        board.insert(stream, StreamStatus { events_delivered: 1, ..StreamStatus::default() });
        report_deliveries(&readiness, &board);
        assert_eq!(readiness.reason(), None, "ready again once events are delivered");
    }
}
