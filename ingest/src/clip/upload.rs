//! Storing clips' segments: one queue per instance, drained in order into the object store.
//!
//! Recorders run on the sources' threads and never wait for the store: they hand each finished
//! segment to [`ClipUploads::send`], which queues it. The uploader stores the pieces one after the
//! other, retrying each while the store is unavailable, so a store that is down for a while loses
//! nothing as long as the queue holds (`[clips] max_queued_bytes`); past that, new pieces are
//! dropped and counted (`sightline_ingest_clip_pieces_dropped_total`).

use sightline_common::objects::{ObjectError, ObjectStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

use crate::metrics::IngestMetrics;

/// One object of a clip.
#[derive(Debug)]
pub struct Piece {
    /// Its key.
    pub key: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The stream it shows (for the metrics).
    pub stream_id: String,
}

/// Content type of clips' objects.
pub const CLIP_CONTENT_TYPE: &str = "video/mp4";

/// Pause between attempts while the store is unavailable.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The sending side: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct ClipUploads {
    sender: mpsc::UnboundedSender<Piece>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    metrics: IngestMetrics,
}

/// The task storing the queued pieces.
#[derive(Debug)]
pub struct ClipUploader {
    task: tokio::task::JoinHandle<()>,
    queued: Arc<AtomicUsize>,
}

impl ClipUploads {
    /// Starts the uploader (on the current runtime) storing into `store`, holding at most
    /// `max_queued` bytes.
    pub fn start(store: ObjectStore, max_queued: usize, metrics: IngestMetrics) -> (Self, ClipUploader) {
        let (uploads, receiver) = Self::queue(max_queued, metrics.clone());
        let queued = uploads.queued.clone();
        let task = tokio::spawn(run(store, receiver, queued.clone(), metrics));
        (uploads, ClipUploader { task, queued })
    }

    /// The queue alone, holding at most `max_queued` bytes: what [`Self::start`] drains into the
    /// store (tests read it directly).
    pub fn queue(max_queued: usize, metrics: IngestMetrics) -> (Self, mpsc::UnboundedReceiver<Piece>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender, queued: Arc::new(AtomicUsize::new(0)), max_queued, metrics }, receiver)
    }

    /// Queues `piece`; `false` if it was dropped (the queue is full, or the uploader is gone).
    pub fn send(&self, piece: Piece) -> bool {
        let len = piece.bytes.len();
        let before = self.queued.fetch_add(len, Ordering::SeqCst);
        if before + len > self.max_queued && before > 0 {
            self.queued.fetch_sub(len, Ordering::SeqCst);
            self.metrics.clip_piece_dropped(&piece.stream_id);
            tracing::warn!(stream = %piece.stream_id, bytes = len, "a clip segment is dropped: the object store is behind");
            return false;
        }
        self.metrics.set_clip_queue_bytes(before + len);
        let stream_id = piece.stream_id.clone();
        if self.sender.send(piece).is_err() {
            self.queued.fetch_sub(len, Ordering::SeqCst);
            self.metrics.clip_piece_dropped(&stream_id);
            return false;
        }
        true
    }
}

impl ClipUploader {
    /// Waits until every piece queued so far is stored (every [`ClipUploads`] must be dropped first),
    /// at most `timeout`; says how many bytes were left when it gave up.
    pub async fn finish(self, timeout: Duration) {
        let mut task = self.task;
        if tokio::time::timeout(timeout, &mut task).await.is_err() {
            task.abort();
            let left = self.queued.load(Ordering::SeqCst);
            tracing::error!(bytes = left, "clip segments not stored at shutdown: the object store did not take them");
        }
    }
}

async fn run(
    store: ObjectStore,
    mut receiver: mpsc::UnboundedReceiver<Piece>,
    queued: Arc<AtomicUsize>,
    metrics: IngestMetrics,
) {
    while let Some(piece) = receiver.recv().await {
        let len = piece.bytes.len();
        loop {
            match store.put(&piece.key, piece.bytes.clone(), CLIP_CONTENT_TYPE).await {
                Ok(()) => {
                    metrics.clip_stored(&piece.stream_id, len);
                    break;
                }
                Err(ObjectError::Unavailable(error)) => {
                    tracing::warn!(%error, "the object store is unavailable: clip segments wait");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(error) => {
                    tracing::error!(%error, stream = %piece.stream_id, "a clip segment could not be stored");
                    metrics.clip_piece_dropped(&piece.stream_id);
                    break;
                }
            }
        }
        let left = queued.fetch_sub(len, Ordering::SeqCst) - len;
        metrics.set_clip_queue_bytes(left);
    }
}
