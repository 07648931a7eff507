//! Live view: a running stream's analysed frames as they are analysed, with their detections drawn,
//! to everyone watching it (docs/media.md).
//!
//! A worker renders its frames for live view only while someone watches ([`LiveSender::watched`]):
//! each analysed frame becomes a [`Snapshot`] (the JPEG, and the blurred copy when the stream shows
//! viewers its frames), put in the stream's channel, whose latest value every viewer reads. A slow
//! viewer skips frames and never holds up the others or the analysis. The API answers
//! `multipart/x-mixed-replace` (MJPEG, which any browser's `<img>` and video tool plays); each part
//! carries its capture time and its boxes with their tracks in headers ([`LiveFrame::part`]), so the
//! web app names the identified people on the very frame they were found in.
//!
//! Viewers never reach the camera: its one connection is the stream's worker. A viewer who asks
//! an instance that does not run the stream is served from that instance's one relay of it: the
//! first local viewer opens it to the instance that does, the last one leaving closes it
//! ([`LiveViews::relayed`]).

use axum::body::Bytes;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use uuid::Uuid;

use crate::snapshot::{Snapshot, SnapshotBox};

/// The boundary between the parts of a live view.
pub const BOUNDARY: &str = "sightline-frame";

/// The content type of a live view.
pub const CONTENT_TYPE: &str = "multipart/x-mixed-replace; boundary=sightline-frame";

/// Largest part taken from another instance's live view.
const MAX_PART_BYTES: usize = 16 << 20;

/// The frames of one running stream, for whoever watches it (the worker's side). Dropped with the
/// worker, it ends the stream's live view here: its viewers' views end.
#[derive(Debug)]
pub struct LiveSender {
    sender: watch::Sender<Option<Snapshot>>,
    views: LiveViews,
    stream: Uuid,
}

impl LiveSender {
    /// Whether anyone is watching: only then is every analysed frame rendered.
    pub fn watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// The stream's newest analysed frame.
    pub fn send(&self, snapshot: &Snapshot) {
        if self.watched() {
            self.sender.send_replace(Some(snapshot.clone()));
        }
    }
}

impl Drop for LiveSender {
    fn drop(&mut self) {
        // Unless a new worker of the stream replaced it already.
        if let Ok(mut local) = self.views.local.write()
            && local.get(&self.stream).is_some_and(|current| current.same_channel(&self.sender))
        {
            local.remove(&self.stream);
        }
    }
}

/// Which copy of a frame is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FacesShown {
    /// As the camera saw them.
    Whole,
    /// Every detected face and head pixelated.
    Blurred,
}

impl FacesShown {
    /// The query value naming this copy.
    pub fn as_str(self) -> &'static str {
        match self {
            FacesShown::Whole => "whole",
            FacesShown::Blurred => "blurred",
        }
    }
}

/// What a live view's part says of its frame, besides the JPEG (its `X-Frame` header, JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameFacts {
    /// Capture time, ms since the epoch.
    pub capture_ms: i64,
    /// The frame's width, pixels.
    pub width: u32,
    /// Its height, pixels.
    pub height: u32,
    /// Whether its faces are blurred.
    pub faces_blurred: bool,
    /// What was detected, each with its track, as fractions of the frame.
    pub boxes: Vec<SnapshotBox>,
}

/// One frame of a live view, in the copy a viewer may see.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFrame {
    /// The JPEG.
    pub jpeg: Bytes,
    /// Its capture time and boxes.
    pub facts: FrameFacts,
}

impl LiveFrame {
    /// `snapshot`'s copy with `faces` as asked; none when the copy is not rendered (no blurred copy
    /// of a stream that does not show viewers its frames).
    pub fn of(snapshot: &Snapshot, faces: FacesShown) -> Option<Self> {
        let jpeg = match faces {
            FacesShown::Whole => snapshot.jpeg.clone(),
            FacesShown::Blurred => snapshot.blurred_jpeg.clone()?,
        };
        Some(Self {
            jpeg: Bytes::from_owner(jpeg),
            facts: FrameFacts {
                capture_ms: snapshot.capture_ms,
                width: snapshot.width,
                height: snapshot.height,
                faces_blurred: faces == FacesShown::Blurred,
                boxes: snapshot.boxes.clone(),
            },
        })
    }

    /// The frame as a part of the live view: the boundary, its headers, the JPEG.
    pub fn part(&self) -> Bytes {
        let facts = serde_json::to_string(&self.facts).unwrap_or_else(|_| "{}".into());
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Capture-Ms: {}\r\nX-Frame: {facts}\r\n\r\n",
            self.jpeg.len(),
            self.facts.capture_ms,
        );
        let mut part = Vec::with_capacity(head.len() + self.jpeg.len() + 2);
        part.extend_from_slice(head.as_bytes());
        part.extend_from_slice(&self.jpeg);
        part.extend_from_slice(b"\r\n");
        part.into()
    }
}

/// Reads the parts of a live view as they arrive (another instance's, relayed).
#[derive(Debug, Default)]
pub struct PartReader {
    buffer: Vec<u8>,
}

