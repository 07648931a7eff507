//! End-to-end test of scheduled reports on the real stack: events land through Kafka and the writer
//! in ClickHouse; schedules are created over `sightline-scheduler`'s API; the reports arrive as mail
//! at the stack's SMTP server (aiosmtpd, a Maildir), and their attachments must hold exactly what the
//! schedule selects. Two scheduler instances share the work without sending any run twice; no
//! schedule runs more often than the minimum interval; a relay that is down is recorded and retried.
//! The schedulers run with the shipped settings.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{Value, json};
use sightline_common::auth::Role;
use sightline_common::clock::now_ms;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile};
use sightline_testkit::mail::attachments_to;
use sightline_testkit::stack::{self, ServiceProcess, TestDatabase, call, eventually};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const OPERATOR: &str = "operator-secret";
const VIEWER: &str = "viewer-secret";
const EVENTS: u64 = 120;

fn start_scheduler(
    db: &TestDatabase,
    database: &str,
    smtp_port: &str,
    name: &str,
) -> anyhow::Result<(ServiceProcess, u16)> {
    let port = stack::free_port()?;
    let clickhouse = stack::clickhouse(database);
    let mut settings = stack::api_settings(port, &db.url, &clickhouse);
    // The stack's sink is on loopback: plain SMTP, as the shipped scheduler.toml says.
    settings.extend([("SMTP__PORT", smtp_port.to_owned()), ("SMTP__SECURITY", "plain".to_owned())]);
    Ok((ServiceProcess::start("sightline-scheduler", "SCHEDULER", "METRICS_ADDR", &[], &settings, name)?, port))
}

