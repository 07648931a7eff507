//! Ingest: video streams (RTSP, files, MJPEG, USB) to tracked face and body detections on Kafka.
//!
//! The modules, in the order data flows through them:
//! - [`source`]: GStreamer sources (RTSP, files, HTTP MJPEG, V4L2) to RGB frames at the analysis
//!   rate, with reconnects, backoff and a visible state per stream; files decode in the
//!   [`background`], on the cycles analysis leaves idle;
//! - [`clip`]: a clip of every reported track, from the stream's own H.264 (a ring of the last
//!   seconds for the pre-roll), as fragmented MP4 segments stored while the track lasts;
//! - [`track`]: tracking per stream (IoU against a constant-velocity prediction), track lifecycle,
//!   best shot by quality, faces linked to their bodies;
//! - [`events`]: a track report as a `DetectionEvent` (the `sightline.detections.v1` contract), with
//!   its best shot as JPEG and an id that is the same on every retry;
//! - [`api`]: the streams REST API (PostgreSQL, bearer tokens with roles, JSON errors);
//! - [`supervisor`]: one worker per enabled stream, restarted live on table changes;
//! - [`worker`]: one stream's loop: source, detectors, region of interest, tracker, events produced
//!   to Kafka; a live connection that drops ends its open tracks at once;
//! - [`snapshot`]: the last analysed frame of each stream with its detections drawn, for operators;
//! - [`live`]: each stream's analysed frames as they come, to whoever watches (MJPEG);
//! - [`metrics`]: Prometheus metrics per stream;
//! - [`testmedia`]: test videos of people (cut from real photos) moving at known times, with ground
//!   truth;
//! - [`detect`] and [`frame`] (from `sightline-vision`, shared with enrich): the face detector
//!   (RetinaFace-MobileNet0.25, five landmarks) and the person detector (SSDLite-MobileNetV2) run with
//!   ONNX Runtime through `ort` (library loaded dynamically, models prepared by `infra/models`), and
//!   the RGB frames they read.
//!
//! The `sightline-ingest` binary puts them together; `sightline-rtsp-serve` serves test video over
//! RTSP and `sightline-testmedia` writes the test video with its ground truth. `make bench-ingest`
//! (`benches/ingest_throughput.rs`) measures the whole path against raw ONNX Runtime.

pub mod api;
pub mod background;
pub mod clip;
pub mod events;
pub mod health;
pub mod live;
pub mod metrics;
pub mod ownership;
pub mod sealing;
pub mod snapshot;
pub mod source;
pub mod supervisor;
pub mod testmedia;
pub mod track;
pub mod worker;

// Frames and detectors are shared with enrich (crate `sightline-vision`).
pub use sightline_vision::{detect, frame};
