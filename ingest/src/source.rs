//! Video sources through GStreamer: RTSP, files (mp4, mkv, avi), HTTP MJPEG and V4L2 devices, decoded,
//! rate-limited to the analysis frame rate and scaled inside the pipeline, handed to Rust as RGB
//! frames through an appsink.
//!
//! With clips on, an RTSP or file source is parsed once (`parsebin`) and split: one branch decodes
//! for analysis, the other hands the encoded frames, untouched, to the stream's clip
//! [`Recorder`](crate::clip::recorder::Recorder).
//!
//! A [`FrameSource`] runs one stream on its own thread. Live sources (RTSP, HTTP, V4L2) reconnect with
//! exponential backoff after an error, a stall or an end of stream. A file that fails is *failed*; one
//! that ends is *finished*. The stream's state (phase, last error, measured fps, frames, frames
//! dropped, reconnects) is always readable through [`StreamStatus`].

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clip::EncodedFrame;
use crate::clip::fmp4::VideoConfig;
use crate::clip::recorder::Recorder;
use crate::frame::RgbFrame;
use crate::health::Failure;

/// A stream's clip recorder, shared by its source's encoded branch and its analysis.
pub type SharedRecorder = Arc<Mutex<Recorder>>;

/// What to read and how.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// `rtsp://…`, `http(s)://…` (MJPEG), `v4l2:///dev/video0`, `file:///path` or a plain path.
    pub url: String,
    /// Frames per second handed to analysis (the pipeline drops the rest).
    pub analysis_fps: u32,
    /// Width of analysed frames (height keeps the aspect ratio).
    pub width: u32,
    /// First reconnect delay; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// Give up after this many consecutive failed attempts (0: never, for live sources).
    pub max_attempts: u32,
    /// A live source that delivers no frame for this long is restarted.
    pub stall_timeout: Duration,
    /// Where the encoded frames go for clips (RTSP and file sources only).
    pub clips: Option<SharedRecorder>,
}

impl SourceSpec {
    /// A spec with default rate, size and backoff for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            analysis_fps: 5,
            width: 640,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_attempts: 0,
            stall_timeout: Duration::from_secs(10),
            clips: None,
        }
    }

    /// Whether the encoded frames are split off for clips: clips are wanted and the source is parsed
    /// before decoding (RTSP or a file; not MJPEG over HTTP nor a V4L2 device).
    pub fn splits_encoded(&self) -> bool {
        self.clips.is_some() && (self.url.starts_with("rtsp") || self.file_path().is_some())
    }

    /// Whether the source is live (reconnects) rather than a file (ends).
    pub fn is_live(&self) -> bool {
        ["rtsp://", "rtsps://", "http://", "https://", "v4l2://"].iter().any(|p| self.url.starts_with(p))
    }

    /// The local file the source reads (`file:///path` or a plain path); `None` for a live source.
    pub fn file_path(&self) -> Option<&str> {
        (!self.is_live()).then(|| self.url.strip_prefix("file://").unwrap_or(&self.url))
    }

    /// The GStreamer pipeline description for this source.
    pub fn pipeline_description(&self) -> String {
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let source = if self.url.starts_with("rtsp://") || self.url.starts_with("rtsps://") {
            format!("rtspsrc location={} latency=200 protocols=tcp", quoted(&self.url))
        } else {
            format!("filesrc location={}", quoted(self.file_path().unwrap_or_default()))
        };
        let head = if self.splits_encoded() {
            // The parser's video pad is linked to `split` when it appears (`link_parsed_video`).
            format!(
                "{source} ! parsebin name=parse  tee name=split  split. ! queue ! appsink name=encoded sync=false \
                 split. ! queue ! decodebin"
            )
        } else if self.url.starts_with("rtsp://") || self.url.starts_with("rtsps://") {
            format!("{source} ! decodebin")
        } else if self.url.starts_with("http://") || self.url.starts_with("https://") {
            format!("souphttpsrc location={} is-live=true ! multipartdemux ! jpegdec", quoted(&self.url))
        } else if let Some(device) = self.url.strip_prefix("v4l2://") {
            format!("v4l2src device={} ! decodebin", quoted(device))
        } else {
            format!("{source} ! decodebin")
        };
        // Rate control right after decoding, scale before converting: the cheap order (stack.md).
        // A live source drops frames analysis cannot keep up with; a file waits for analysis.
        format!(
            "{head} ! videorate drop-only=true ! video/x-raw,framerate={fps}/1 ! videoscale ! \
             video/x-raw,width={width},pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=RGB ! \
             appsink name=sink sync=false max-buffers=2 drop={drop}",
            fps = self.analysis_fps.max(1),
            width = self.width,
            drop = self.is_live(),
        )
    }
}

