//! Ingest: video streams (RTSP, files, MJPEG, USB) to tracked face and body detections on Kafka.
//!
//! Built so far (issue #3 is in progress):
//! - [`frame`]: the RGB frames the detectors read;
//! - [`detect`]: the face detector (RetinaFace-MobileNet0.25, five landmarks) and the person detector
//!   (SSDLite-MobileNetV2), run with ONNX Runtime through `ort` (library loaded dynamically, models
//!   prepared by `infra/models`).
//!
//! Still to come: GStreamer sources, tracking and best shots, the streams REST API and the Kafka
//! producer.

pub mod detect;
pub mod frame;
