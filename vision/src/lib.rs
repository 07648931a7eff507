//! Vision shared by Sightline's services: ingest detects faces and people in video frames; enrich
//! aligns faces and computes their descriptors, and detects faces in enrolment photos.
//!
//! - [`frame`]: packed RGB frames, boxes, decoding of PNG/JPEG, bilinear resampling;
//! - [`detect`]: the ONNX Runtime environment (library loaded dynamically from the path
//!   `infra/models` prepares), RetinaFace (faces with five landmarks) and SSDLite (people);
//! - [`align`]: the similarity transform from five landmarks onto the 112x112 ArcFace template;
//! - [`descriptor`]: MobileFaceNet descriptors (192-d, L2-normalised), batched;
//! - [`photo`]: the descriptor of the one face in an uploaded photo (enrolment, face search).

pub mod align;
pub mod descriptor;
pub mod detect;
pub mod frame;
pub mod photo;
