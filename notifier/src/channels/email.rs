//! Email channel: one mail per alert through the SMTP relay, with the best shot attached and a
//! Message-ID derived from the alert id (a resent alert can be recognised).

use sightline_common::clock::format_time;
use sightline_common::mail::{Mail, MailError, Mailer};

use super::Attempt;
use crate::alert::Alert;

/// Mails one alert to `to`; a relay that cannot be reached or answers a transient error is retried,
/// a permanent refusal (bad recipient, policy) is not.
pub async fn send(
    mailer: &Mailer,
    alert: &Alert,
    to: &[String],
    best_shot: Option<Vec<u8>>,
    base_url: &str,
) -> Attempt {
    let subject = format!(
        "Watchlist alert: {} ({}) on {}",
        alert.person_display_name,
        alert.list_name,
        if alert.site.is_empty() { alert.stream_id.as_str() } else { alert.site.as_str() }
    );
    let body = format!(
        "{name} of watchlist \"{list}\" was seen.\n\nSimilarity: {similarity:.2}\nStream: {stream}\nSite: {site}\n\
         First seen: {first}\nCaptured: {captured}\nRule: {rule}\nAlert id: {id}\nBest shot: {url}\n",
        name = alert.person_display_name,
        list = alert.list_name,
        similarity = alert.similarity,
        stream = alert.stream_id,
        site = alert.site,
        first = format_time(alert.first_seen_ms),
        captured = format_time(alert.capture_time_ms),
        rule = alert.rule_name,
        id = alert.id,
        url = alert.best_shot_url(base_url),
    );
    let mail = Mail {
        subject: &subject,
        body,
        to,
        filename: "best-shot.jpg",
        content_type: "image/jpeg",
        attachment: best_shot.unwrap_or_default(),
        message_id: format!("alert-{}@sightline", alert.id),
    };
    match mailer.send(mail).await {
        Ok(()) => Attempt::Delivered { status_code: 0 },
        Err(MailError::Relay(error)) if error.is_permanent() => {
            Attempt::Fail { status_code: 0, error: format!("relay refused the mail: {error}") }
        }
        Err(MailError::Relay(error)) => Attempt::Retry { status_code: 0, error: format!("relay: {error}") },
        Err(error @ (MailError::Message(_) | MailError::Settings(_))) => {
            Attempt::Fail { status_code: 0, error: error.to_string() }
        }
    }
}