impl PartReader {
    /// Takes the next bytes of the view.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole part, if it has all arrived; an error when the bytes are not a live view.
    pub fn next_frame(&mut self) -> Result<Option<LiveFrame>, String> {
        let delimiter = format!("--{BOUNDARY}\r\n");
        let Some(start) = find(&self.buffer, delimiter.as_bytes()) else {
            return self.waiting();
        };
        let Some(head_end) = find(&self.buffer[start..], b"\r\n\r\n").map(|end| start + end) else {
            return self.waiting();
        };
        let head = std::str::from_utf8(&self.buffer[start + delimiter.len()..head_end])
            .map_err(|_| "a part's headers are not text".to_owned())?;
        let header = |name: &str| {
            head.split("\r\n").find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "a part without its length".to_owned())?;
        if length > MAX_PART_BYTES {
            return Err(format!("a part of {length} bytes, over {MAX_PART_BYTES}"));
        }
        let facts: FrameFacts = serde_json::from_str(&header("x-frame").unwrap_or_default())
            .map_err(|e| format!("a part whose X-Frame is not a frame's facts: {e}"))?;
        let body = head_end + 4;
        if self.buffer.len() < body + length {
            return Ok(None);
        }
        let jpeg = Bytes::copy_from_slice(&self.buffer[body..body + length]);
        self.buffer.drain(..body + length);
        Ok(Some(LiveFrame { jpeg, facts }))
    }

    /// No whole part yet: fine unless the bytes waiting are more than a part may be.
    fn waiting(&self) -> Result<Option<LiveFrame>, String> {
        match self.buffer.len() > MAX_PART_BYTES + 4096 {
            true => Err("no part in the bytes received".into()),
            false => Ok(None),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Where a relay puts the frames it reads.
type RelaySender = watch::Sender<Option<LiveFrame>>;

/// The live views of an instance: the channels of the streams it runs, and its relays of streams
/// other instances run.
#[derive(Debug, Clone, Default)]
pub struct LiveViews {
    local: Arc<RwLock<HashMap<Uuid, watch::Sender<Option<Snapshot>>>>>,
    relays: Arc<Mutex<HashMap<(Uuid, FacesShown), RelaySender>>>,
    /// Live views being served (`sightline_ingest_live_viewers`; a relay to another instance is
    /// one of that instance's).
    viewers: Gauge,
    /// Relays open (`sightline_ingest_live_relays`).
    relays_open: Gauge,
}

/// A viewer's frames: a stream this instance runs, or a relay of one another runs.
#[derive(Debug)]
pub struct Viewer {
    source: ViewerSource,
    /// Counts the viewer while it lasts.
    viewers: Gauge,
}

#[derive(Debug)]
enum ViewerSource {
    /// A stream this instance runs, in the copy asked for.
    Local(watch::Receiver<Option<Snapshot>>, FacesShown),
    /// Another instance's stream, relayed.
    Relayed(watch::Receiver<Option<LiveFrame>>),
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.viewers.dec();
    }
}

impl Viewer {
    fn new(source: ViewerSource, viewers: &Gauge) -> Self {
        viewers.inc();
        Self { source, viewers: viewers.clone() }
    }

    /// The next frame, waiting for it; `None` when the stream stopped here (or its relay ended).
    pub async fn next(&mut self) -> Option<LiveFrame> {
        loop {
            match &mut self.source {
                ViewerSource::Local(receiver, faces) => {
                    receiver.changed().await.ok()?;
                    let frame = receiver.borrow_and_update().as_ref().and_then(|s| LiveFrame::of(s, *faces));
                    if frame.is_some() {
                        return frame;
                    }
                }
                ViewerSource::Relayed(receiver) => {
                    receiver.changed().await.ok()?;
                    let frame = receiver.borrow_and_update().clone();
                    if frame.is_some() {
                        return frame;
                    }
                }
            }
        }
    }
}

impl LiveViews {
    /// Live views counted in `viewers` and `relays` (the service's metrics).
    pub fn counted(viewers: Gauge, relays: Gauge) -> Self {
        Self { viewers, relays_open: relays, ..Self::default() }
    }

    /// The channel of stream `id`, which a worker starting on it sends to (it replaces any before),
    /// until the worker drops it.
    pub fn start(&self, id: Uuid) -> LiveSender {
        let (sender, _) = watch::channel(None);
        if let Ok(mut local) = self.local.write() {
            local.insert(id, sender.clone());
        }
        LiveSender { sender, views: self.clone(), stream: id }
    }

    /// A viewer of stream `id`, if this instance runs it.
    pub fn watch_local(&self, id: Uuid, faces: FacesShown) -> Option<Viewer> {
        let local = self.local.read().ok()?;
        local.get(&id).map(|sender| Viewer::new(ViewerSource::Local(sender.subscribe(), faces), &self.viewers))
    }

    /// A viewer of the instance's relay of stream `id` in copy `faces`. When there is none yet,
    /// `open` is called with a sender and must spawn the relay, which sends into it the other
    /// instance's frames and ends with [`Self::relay_ended`] when it has no viewer left or its
    /// upstream ends.
    pub fn relayed(
        &self,
        id: Uuid,
        faces: FacesShown,
        open: impl FnOnce(watch::Sender<Option<LiveFrame>>),
    ) -> Option<Viewer> {
        let mut relays = self.relays.lock().ok()?;
        let receiver = match relays.get(&(id, faces)) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(None);
                relays.insert((id, faces), sender.clone());
                self.relays_open.inc();
                open(sender);
                receiver
            }
        };
        Some(Viewer::new(ViewerSource::Relayed(receiver), &self.viewers))
    }

