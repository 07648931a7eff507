//! A report schedule: when (cron, in the schedule's time zone), what (PDF or CSV, a time range and the query API's event
//! filters) and to whom; validated into clear errors before it is stored.

use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};
use sightline_common::api::check_text;
use sightline_exporter::ReportClock;
use sightline_query::params::{EventFilter, ObjectKind};
use std::str::FromStr;

/// What a schedule mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The summary PDF (totals, streams, persons, latest events with best shots).
    Pdf,
    /// Every selected event as CSV.
    Csv,
}

impl Format {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Csv => "csv",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pdf" => Some(Format::Pdf),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// The event filters of a schedule, as stored (JSON) and sent over the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Only this site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Only this stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Only `face` or `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only events matched to this watchlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Only events matched to this person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Only events with a watchlist match.
    #[serde(default)]
    pub matched: bool,
}

impl Filters {
    /// The query service's filter; an error names a bad `kind`.
    pub fn to_event_filter(&self) -> Result<EventFilter, String> {
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some(label) => Some(
                ObjectKind::from_label(label).ok_or_else(|| format!("filters.kind: {label:?} is not face or body"))?,
            ),
        };
        let text = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(EventFilter {
            site: text(&self.site),
            stream: text(&self.stream),
            kind,
            list: text(&self.list),
            person: text(&self.person),
            matched_only: self.matched,
            every_report: false,
        })
    }
}

/// A schedule as created over the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Unique name (also the mail's subject).
    pub name: String,
    /// Cron expression, seconds first, in `tz`: `0 0 7 * * Mon-Fri` is 07:00 on weekdays.
    pub cron: String,
    /// The IANA time zone the expression runs in and the report's times are shown in (default UTC).
    #[serde(default = "default_tz")]
    pub tz: String,
    /// `pdf` or `csv`.
    pub format: Format,
    /// Hours before each run the report covers (default 24).
    #[serde(default = "default_range_hours")]
    pub range_hours: i32,
    /// Event filters.
    #[serde(default)]
    pub filters: Filters,
    /// Mail addresses.
    pub recipients: Vec<String>,
    /// Whether it runs (default true).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_tz() -> String {
    "UTC".to_owned()
}

fn default_range_hours() -> i32 {
    24
}

fn default_enabled() -> bool {
    true
}

/// A parsed cron expression in a time zone: `0 0 7 * * *` in Europe/Berlin runs at 07:00 there, in
/// winter and in summer time alike. A run that falls in the hour skipped when clocks go forward
/// happens an hour later; one in the hour repeated when they go back, once.
#[derive(Debug, Clone)]
pub struct Cron {
    schedule: cron::Schedule,
    zone: ReportClock,
}

/// Attempts to find a run whose local time and offset agree (two suffice but across a transition).
const OFFSET_ATTEMPTS: usize = 4;

impl Cron {
    /// Parses `expression` (seconds first), run in the IANA time zone `zone`.
    pub fn parse(expression: &str, zone: &str) -> Result<Self, String> {
        let zone = ReportClock::named(zone).map_err(|e| format!("tz: {e} (an IANA name such as Europe/Berlin)"))?;
        cron::Schedule::from_str(expression)
            .map(|schedule| Cron { schedule, zone })
            .map_err(|e| format!("cron: {expression:?} is not a cron expression with seconds first ({e})"))
    }