/// Where a stream is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Building the pipeline or waiting for the first frame.
    Starting,
    /// Delivering frames.
    Running,
    /// Waiting before attempt `attempt`.
    Reconnecting {
        /// The attempt about to be made (1 = first reconnect).
        attempt: u32,
        /// Delay before it.
        retry_in: Duration,
    },
    /// Gave up; `last_error` says why.
    Failed,
    /// A file reached its end.
    Finished,
    /// Stopped on request.
    Stopped,
}

/// A stream's visible state.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStatus {
    /// Current phase.
    pub phase: Phase,
    /// The last failure, in words a person can act on ([`crate::health`]); kept after the stream
    /// recovers (then it is the last interruption).
    pub last_error: Option<String>,
    /// GStreamer's whole text of the last failure (for admins).
    pub last_error_detail: Option<String>,
    /// When the last failure happened, ms since the epoch.
    pub last_error_ms: Option<i64>,
    /// Since when the stream has been running, or not running (the latest change between the two),
    /// ms since the epoch: "running since", "reconnecting since".
    pub since_ms: i64,
    /// When the last frame was analysed, ms since the epoch.
    pub last_frame_ms: Option<i64>,
    /// Analysed frames per second, measured over the last second or so.
    pub fps: f32,
    /// Frames delivered since the stream was created.
    pub frames: u64,
    /// Frames missing between delivered ones (dropped because analysis fell behind or the source
    /// skipped).
    pub frames_dropped: u64,
    /// Reconnects so far.
    pub reconnects: u32,
    /// Detection events the broker acknowledged.
    pub events_delivered: u64,
    /// Detection events that could not be queued or delivered (after the producer's retries).
    pub events_failed: u64,
    /// Why the latest event was not delivered, while deliveries fail (cleared by the next delivery).
    pub delivery_error: Option<String>,
}

impl Default for StreamStatus {
    fn default() -> Self {
        Self {
            phase: Phase::Starting,
            last_error: None,
            last_error_detail: None,
            last_error_ms: None,
            since_ms: sightline_common::clock::now_ms(),
            last_frame_ms: None,
            fps: 0.0,
            frames: 0,
            frames_dropped: 0,
            reconnects: 0,
            events_delivered: 0,
            events_failed: 0,
            delivery_error: None,
        }
    }
}

/// A decoded frame and its presentation time.
#[derive(Debug, Clone)]
pub struct SourceFrame {
    /// Presentation time, ms from the start of the current connection.
    pub pts_ms: i64,
    /// The pixels.
    pub frame: RgbFrame,
    /// Length of the media, ms, when it has one (a file whose container says).
    pub duration_ms: Option<i64>,
}

/// What a source calls as it runs (on its own thread). Any `FnMut(SourceFrame)` closure is a handler
/// that ignores interruptions.
pub trait FrameHandler: Send + 'static {
    /// A decoded frame.
    fn frame(&mut self, frame: SourceFrame);

    /// The current connection ended (error, stall or end of stream) and no frame follows until a
    /// reconnect, if any: whatever waits for the next frame should be concluded now.
    fn interrupted(&mut self) {}
}

impl<F: FnMut(SourceFrame) + Send + 'static> FrameHandler for F {
    fn frame(&mut self, frame: SourceFrame) {
        self(frame)
    }
}

