//! The notifier's settings: defaults, then `notifier.toml`, then `SIGHTLINE_NOTIFIER__*` variables.

use serde::{Deserialize, Serialize};
use sightline_common::kafka::KafkaSettings;
use sightline_common::mail::SmtpSettings;
use std::time::Duration;

/// Everything the notifier can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierSettings {
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// Consumer group; notifiers of one group share the topic's partitions.
    pub group_id: String,
    /// Topic of enriched events watched.
    pub input_topic: String,
    /// Topic alerts are produced to (the `kafka` channel).
    pub alerts_topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// PostgreSQL URL (rules, alerts, deliveries).
    pub postgres_url: String,
    /// Address of the REST API and the live feed.
    pub http_addr: String,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_addr: std::net::SocketAddr,
    /// Base URL of the query API, for the best-shot link in alerts
    /// (`{best_shot_base_url}/v1/events/{event_id}/best-shot`).
    pub best_shot_base_url: String,
    /// A member silent this long leaves the group and its partitions move on, ms (see the writer's).
    pub session_timeout_ms: u32,
    /// The group is stalled when it has lag and no committed offset moved for this long, ms.
    pub stall_after_ms: u64,
    /// Messages per batch at most.
    pub batch_max: usize,
    /// How long a batch waits for more messages after its first, ms (alerts wait this long at most).
    pub batch_linger_ms: u64,
    /// Events appended to the topic longer ago than this raise no alert, seconds (a replay, or a
    /// backlog after an outage; they are still in the warehouse).
    pub max_event_age_secs: u64,
    /// How often due retries are looked for, ms (new alerts are delivered at once, not on this tick).
    pub poll_ms: u64,
    /// Deliveries in flight per notifier at most.
    pub max_deliveries_in_flight: usize,
    /// A delivery claimed by a notifier that died is claimed again after this long, ms.
    pub claim_lease_ms: u64,
    /// Webhook delivery.
    pub webhook: WebhookSettings,
    /// Mail relay.
    pub smtp: SmtpSettings,
    /// Attempts per delivery before it is given up and recorded as failed (webhook, email, kafka).
    pub max_attempts: u32,
    /// First retry delay of a failed delivery, ms (doubles per failure, with jitter).
    pub retry_initial_ms: u64,
    /// Longest retry delay, ms.
    pub retry_max_ms: u64,
    /// Bounds on the fields of an event; an event beyond them is dead-lettered.
    pub limits: sightline_schemas::validate::Limits,
    /// `production` refuses the local stack's credentials at start.
    pub deployment: sightline_common::config::Deployment,
    /// The key-encryption key and how long opened keys are kept (`[privacy]`).
    pub privacy: sightline_common::privacy::PrivacySettings,
    /// Where alerts' best shots and scenes are stored (`[objects]`); while it is down, alerts are
    /// raised and delivered all the same, their images stored once it is back (and `/readyz` names
    /// the limitation).
    pub objects: sightline_common::objects::ObjectStoreSettings,
}

/// How webhooks are called.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Seconds a receiver has to answer before the attempt counts as failed (and is retried).
    pub timeout_ms: u64,
    /// Hosts (names or IP addresses, exactly as in the URL) that may be called although they are
    /// not publicly routable (loopback, private, link-local). Empty: only public targets.
    pub allow_hosts: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { timeout_ms: 5_000, allow_hosts: Vec::new() }
    }
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            group_id: "sightline-notifier".into(),
            input_topic: sightline_schemas::topics::EVENTS_V1.into(),
            alerts_topic: sightline_schemas::topics::ALERTS_V1.into(),
            dlq_topic: sightline_schemas::topics::DLQ_V1.into(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            http_addr: "127.0.0.1:8085".into(),
            metrics_addr: ([127, 0, 0, 1], 9469).into(),
            best_shot_base_url: "http://127.0.0.1:8083".into(),
            session_timeout_ms: 6_000,
            stall_after_ms: 30_000,
            batch_max: 64,
            batch_linger_ms: 5,
            max_event_age_secs: 600,
            poll_ms: 1_000,
            max_deliveries_in_flight: 32,
            claim_lease_ms: 60_000,
            webhook: WebhookSettings::default(),
            smtp: SmtpSettings { from: "Sightline alerts <alerts@sightline.local>".into(), ..SmtpSettings::default() },
            max_attempts: 10,
            retry_initial_ms: 1_000,
            retry_max_ms: 60_000,
            limits: Default::default(),
            deployment: Default::default(),
            privacy: Default::default(),
            objects: Default::default(),
        }
    }
}

impl NotifierSettings {
    /// The retry delay after `failures` failed attempts of one delivery.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        sightline_common::retry::Backoff::delay_after(
            Duration::from_millis(self.retry_initial_ms),
            Duration::from_millis(self.retry_max_ms),
            failures,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(relative: &str) -> Result<NotifierSettings, sightline_common::config::ConfigError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        sightline_common::config::load("notifier_settings_test", Some(&path))
    }

    #[test]
    fn shipped_configs_load_and_unknown_keys_are_refused() {
        let local = load("notifier.toml").expect("the local config loads");
        assert_eq!(local.alerts_topic, sightline_schemas::topics::ALERTS_V1);
        assert_eq!(local.webhook.allow_hosts, ["127.0.0.1", "localhost"]);
        let production = load("../infra/deploy/notifier.production.toml").expect("the production config loads");
        assert_eq!(production.deployment, sightline_common::config::Deployment::Production);
        assert!(production.webhook.allow_hosts.is_empty(), "production calls public receivers only");
        assert_eq!(production.kafka.properties.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
        let dir = std::env::temp_dir().join(format!("notifier-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "max_atempts = 3\n").expect("write");
        let error = sightline_common::config::load::<NotifierSettings>("notifier_settings_test", Some(&typo))
            .expect_err("an unknown key is refused");
        assert!(error.to_string().contains("max_atempts"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