    /// The first run strictly after `after_ms` (ms since the epoch), if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        // The expression is read on the local clock at the offset in force; a run found across an
        // offset change is looked for again at the offset in force then.
        let mut offset = self.zone.offset_seconds(after_ms)?;
        let mut latest = None;
        for _ in 0..OFFSET_ATTEMPTS {
            let local = FixedOffset::east_opt(offset)?;
            let after: DateTime<FixedOffset> = local.timestamp_millis_opt(after_ms).single()?;
            let run = self.schedule.after(&after).next()?.timestamp_millis();
            let offset_then = self.zone.offset_seconds(run)?;
            if offset_then == offset {
                return Some(run);
            }
            latest = latest.max(Some(run));
            offset = offset_then;
        }
        // A local time that does not exist (clocks went forward): the later reading.
        latest
    }

    /// The run that follows one due at `due_ms`, at least `min_interval_ms` after it: the runner's
    /// guard, so no schedule fires more often than allowed, however its expression reads or came to
    /// be stored.
    pub fn next_run(&self, due_ms: i64, min_interval_ms: i64) -> Option<i64> {
        self.next_after(due_ms.saturating_add(min_interval_ms.max(1)) - 1)
    }

    /// The shortest time between two of the first `runs` runs after `after_ms`, ms (`None` with fewer
    /// than two runs).
    pub fn shortest_gap(&self, after_ms: i64, runs: usize) -> Option<i64> {
        let times: Vec<i64> =
            std::iter::successors(self.next_after(after_ms), |at| self.next_after(*at)).take(runs).collect();
        times.windows(2).map(|pair| pair[1] - pair[0]).min()
    }
}

/// Runs of a new expression checked against the minimum interval. Two runs closer than allowed
/// recur within a day or a month in any expression a person writes; the runner's
/// [`Cron::next_run`] enforces the interval whatever this check could not see.
const RUNS_CHECKED: usize = 1_000;