    /// The relay of stream `id` in copy `faces` ended: the next viewer opens a new one.
    pub fn relay_ended(&self, id: Uuid, faces: FacesShown, sender: &watch::Sender<Option<LiveFrame>>) {
        if let Ok(mut relays) = self.relays.lock()
            && relays.get(&(id, faces)).is_some_and(|current| current.same_channel(sender))
        {
            relays.remove(&(id, faces));
            self.relays_open.dec();
        }
    }

    /// Relays open now.
    pub fn relays_open(&self) -> i64 {
        self.relays_open.get()
    }

    /// Live views being served now.
    pub fn viewers(&self) -> i64 {
        self.viewers.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(capture_ms: i64) -> LiveFrame {
        LiveFrame {
            jpeg: Bytes::from(vec![0xFF, 0xD8, 0xFF, capture_ms as u8, 0x0D, 0x0A]),
            facts: FrameFacts {
                capture_ms,
                width: 640,
                height: 360,
                faces_blurred: false,
                boxes: vec![SnapshotBox {
                    kind: "face".into(),
                    track_id: Uuid::nil(),
                    x: 0.1,
                    y: 0.2,
                    width: 0.3,
                    height: 0.4,
                }],
            },
        }
    }

    #[test]
    fn parts_are_read_back_however_the_bytes_are_cut() {
        let bytes: Vec<u8> = [frame(1), frame(2), frame(3)].iter().flat_map(|f| f.part().to_vec()).collect();
        for cut in [1, 7, 64, bytes.len()] {
            let mut reader = PartReader::default();
            let mut read = Vec::new();
            for chunk in bytes.chunks(cut) {
                reader.push(chunk);
                while let Some(frame) = reader.next_frame().expect("a live view") {
                    read.push(frame);
                }
            }
            assert_eq!(read, vec![frame(1), frame(2), frame(3)], "cut every {cut} bytes");
        }
        let mut reader = PartReader::default();
        reader.push(format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\nxx").as_bytes());
        assert!(reader.next_frame().is_err_and(|e| e.contains("length")));
    }

    #[tokio::test]
    async fn a_stream_renders_for_live_view_only_while_watched_and_viewers_end_with_it() {
        let views = LiveViews::default();
        let id = Uuid::new_v4();
        let sender = views.start(id);
        assert!(!sender.watched());
        let mut viewer = views.watch_local(id, FacesShown::Whole).expect("a local stream");
        assert!(sender.watched());
        let snapshot = Snapshot {
            jpeg: Arc::from(&b"jpeg"[..]),
            blurred_jpeg: None,
            capture_ms: 5,
            faces: 0,
            bodies: 0,
            width: 4,
            height: 3,
            boxes: vec![],
        };
        sender.send(&snapshot);
        let shown = viewer.next().await.expect("a frame");
        assert_eq!((shown.jpeg.as_ref(), shown.facts.capture_ms), (&b"jpeg"[..], 5));
        // A stream not run here has no local view.
        assert!(views.watch_local(Uuid::new_v4(), FacesShown::Whole).is_none());
        // A new worker of the stream replaced the channel: the old one's end leaves it be.
        let newer = views.start(id);
        drop(sender);
        assert_eq!(viewer.next().await, None, "the view ends with the worker");
        assert!(views.watch_local(id, FacesShown::Whole).is_some());
        drop(newer);
        assert!(views.watch_local(id, FacesShown::Whole).is_none());
    }

    #[tokio::test]
    async fn one_relay_per_stream_and_copy_however_many_watch() {
        let views = LiveViews::default();
        let id = Uuid::new_v4();
        let mut opened = Vec::new();
        let first = views.relayed(id, FacesShown::Whole, |sender| opened.push(sender));
        let second = views.relayed(id, FacesShown::Whole, |sender| opened.push(sender));
        assert!(first.is_some() && second.is_some());
        assert_eq!((opened.len(), views.relays_open()), (1, 1));
        let mut blurred = Vec::new();
        let _third = views.relayed(id, FacesShown::Blurred, |sender| blurred.push(sender));
        assert_eq!((blurred.len(), views.relays_open()), (1, 2));
        assert_eq!(views.viewers(), 3);
        let relay = opened.remove(0);
        assert_eq!(relay.receiver_count(), 2, "both viewers read the one relay");
        views.relay_ended(id, FacesShown::Whole, &relay);
        assert_eq!(views.relays_open(), 1);
        drop((first, second));
        assert_eq!(views.viewers(), 1);
    }
}