#[tokio::test]
async fn scheduled_reports_arrive_by_mail_once_each() -> anyhow::Result<()> {
    // Events of the last hour, landed by the writer.
    let profile = LoadProfile { seed: 31, start_ms: now_ms() - 3_600_000, ..Default::default() };
    let (iso, events) = stack::landed_events("scheduler", &EventGenerator::new(profile), EVENTS).await?;

    let db = TestDatabase::create("test_scheduler").await?;
    sightline_common::auth::register(&db.pool, "operator", OPERATOR, Role::Operator).await?;
    sightline_common::auth::register(&db.pool, "viewer", VIEWER, Role::Viewer).await?;
    let smtp_port = std::env::var("SIGHTLINE_SMTP")?.rsplit(':').next().unwrap_or("2525").to_owned();
    let (first, port) = start_scheduler(&db, &iso.database, &smtp_port, &format!("{}-a", iso.group))?;
    let (second, _) = start_scheduler(&db, &iso.database, &smtp_port, &format!("{}-b", iso.group))?;
    eventually(Duration::from_secs(30), "the scheduler API", || async {
        Ok(call(port, "GET", "/v1/schedules", OPERATOR, None).ok().filter(|(s, _)| *s == 200).map(|_| ()))
    })
    .await?;
    // Schedules name their recipients: viewers see none of them.
    assert_eq!(call(port, "GET", "/v1/schedules", VIEWER, None)?.0, 403, "viewers may not read schedules");
    let tag = &iso.group;

    // Validation and roles.
    let bad = json!({"name": "bad", "cron": "daily", "format": "pdf", "recipients": ["a@example.com"]});
    let (status, body) = call(port, "POST", "/v1/schedules", OPERATOR, Some(bad))?;
    assert!(status == 400 && body["error"].as_str().is_some_and(|e| e.starts_with("cron")), "{status} {body}");
    let pdf_to = format!("pdf-{tag}@example.com");
    let pdf_schedule = json!({
        "name": format!("Matched faces {tag}"), "cron": "0 0 0 1 1 *", "format": "pdf",
        "filters": {"matched": true}, "recipients": [pdf_to]
    });
    let (status, _) = call(port, "POST", "/v1/schedules", VIEWER, Some(pdf_schedule.clone()))?;
    assert_eq!(status, 403, "viewers cannot schedule");
    let (status, created) = call(port, "POST", "/v1/schedules", OPERATOR, Some(pdf_schedule.clone()))?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(call(port, "POST", "/v1/schedules", OPERATOR, Some(pdf_schedule))?.0, 409, "names are unique");
    let pdf_id = created["id"].as_str().unwrap_or_default().to_owned();

    // A yearly PDF, sent now on demand.
    assert_eq!(call(port, "POST", &format!("/v1/schedules/{pdf_id}/run"), OPERATOR, None)?.0, 202);
    let pdf_mail = eventually(Duration::from_secs(30), "the PDF report by mail", || async {
        Ok(attachments_to(&pdf_to)?.into_iter().next())
    })
    .await?;
    assert!(pdf_mail.attachment_name.ends_with(".pdf"), "{pdf_mail:?}");
    assert_eq!(pdf_mail.header("Subject").as_deref(), Some(format!("Matched faces {tag}").as_str()));
    let contents = sightline_exporter::read_pdf(&pdf_mail.attachment).map_err(anyhow::Error::msg)?;
    let faces = events.iter().filter(|e| e.detection.as_ref().is_some_and(|d| d.kind == 1)).count();
    for needle in [format!("Matched faces {tag}"), format!("{faces} faces"), "Filters: matched = true".to_owned()] {
        assert!(contents.text.contains(&needle), "{needle:?} missing from the mailed PDF: {}", contents.text);
    }

    // No schedule may run more often than the minimum interval (60 s by default).
    let too_often = json!({
        "name": format!("Every two seconds {tag}"), "cron": "*/2 * * * * *", "format": "csv",
        "recipients": ["often@example.com"]
    });
    let (status, body) = call(port, "POST", "/v1/schedules", OPERATOR, Some(too_often))?;
    let error = body["error"].as_str().unwrap_or_default();
    assert!(status == 400 && error.starts_with("cron") && error.contains("at most once every 60 s"), "{status} {body}");

    // A CSV every minute, first due a few seconds from now, with filters: the mail holds exactly
    // the selected events, and the two instances send the run once.
    let csv_to = format!("csv-{tag}@example.com");
    let due_second = (now_ms() / 1000 + 4) % 60;
    let csv_schedule = json!({
        "name": format!("Site b faces {tag}"), "cron": format!("{due_second} * * * * *"), "format": "csv",
        "range_hours": 2, "filters": {"site": "site-b", "kind": "face"}, "recipients": [csv_to]
    });
    let (status, created) = call(port, "POST", "/v1/schedules", OPERATOR, Some(csv_schedule))?;
    assert_eq!(status, 201, "{created}");
    let csv_id = created["id"].as_str().unwrap_or_default().to_owned();
    let csv_mail = eventually(Duration::from_secs(30), "the CSV report", || async {
        Ok(attachments_to(&csv_to)?.into_iter().next())
    })
    .await?;
    let want: BTreeSet<String> = events
        .iter()
        .filter(|e| e.detection.as_ref().is_some_and(|d| d.site == "site-b" && d.kind == 1))
        .map(|e| e.event_id.clone())
        .collect();
    let text = String::from_utf8(csv_mail.attachment.clone())?;
    let got: BTreeSet<String> = text.lines().skip(1).filter_map(|l| l.split(',').next().map(str::to_owned)).collect();
    assert_eq!(got, want, "the CSV report holds exactly the selected events");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attachments_to(&csv_to)?.len(), 1, "two instances polling every second mail the run once");

    // An expression stored behind the API's back (a manual edit, an older release): every second,
    // due now. It runs once, then not again before the minimum interval has passed.
    sqlx::query("UPDATE report_schedules SET cron = '* * * * * *', next_run_at = now() WHERE id = $1::uuid")
        .bind(&csv_id)
        .execute(&db.pool)
        .await?;
    let ran_at = now_ms();
    eventually(Duration::from_secs(30), "the run due now", || async {
        Ok((attachments_to(&csv_to)?.len() >= 2).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mails = attachments_to(&csv_to)?;
    assert_eq!(mails.len(), 2, "an every-second expression ran more than once within 5 s");
    let (_, stored) = call(port, "GET", &format!("/v1/schedules/{csv_id}"), OPERATOR, None)?;
    assert!(stored["next_run_ms"].as_i64().is_some_and(|next| next >= ran_at + 60_000), "{stored}");
    assert_eq!(call(port, "DELETE", &format!("/v1/schedules/{csv_id}"), OPERATOR, None)?.0, 204);
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for mail in &mails {
        *by_id.entry(mail.header("Message-ID").unwrap_or_default()).or_default() += 1;
    }
    assert!(by_id.values().all(|&n| n == 1), "a run was mailed twice: {by_id:?}");
    // Each mail is in the audit log with its recipients, recorded by the scheduler before it left.
    let recorded: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT action, principal_name, detail FROM audit_log WHERE action LIKE 'export.mail.%' \
         AND subject LIKE $1 ORDER BY id",
    )
    .bind(format!("schedule {csv_id} %"))
    .fetch_all(&db.pool)
    .await?;
    assert_eq!(recorded.len(), mails.len(), "one audit record per mail: {recorded:?}");
    assert!(
        recorded.iter().all(|(action, who, detail)| action == "export.mail.csv"
            && who == "scheduler"
            && detail["recipients"] == json!([csv_to])),
        "{recorded:?}"
    );

    // The deliveries of the PDF schedule are visible, and counted.
    assert!(
        first.metric("sightline_scheduler_reports_sent_total")?
            + second.metric("sightline_scheduler_reports_sent_total")?
            >= 3.0
    );
    assert_eq!(call(port, "GET", &format!("/v1/schedules/{pdf_id}/deliveries"), VIEWER, None)?.0, 403);
    let (status, deliveries) = call(port, "GET", &format!("/v1/schedules/{pdf_id}/deliveries"), OPERATOR, None)?;
    assert_eq!(status, 200);
    let first_delivery = &deliveries["deliveries"][0];
    assert_eq!(first_delivery["ok"], true, "{deliveries}");
    assert!(first_delivery["bytes"].as_i64().unwrap_or(0) > 1000, "{deliveries}");

    // A relay that is down: the attempt is recorded with its error and retried.
    drop(first);
    let dead_port = stack::free_port()?.to_string();
    let (_failing, failing_port) = start_scheduler(&db, &iso.database, &dead_port, &format!("{}-c", iso.group))?;
    eventually(Duration::from_secs(30), "the second scheduler API", || async {
        Ok(call(failing_port, "GET", "/v1/schedules", OPERATOR, None).ok().filter(|(s, _)| *s == 200).map(|_| ()))
    })
    .await?;
    drop(second);
    assert_eq!(call(failing_port, "POST", &format!("/v1/schedules/{pdf_id}/run"), OPERATOR, None)?.0, 202);
    let failures = eventually(Duration::from_secs(30), "two failed attempts", || async {
        let (_, body) = call(failing_port, "GET", &format!("/v1/schedules/{pdf_id}/deliveries"), OPERATOR, None)?;
        let failed: Vec<Value> = body["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d["ok"] == false)
            .collect();
        Ok((failed.len() >= 2).then_some(failed))
    })
    .await?;
    assert!(failures.iter().all(|d| d["error"].as_str().is_some_and(|e| e.contains("relay"))), "{failures:?}");
    let attempts: BTreeSet<i64> = failures.iter().filter_map(|d| d["attempt"].as_i64()).collect();
    assert!(attempts.contains(&1) && attempts.contains(&2), "retried: {failures:?}");

    db.remove().await?;
    Ok(())
}
