//! Ingest: video streams (RTSP, files, MJPEG, USB) to tracked face and body detections on Kafka.
//!
//! Not built yet: this crate is a placeholder until issue #3. The event contracts it will
//! read and write are in `sightline-schemas`.