/// One running stream; stops (and joins its thread) when dropped.
pub struct FrameSource {
    status: Arc<Mutex<StreamStatus>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FrameSource {
    /// Starts reading `spec` on a new thread, handing every frame (and every interruption) to
    /// `handler`.
    pub fn start(spec: SourceSpec, handler: impl FrameHandler) -> Result<Self, gst::glib::Error> {
        gst::init()?;
        let status = Arc::new(Mutex::new(StreamStatus::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("source {}", sightline_common::api::mask_url(&spec.url)))
            .spawn({
                let (status, stop) = (status.clone(), stop.clone());
                move || supervise(&spec, &status, &stop, handler)
            })
            .map_err(|e| gst::glib::Error::new(gst::CoreError::Failed, &format!("spawning the source thread: {e}")))?;
        Ok(Self { status, stop, thread: Some(thread) })
    }

    /// A snapshot of the stream's state.
    pub fn status(&self) -> StreamStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops the stream and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FrameSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn update(status: &Mutex<StreamStatus>, change: impl FnOnce(&mut StreamStatus)) {
    if let Ok(mut s) = status.lock() {
        change(&mut s);
    }
}

/// Moves the stream to `phase`; `since_ms` follows when it starts or stops running.
fn enter(status: &Mutex<StreamStatus>, phase: Phase) {
    update(status, |s| set_phase(s, phase));
}

fn set_phase(status: &mut StreamStatus, phase: Phase) {
    if (status.phase == Phase::Running) != (phase == Phase::Running) {
        status.since_ms = sightline_common::clock::now_ms();
    }
    status.phase = phase;
}

/// How one connection ended.
enum Ended {
    EndOfStream,
    StopRequested,
}

/// Runs connections until stopped, finished or out of attempts.
fn supervise(spec: &SourceSpec, status: &Mutex<StreamStatus>, stop: &AtomicBool, mut handler: impl FrameHandler) {
    let mut failures = 0u32;
    loop {
        enter(status, Phase::Starting);
        let mut delivered = false;
        let outcome = connect_and_read(spec, status, stop, &mut |frame| {
            delivered = true;
            handler.frame(frame)
        });
        if !matches!(outcome, Ok(Ended::StopRequested)) {
            handler.interrupted();
        }
        let error = match outcome {
            Ok(Ended::StopRequested) => {
                enter(status, Phase::Stopped);
                return;
            }
            Ok(Ended::EndOfStream) if !spec.is_live() => {
                enter(status, Phase::Finished);
                return;
            }
            Ok(Ended::EndOfStream) => crate::health::ended(),
            Err(failure) => failure,
        };
        let masked = |text: &str| sightline_common::api::mask_url_in(text, &spec.url);
        tracing::warn!(url = %sightline_common::api::mask_url(&spec.url), reason = %masked(&error.reason),
            detail = %masked(&error.detail), "stream interrupted");
        update(status, |s| {
            s.last_error = Some(masked(&error.reason));
            s.last_error_detail = Some(error.detail.clone());
            s.last_error_ms = Some(sightline_common::clock::now_ms());
        });
        if !spec.is_live() {
            enter(status, Phase::Failed);
            return;
        }
        failures = if delivered { 1 } else { failures + 1 };
        if spec.max_attempts > 0 && failures > spec.max_attempts {
            enter(status, Phase::Failed);
            return;
        }
        let retry_in = sightline_common::retry::Backoff::delay_after(spec.initial_backoff, spec.max_backoff, failures);
        update(status, |s| {
            set_phase(s, Phase::Reconnecting { attempt: failures, retry_in });
            s.reconnects += 1;
            s.fps = 0.0;
        });
        let resume_at = Instant::now() + retry_in;
        while Instant::now() < resume_at {
            if stop.load(Ordering::SeqCst) {
                enter(status, Phase::Stopped);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One connection: builds the pipeline and pulls frames until an error, the end, a stall or a stop.
fn connect_and_read(
    spec: &SourceSpec,
    status: &Mutex<StreamStatus>,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(SourceFrame),
) -> Result<Ended, Failure> {
    let pipeline = gst::parse::launch(&spec.pipeline_description())
        .map_err(|e| Failure::plain(format!("the video pipeline could not be built: {e}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| Failure::plain("the description is not a pipeline"))?;
    if !spec.is_live() {
        crate::background::decode_in_background(&pipeline);
    }
    if let Some(recorder) = spec.clips.as_ref().filter(|_| spec.splits_encoded()) {
        link_parsed_video(&pipeline)?;
        tap_encoded(&pipeline, recorder.clone())?;
    }
    let result = read(spec, &pipeline, status, stop, on_frame);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn read(
    spec: &SourceSpec,
    pipeline: &gst::Pipeline,
    status: &Mutex<StreamStatus>,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(SourceFrame),
) -> Result<Ended, Failure> {
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| Failure::plain("the pipeline has no appsink"))?;
    let bus = pipeline.bus().ok_or_else(|| Failure::plain("the pipeline has no bus"))?;
    // A source that cannot be opened fails the state change; its error message on the bus says why.
    let started = pipeline.set_state(gst::State::Playing);

    let frame_interval_ms = 1000.0 / spec.analysis_fps.max(1) as f64;
    let mut duration_ms: Option<Option<i64>> = None;
    let mut last_frame_at = Instant::now();
    let mut last_pts: Option<i64> = None;
    let mut window = (Instant::now(), 0u32);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(Ended::StopRequested);
        }
        while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            match message.view() {
                gst::MessageView::Error(error) => {
                    let debug = error.debug().map(|debug| debug.to_string());
                    return Err(crate::health::describe(&error.error(), debug.as_deref(), &spec.url));
                }
                gst::MessageView::Eos(_) => return Ok(Ended::EndOfStream),
                _ => {}
            }
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
            if sink.is_eos() {
                return Ok(Ended::EndOfStream);
            }
            if spec.is_live() && last_frame_at.elapsed() > spec.stall_timeout {
                return Err(crate::health::stalled(spec.stall_timeout));
            }
            if let Err(error) = started {
                // The state change failed and the bus had no error saying why.
                return Err(Failure::plain(format!("the pipeline could not start: {error}")));
            }
            continue;
        };
        let mut frame = to_frame(&sample).map_err(Failure::plain)?;
        frame.duration_ms = *duration_ms.get_or_insert_with(|| {
            let duration = (!spec.is_live()).then(|| pipeline.query_duration::<gst::ClockTime>()).flatten();
            duration.and_then(|d| i64::try_from(d.mseconds()).ok())
        });
        last_frame_at = Instant::now();
        let dropped = match (last_pts, frame.pts_ms) {
            (Some(previous), now) if now > previous => {
                (((now - previous) as f64 / frame_interval_ms).round() as u64).saturating_sub(1)
            }
            _ => 0,
        };
        last_pts = Some(frame.pts_ms);
        window.1 += 1;
        let elapsed = window.0.elapsed();
        let fps = (elapsed >= Duration::from_secs(1)).then(|| window.1 as f32 / elapsed.as_secs_f32());
        if fps.is_some() {
            window = (Instant::now(), 0);
        }
        update(status, |s| {
            set_phase(s, Phase::Running);
            s.last_frame_ms = Some(sightline_common::clock::now_ms());
            s.frames += 1;
            s.frames_dropped += dropped;
            if let Some(fps) = fps {
                s.fps = fps;
            }
        });
        on_frame(frame);
    }
}

/// Links the parser's first video pad to the split (analysis and clips); other pads (audio) go to a
/// sink that discards them, so they never stop the source.
fn link_parsed_video(pipeline: &gst::Pipeline) -> Result<(), Failure> {
    let parse = pipeline.by_name("parse").ok_or_else(|| Failure::plain("the pipeline has no parser"))?;
    let split = pipeline.by_name("split").ok_or_else(|| Failure::plain("the pipeline has no split"))?;
    let weak = pipeline.downgrade();
    parse.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/") || s.name() == "image/jpeg");
        let split_sink = split.static_pad("sink");
        if is_video && let Some(sink) = split_sink.filter(|sink| !sink.is_linked()) {
            if let Err(error) = pad.link(&sink) {
                tracing::error!(%error, "linking the parsed video for analysis and clips");
            }
            return;
        }
        let Some(pipeline) = weak.upgrade() else { return };
        let Ok(discard) = gst::ElementFactory::make("fakesink").property("sync", false).build() else { return };
        if pipeline.add(&discard).is_ok() {
            let _ = discard.sync_state_with_parent();
            if let Some(sink) = discard.static_pad("sink") {
                let _ = pad.link(&sink);
            }
        }
    });
    Ok(())
}

/// Lag allowed between a frame's decode and presentation times when the source gives no decode
/// time (RTP): decode times are made up as the presentation time minus this, never going back.
const REORDER_ALLOWANCE_NS: i64 = 200_000_000;

/// Hands every encoded frame of the split to `recorder`, with its decoder configuration.
fn tap_encoded(pipeline: &gst::Pipeline, recorder: SharedRecorder) -> Result<(), Failure> {
    let sink = pipeline
        .by_name("encoded")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| Failure::plain("the pipeline has no encoded appsink"))?;
    let mut last_caps: Option<gst::Caps> = None;
    let mut last_dts_ns = i64::MIN;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Ok(mut recorder) = recorder.lock() else { return Ok(gst::FlowSuccess::Ok) };
                if let Some(caps) = sample.caps()
                    && last_caps.as_ref().is_none_or(|last| last.as_ref() != caps)
                {
                    recorder.set_config(video_config(caps));
                    last_caps = Some(caps.to_owned());
                }
                let Some(buffer) = sample.buffer() else { return Ok(gst::FlowSuccess::Ok) };
                let Some(pts) = buffer.pts() else { return Ok(gst::FlowSuccess::Ok) };
                let pts_ns = pts.nseconds() as i64;
                let dts_ns = buffer.dts().map_or(pts_ns - REORDER_ALLOWANCE_NS, |dts| dts.nseconds() as i64);
                let dts_ns = if dts_ns <= last_dts_ns { last_dts_ns + 1 } else { dts_ns };
                last_dts_ns = dts_ns;
                let Ok(map) = buffer.map_readable() else { return Ok(gst::FlowSuccess::Ok) };
                recorder.push(EncodedFrame {
                    pts_ns,
                    dts_ns,
                    keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    data: Arc::from(map.as_slice()),
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}

/// The decoder configuration of H.264 in `avc` form; `None` for any other video (no clips).
fn video_config(caps: &gst::CapsRef) -> Option<VideoConfig> {
    let structure = caps.structure(0)?;
    if structure.name() != "video/x-h264" || structure.get::<&str>("stream-format").ok()? != "avc" {
        return None;
    }
    let avcc = structure.get::<gst::Buffer>("codec_data").ok()?;
    let avcc = avcc.map_readable().ok()?.as_slice().to_vec();
    let width = u32::try_from(structure.get::<i32>("width").ok()?).ok()?;
    let height = u32::try_from(structure.get::<i32>("height").ok()?).ok()?;
    Some(VideoConfig { width, height, avcc })
}

/// Copies an RGB sample into a packed frame (GStreamer pads RGB rows to 4 bytes).
fn to_frame(sample: &gst::Sample) -> Result<SourceFrame, String> {
    let caps = sample.caps().ok_or("sample without caps")?;
    let structure = caps.structure(0).ok_or("caps without structure")?;
    let width = structure.get::<i32>("width").map_err(|e| format!("caps width: {e}"))? as usize;
    let height = structure.get::<i32>("height").map_err(|e| format!("caps height: {e}"))? as usize;
    let buffer = sample.buffer().ok_or("sample without buffer")?;
    let map = buffer.map_readable().map_err(|e| format!("mapping the buffer: {e}"))?;
    let stride = (width * 3 + 3) & !3;
    if map.len() < stride * (height - 1) + width * 3 {
        return Err(format!("buffer of {} bytes for {width}x{height} RGB", map.len()));
    }
    let mut data = Vec::with_capacity(width * height * 3);
    for row in 0..height {
        data.extend_from_slice(&map[row * stride..row * stride + width * 3]);
    }
    let pts_ms = buffer.pts().map(|t| t.mseconds() as i64).unwrap_or(0);
    let frame = RgbFrame::new(width as u32, height as u32, data).ok_or("frame size mismatch")?;
    Ok(SourceFrame { pts_ms, frame, duration_ms: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_follow_the_url_scheme() {
        let rtsp = SourceSpec::new("rtsp://127.0.0.1:8554/cam");
        assert!(rtsp.is_live());
        assert!(rtsp.pipeline_description().starts_with("rtspsrc location=\"rtsp://127.0.0.1:8554/cam\""));
        let file = SourceSpec::new("file:///videos/a b.mp4");
        assert!(!file.is_live());
        assert!(file.pipeline_description().starts_with("filesrc location=\"/videos/a b.mp4\" ! decodebin"));
        let mjpeg = SourceSpec::new("http://cam.local/video.mjpg");
        assert!(mjpeg.pipeline_description().contains("multipartdemux ! jpegdec"));
        let usb = SourceSpec { analysis_fps: 7, width: 320, ..SourceSpec::new("v4l2:///dev/video0") };
        let description = usb.pipeline_description();
        assert!(description.starts_with("v4l2src device=\"/dev/video0\""));
        assert!(description.contains("framerate=7/1") && description.contains("width=320"));
        assert!(description.ends_with("drop=true"), "live sources drop what analysis cannot keep up with");
        assert!(file.pipeline_description().ends_with("drop=false"), "files wait for analysis");
    }
}