impl NewSchedule {
    /// Checks every field; the error names the first bad one. The expression must run again after
    /// `now_ms`, never more often than every `min_interval_ms`. Returns its first run after `now_ms`.
    pub fn validate(&self, now_ms: i64, min_interval_ms: i64) -> Result<i64, String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: 1 to 200 characters".into());
        }
        check_text("name", &self.name, 200)?;
        check_text("cron", &self.cron, 200)?;
        let filters = &self.filters;
        for (field, value) in [
            ("site", &filters.site),
            ("stream", &filters.stream),
            ("kind", &filters.kind),
            ("list", &filters.list),
            ("person", &filters.person),
        ] {
            if let Some(value) = value {
                check_text(&format!("filters.{field}"), value, 256)?;
            }
        }
        if !(1..=8784).contains(&self.range_hours) {
            return Err("range_hours: from 1 to 8784 (a year)".into());
        }
        if self.recipients.is_empty() || self.recipients.len() > 100 {
            return Err("recipients: 1 to 100 addresses".into());
        }
        for address in &self.recipients {
            check_text("recipients", address, 320)?;
            address
                .parse::<sightline_common::mail::Address>()
                .map_err(|e| format!("recipients: {address:?} is not a mail address ({e})"))?;
        }
        self.filters.to_event_filter()?;
        check_text("tz", &self.tz, 64)?;
        let cron = Cron::parse(&self.cron, &self.tz)?;
        let first = cron.next_after(now_ms).ok_or_else(|| format!("cron: {:?} never runs again", self.cron))?;
        if let Some(gap) = cron.shortest_gap(now_ms, RUNS_CHECKED).filter(|gap| *gap < min_interval_ms) {
            return Err(format!(
                "cron: {:?} runs {} s apart; a schedule may run at most once every {} s",
                self.cron,
                gap / 1000,
                min_interval_ms / 1000
            ));
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> NewSchedule {
        serde_json::from_value(serde_json::json!({
            "name": "daily", "cron": "0 0 7 * * *", "format": "pdf", "recipients": ["ops@example.com"]
        }))
        .expect("valid")
    }

    const NOW: i64 = 1_795_168_800_000; // 2026-11-20T10:00:00Z
    const MINUTE: i64 = 60_000;

    #[test]
    fn a_schedule_is_validated_field_by_field() {
        assert_eq!(schedule().validate(NOW, MINUTE), Ok(NOW + 21 * 3_600_000), "its first run: 07:00 next day");
        assert_eq!((schedule().range_hours, schedule().enabled), (24, true));
        let bad = |change: fn(&mut NewSchedule)| {
            let mut s = schedule();
            change(&mut s);
            s.validate(NOW, MINUTE).expect_err("invalid").split(':').next().unwrap_or_default().to_owned()
        };
        assert_eq!(bad(|s| s.cron = "every day".into()), "cron");
        assert_eq!(bad(|s| s.recipients = vec!["not an address".into()]), "recipients");
        assert_eq!(bad(|s| s.recipients.clear()), "recipients");
        assert_eq!(bad(|s| s.range_hours = 0), "range_hours");
        assert_eq!(bad(|s| s.filters.kind = Some("car".into())), "filters.kind");
        assert_eq!(bad(|s| s.cron = "0 0 0 1 1 * 2020".into()), "cron");
        assert_eq!(bad(|s| s.tz = "Mars/Olympus".into()), "tz");
        let tokyo = NewSchedule { tz: "Asia/Tokyo".into(), ..schedule() };
        assert_eq!(tokyo.validate(NOW, MINUTE), Ok(NOW + 12 * 3_600_000), "07:00 in Tokyo is 22:00 UTC");
        assert!(
            serde_json::from_value::<NewSchedule>(serde_json::json!({"name": "x", "cron": "* * * * * *",
            "format": "doc", "recipients": ["a@b.c"]}))
            .is_err()
        );
    }

    #[test]
    fn cron_runs_follow_the_expression_in_utc() {
        let cron = Cron::parse("0 0 7 * * *", "UTC").expect("cron");
        let noon = 1_795_168_800_000 + 2 * 3_600_000; // 2026-11-20T12:00:00Z
        assert_eq!(cron.next_after(noon), Some(1_795_168_800_000 - 3 * 3_600_000 + 86_400_000));
        let every_second = Cron::parse("* * * * * *", "UTC").expect("cron");
        assert_eq!(every_second.next_after(1_000), Some(2_000));
    }

    #[test]
    fn cron_runs_follow_the_expression_in_its_time_zone_across_clock_changes() {
        let berlin = Cron::parse("0 0 7 * * *", "Europe/Berlin").expect("cron");
        let saturday_noon = 1_792_843_200_000; // 2026-10-24T12:00:00Z, summer time (+02)
        // Clocks go back on Sunday at 03:00: 07:00 is then 06:00 UTC, not 05:00.
        assert_eq!(berlin.next_after(saturday_noon), Some(1_792_908_000_000));
        assert_eq!(berlin.next_after(saturday_noon - 12 * 3_600_000), Some(1_792_818_000_000), "Saturday, at +02");
        // 02:30 does not exist on 2026-03-29 (clocks go forward at 02:00): it runs at 03:30 (01:30 UTC).
        let night = Cron::parse("0 30 2 * * *", "Europe/Berlin").expect("cron");
        assert_eq!(night.next_after(1_774_699_200_000), Some(1_774_747_800_000));
        assert!(Cron::parse("0 0 7 * * *", "Europe/Nowhere").expect_err("unknown").starts_with("tz:"));
    }

    #[test]
    fn schedules_run_at_most_once_per_minimum_interval() {
        let with_cron = |cron: &str| NewSchedule { cron: cron.into(), ..schedule() };
        for fine in ["0 * * * * *", "0 0 7 * * Mon-Fri", "0 0 0 1 1 *", "0 0,30 * * * *"] {
            assert!(with_cron(fine).validate(NOW, MINUTE).is_ok(), "{fine}");
        }
        for (too_often, gap) in [("*/2 * * * * *", 2), ("* * * * * *", 1), ("0,30 0 12 * * *", 30)] {
            let error = with_cron(too_often).validate(NOW, MINUTE).expect_err(too_often);
            assert!(error.starts_with("cron:") && error.contains(&format!("runs {gap} s apart")), "{error}");
        }
        // A pair of close runs once a month is found too.
        assert!(with_cron("0,10 0 0 1 * *").validate(NOW, MINUTE).is_err());

        // The runner's guard: the next run is the first at least the minimum interval after the due one.
        let every_second = Cron::parse("* * * * * *", "UTC").expect("cron");
        assert_eq!(every_second.next_run(NOW, MINUTE), Some(NOW + MINUTE));
        let every_minute = Cron::parse("0 * * * * *", "UTC").expect("cron");
        assert_eq!(every_minute.next_run(NOW, MINUTE), Some(NOW + MINUTE), "a run that is due is not skipped");
        let daily = Cron::parse("0 0 7 * * *", "UTC").expect("cron");
        assert_eq!(daily.next_run(NOW, MINUTE), daily.next_after(NOW));
    }
}
