//! Email channel: one mail per alert through the SMTP relay, with the best shot attached and a
//! Message-ID derived from the alert id (a resent alert can be recognised).

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
        first = utc(alert.first_seen_ms),
        captured = utc(alert.capture_time_ms),
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
        Err(error @ MailError::Message(_)) => Attempt::Fail { status_code: 0, error: error.to_string() },
    }
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(super::utc(1_798_761_599_123), "2026-12-31 23:59:59.123 UTC");
    }
}
