//! Kafka channel: the alert as an `AlertEvent` on `sightline.alerts.v1`, keyed by stream id, through
//! an idempotent producer (acknowledged by all in-sync replicas).

use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

use sightline_common::keys::KeyRing;
use sightline_common::sealing::seal_alert;

use super::Attempt;
use crate::alert::Alert;

/// Produces one alert to `topic` and waits for the acknowledgement. Its match is sealed with the
/// template key of the event that raised it (docs/privacy.md); an alert whose key is destroyed (its
/// person erased or expired) is not produced.
pub async fn send(producer: &FutureProducer, topic: &str, alert: &Alert, keys: &KeyRing) -> Attempt {
    let mut event = alert.event();
    if let Some((day, id)) = alert.key {
        match keys.key(day, id).await {
            Ok(Some(key)) => {
                if let Err(error) = seal_alert(&mut event, &key) {
                    return Attempt::Retry { status_code: 0, error: format!("sealing the alert: {error}") };
                }
            }
            Ok(None) => {
                return Attempt::Fail {
                    status_code: 0,
                    error: "the alert's person is erased (its key is destroyed)".into(),
                };
            }
            Err(error) => return Attempt::Retry { status_code: 0, error: format!("the alert's key: {error}") },
        }
    }
    let payload = event.encode_to_vec();
    let record: FutureRecord<'_, str, [u8]> =
        FutureRecord::to(topic).key(alert.stream_id.as_str()).payload(payload.as_slice());
    match producer.send(record, Duration::from_secs(30)).await {
        Ok(_) => Attempt::Delivered { status_code: 0 },
        Err((error, _)) if sightline_common::kafka::is_too_large(&error) => {
            Attempt::Fail { status_code: 0, error: format!("alert too large for the broker: {error}") }
        }
        Err((error, _)) => Attempt::Retry { status_code: 0, error: format!("producing to {topic}: {error}") },
    }
}
