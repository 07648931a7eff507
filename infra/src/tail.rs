//! `sightline-admin tail`: reads a topic with a throw-away consumer group (it commits nothing) and prints
//! each event decoded, one line each, so an operator can see what flows.

use anyhow::Context;
use prost::Message as _;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_common::kafka::KafkaSettings;
use sightline_schemas::v1::{DetectionEvent, EnrichedEvent, ObjectKind, TrackReportKind};
use std::time::Duration;

/// The topics `tail` can decode.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TailTopic {
    /// `sightline.detections.v1`.
    Detections,
    /// `sightline.events.v1`.
    Events,
}

/// One line about a detection.
fn describe_detection(event: &DetectionEvent) -> String {
    let kind = ObjectKind::try_from(event.kind).map(|k| k.as_str_name()).unwrap_or("UNKNOWN");
    let kind = kind.trim_start_matches("OBJECT_KIND_").to_lowercase();
    let report = match TrackReportKind::try_from(event.report_kind) {
        Ok(TrackReportKind::Unspecified) | Err(_) if event.track_ended => "ended".to_owned(),
        Ok(TrackReportKind::Unspecified) | Err(_) => "update".to_owned(),
        Ok(kind) => kind.as_str_name().trim_start_matches("TRACK_REPORT_KIND_").to_lowercase(),
    };
    let bbox = event.bbox.map(|b| format!("{:.0},{:.0} {:.0}x{:.0}", b.x, b.y, b.width, b.height)).unwrap_or_default();
    format!(
        "{} stream={} site={} {kind} track={} report={report}#{} frames={} seen={}..{}ms box={bbox} quality={:.2} best_shot={}",
        event.event_id,
        event.stream_id,
        event.site,
        event.track_id,
        event.report_sequence,
        event.frame_count,
        event.first_seen_ms,
        event.last_seen_ms,
        event.quality,
        best_shot(event),
    )
}

/// The detection's best shot as the wire carries it: its size in clear, sealed, or none.
fn best_shot(event: &DetectionEvent) -> String {
    match (&event.best_shot_jpeg, &event.sealed) {
        (Some(jpeg), _) => format!("{}B", jpeg.len()),
        (None, Some(sealed)) => format!("sealed:{}B", sealed.ciphertext.len()),
        (None, None) => "0B".to_owned(),
    }
}

fn describe(topic: TailTopic, payload: &[u8]) -> String {
    match topic {
        TailTopic::Detections => match DetectionEvent::decode(payload) {
            Ok(event) => describe_detection(&event),
            Err(error) => format!("undecodable detection ({} bytes): {error}", payload.len()),
        },
        TailTopic::Events => match EnrichedEvent::decode(payload) {
            Ok(event) => {
                let matches: Vec<String> = event
                    .matches
                    .iter()
                    .map(|m| format!("{}:{}@{:.3}", m.list_name, m.person_display_name, m.similarity))
                    .collect();
                let detection = event.detection.as_ref().map(describe_detection).unwrap_or_default();
                // Sealed fields are not opened here: reading them is for the audited services.
                if event.sealed.is_some() {
                    return format!("{} descriptor and matches sealed <- {detection}", event.event_id);
                }
                let descriptor = if event.descriptor.is_some() {
                    "descriptor".to_owned()
                } else {
                    format!("no descriptor ({})", event.descriptor_skip_reason)
                };
                format!("{} {descriptor} matches=[{}] <- {detection}", event.event_id, matches.join(" "))
            }
            Err(error) => format!("undecodable enriched event ({} bytes): {error}", payload.len()),
        },
    }
}

/// Which events `tail` prints and when it stops.
pub struct TailOptions {
    /// Stop after this many events.
    pub count: usize,
    /// Stop after this long without a (matching) event.
    pub idle: Duration,
    /// Read from the start of the topic instead of only new events.
    pub from_beginning: bool,
    /// Only events of this stream (the message key).
    pub stream: Option<String>,
    /// Stop after this many reports that end a track.
    pub until_ended: Option<usize>,
}

/// Whether `payload` is a report that ends its track.
fn ends_track(topic: TailTopic, payload: &[u8]) -> bool {
    match topic {
        TailTopic::Detections => DetectionEvent::decode(payload).is_ok_and(|e| e.track_ended),
        TailTopic::Events => EnrichedEvent::decode(payload).is_ok_and(|e| e.detection.is_some_and(|d| d.track_ended)),
    }
}

/// Prints the events of `topic` that `options` select.
pub async fn run(kafka: &KafkaSettings, topic: TailTopic, options: TailOptions) -> anyhow::Result<()> {
    let TailOptions { count, idle, from_beginning, stream, until_ended } = options;
    let name = match topic {
        TailTopic::Detections => sightline_schemas::topics::DETECTIONS_V1,
        TailTopic::Events => sightline_schemas::topics::EVENTS_V1,
    };
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("sightline-admin-tail-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", if from_beginning { "earliest" } else { "latest" })
        .set("fetch.wait.max.ms", "50")
        .create()
        .context("creating the consumer")?;
    consumer.subscribe(&[name]).with_context(|| format!("subscribing to {name}"))?;
    let (mut printed, mut ended) = (0, 0);
    while printed < count && until_ended.is_none_or(|n| ended < n) {
        let message = match tokio::time::timeout(idle, consumer.recv()).await {
            Err(_) => break,
            Ok(message) => message.with_context(|| format!("reading {name}"))?,
        };
        if stream.as_deref().is_some_and(|s| message.key() != Some(s.as_bytes())) {
            continue;
        }
        let payload = message.payload().unwrap_or_default();
        println!("[{}/{}@{}] {}", name, message.partition(), message.offset(), describe(topic, payload));
        printed += 1;
        ended += usize::from(ends_track(topic, payload));
    }
    eprintln!("{printed} event(s) from {name}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_schemas::v1::SealedFields;

    #[test]
    fn sealed_fields_are_shown_as_sealed_not_as_absent() {
        let sealed = SealedFields { ciphertext: vec![0; 48], ..Default::default() };
        let detection = DetectionEvent { track_id: "t1".into(), sealed: Some(sealed.clone()), ..Default::default() };
        let event = EnrichedEvent {
            event_id: "e1".into(),
            detection: Some(detection),
            sealed: Some(sealed),
            ..Default::default()
        };
        let line = describe(TailTopic::Events, &event.encode_to_vec());
        assert!(line.contains("descriptor and matches sealed") && line.contains("best_shot=sealed:48B"), "{line}");
        assert!(!line.contains("matches=[]") && !line.contains("no descriptor"), "{line}");
        let clear = EnrichedEvent { sealed: None, descriptor_skip_reason: "body".into(), ..event };
        assert!(describe(TailTopic::Events, &clear.encode_to_vec()).contains("no descriptor (body) matches=[]"));
    }
}
