//! Track reports as detection events (`sightline.detections.v1`).

use sightline_schemas::v1::{BoundingBox, DetectionEvent, Point, SCHEMA_VERSION, TrackReportKind};
use uuid::Uuid;

use crate::frame::RgbFrame;
use crate::track::{ReportReason, TrackReport};

/// Where the frames came from.
#[derive(Debug, Clone)]
pub struct StreamContext {
    /// Stream id (also the Kafka key).
    pub stream_id: String,
    /// Site of the stream.
    pub site: String,
    /// Analysed frame size.
    pub frame_width: u32,
    /// Analysed frame size.
    pub frame_height: u32,
    /// The stream keeps faces that match no watchlist as counts only (stamped on each detection).
    pub count_only_unmatched_faces: bool,
    /// The ingest instance analysing the stream, named in each record's [`INSTANCE_HEADER`] (empty:
    /// no header).
    pub instance: String,
}

/// The record header naming the ingest instance that analysed a detection: with it, a consumer
/// can tell which machine reported a stream (one at a time, by the streams' leases).
pub const INSTANCE_HEADER: &str = "sightline-instance";

/// JPEG quality of best-shot crops.
const JPEG_QUALITY: u8 = 90;

/// The event for `report`. Its id is derived from the track id and the report's sequence number, so
/// a retried or re-sent report keeps its id (consumers deduplicate on it).
pub fn detection_event(context: &StreamContext, report: &TrackReport, processing_time_ms: i64) -> DetectionEvent {
    let event_id = Uuid::new_v5(&report.track_id, format!("report-{}", report.sequence).as_bytes());
    let shot = &report.best_shot;
    DetectionEvent {
        schema_version: SCHEMA_VERSION,
        event_id: event_id.to_string(),
        stream_id: context.stream_id.clone(),
        site: context.site.clone(),
        capture_time_ms: shot.time_ms,
        processing_time_ms,
        track_id: report.track_id.to_string(),
        kind: report.kind as i32,
        bbox: Some(inside_frame(&shot.bbox, context.frame_width, context.frame_height)),
        landmarks: shot.landmarks.iter().map(|&(x, y)| Point { x, y }).collect(),
        detection_score: shot.score,
        quality: shot.quality,
        best_shot_jpeg: encode_jpeg(&shot.crop),
        best_shot_origin: Some(Point { x: shot.crop_origin.0 as f32, y: shot.crop_origin.1 as f32 }),
        first_seen_ms: report.first_seen_ms,
        last_seen_ms: report.last_seen_ms,
        frame_count: report.frame_count,
        frame_width: context.frame_width,
        frame_height: context.frame_height,
        track_ended: report.ended(),
        parent_track_id: report.parent_track_id.map(|id| id.to_string()).unwrap_or_default(),
        report_kind: match report.reason {
            ReportReason::First => TrackReportKind::First,
            ReportReason::Improved => TrackReportKind::Improved,
            ReportReason::Update => TrackReportKind::Update,
            ReportReason::Ended => TrackReportKind::Ended,
        } as i32,
        report_sequence: report.sequence,
        sealed: None,
        count_only_unmatched_faces: context.count_only_unmatched_faces,
        clip_key: String::new(),
        clip_start_ms: 0,
    }
}

/// The part of `bbox` inside a `width` x `height` frame: the contract wants boxes in the frame, and a
/// face detector's box may reach past an edge for a face that is cut off.
fn inside_frame(bbox: &crate::frame::BoxF, width: u32, height: u32) -> BoundingBox {
    let (right, bottom) = ((bbox.x + bbox.width).min(width as f32), (bbox.y + bbox.height).min(height as f32));
    let (x, y) = (bbox.x.clamp(0.0, width as f32), bbox.y.clamp(0.0, height as f32));
    BoundingBox { x, y, width: (right - x).max(0.0), height: (bottom - y).max(0.0) }
}

/// The frame as JPEG; `None` if it cannot be encoded (then the event carries no image).
pub fn encode_jpeg(frame: &RgbFrame) -> Option<Vec<u8>> {
    frame.to_jpeg(JPEG_QUALITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::BoxF;
    use crate::track::BestShot;
    use sightline_schemas::v1::ObjectKind;

    fn report(sequence: u32, reason: ReportReason) -> TrackReport {
        let crop = RgbFrame { width: 30, height: 40, data: (0..30 * 40 * 3).map(|i| (i % 251) as u8).collect() };
        TrackReport {
            track_id: Uuid::from_u128(7),
            kind: ObjectKind::Face,
            first_seen_ms: 1_000,
            last_seen_ms: 3_000,
            frame_count: 20,
            best_shot: BestShot {
                time_ms: 2_000,
                bbox: BoxF { x: 10.0, y: 20.0, width: 24.0, height: 32.0 },
                landmarks: vec![(1.0, 2.0); 5],
                score: 0.97,
                quality: 0.8,
                crop,
                crop_origin: (4, 12),
            },
            parent_track_id: Some(Uuid::from_u128(9)),
            reason,
            sequence,
        }
    }

    #[test]
    fn a_report_becomes_a_complete_event_with_a_stable_id() {
        let context = StreamContext {
            stream_id: "cam-1".into(),
            site: "hq".into(),
            frame_width: 1280,
            frame_height: 720,
            count_only_unmatched_faces: false,
            instance: String::new(),
        };
        let event = detection_event(&context, &report(0, ReportReason::Ended), 5_000);
        assert_eq!(event, detection_event(&context, &report(0, ReportReason::Ended), 5_000));
        assert_ne!(event.event_id, detection_event(&context, &report(1, ReportReason::Ended), 5_000).event_id);
        assert_eq!(event.kind, ObjectKind::Face as i32);
        assert_eq!((event.capture_time_ms, event.first_seen_ms, event.last_seen_ms), (2_000, 1_000, 3_000));
        assert_eq!(event.landmarks.len(), 5);
        assert_eq!(event.parent_track_id, Uuid::from_u128(9).to_string());
        assert_eq!(event.best_shot_origin, Some(Point { x: 4.0, y: 12.0 }));
        assert!(event.track_ended);
        assert_eq!((event.report_kind, event.report_sequence), (TrackReportKind::Ended as i32, 0));
        let first = detection_event(&context, &report(0, ReportReason::First), 5_000);
        assert!(!first.track_ended);
        assert_eq!((first.report_kind, first.report_sequence), (TrackReportKind::First as i32, 0));
        let jpeg = event.best_shot_jpeg.expect("best shot");
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        let decoded = image::load_from_memory(&jpeg).expect("valid jpeg");
        assert_eq!((decoded.width(), decoded.height()), (30, 40));
    }

    #[test]
    fn a_box_past_the_frame_edge_is_cut_to_the_frame() {
        let context = StreamContext {
            stream_id: "cam-1".into(),
            site: "hq".into(),
            frame_width: 640,
            frame_height: 360,
            count_only_unmatched_faces: false,
            instance: String::new(),
        };
        let mut edge = report(0, ReportReason::Ended);
        edge.best_shot.bbox = BoxF { x: -6.0, y: 340.0, width: 30.0, height: 40.0 };
        let event = detection_event(&context, &edge, 5_000);
        assert_eq!(event.bbox, Some(BoundingBox { x: 0.0, y: 340.0, width: 24.0, height: 20.0 }));
        let limits = sightline_schemas::validate::Limits::default();
        assert_eq!(sightline_schemas::validate::detection(&event, "", &limits), Ok(()));
    }
}
