//! Times as a report's readers read them: in the time zone the report was asked for.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A time zone name no time-zone database entry has.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a known time zone")]
pub struct UnknownTimeZone(pub String);

/// Formats times in one IANA time zone (the system's time-zone database).
#[derive(Debug, Clone)]
pub struct ReportClock {
    name: String,
    zone: TimeZone,
}

impl ReportClock {
    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self { name: "UTC".into(), zone: TimeZone::UTC }
    }

    /// The zone called `name` (`Europe/Berlin`, `Asia/Kolkata`, `UTC`).
    pub fn named(name: &str) -> Result<Self, UnknownTimeZone> {
        if name == "UTC" {
            return Ok(Self::utc());
        }
        let zone = TimeZone::get(name).map_err(|_| UnknownTimeZone(name.to_owned()))?;
        Ok(Self { name: name.to_owned(), zone })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at `ms` since the epoch, seconds (east positive).
    pub fn offset_seconds(&self, ms: i64) -> Option<i32> {
        Timestamp::from_millisecond(ms).ok().map(|at| self.zone.to_offset(at).seconds())
    }

    /// `ms` since the epoch as local date, time and UTC offset: `2026-11-30 21:30:05 +05:30`.
    pub fn format(&self, ms: i64) -> String {
        self.strftime(ms, "%Y-%m-%d %H:%M:%S %:z")
    }

    /// `ms` as a chart labels a bucket `bucket_ms` wide: the date for days and longer, else date
    /// and time of day.
    pub fn format_short(&self, ms: i64, bucket_ms: i64) -> String {
        if bucket_ms >= 86_400_000 { self.strftime(ms, "%b %d") } else { self.strftime(ms, "%b %d %H:%M") }
    }

    fn strftime(&self, ms: i64, format: &str) -> String {
        match Timestamp::from_millisecond(ms) {
            Ok(at) => at.to_zoned(self.zone.clone()).strftime(format).to_string(),
            Err(_) => ms.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_named_zone() {
        let at = 1_795_168_800_000; // 2026-11-20T10:00:00Z
        assert_eq!(ReportClock::utc().format(at), "2026-11-20 10:00:00 +00:00");
        let kolkata = ReportClock::named("Asia/Kolkata").expect("known zone");
        assert_eq!(kolkata.format(at), "2026-11-20 15:30:00 +05:30");
        assert_eq!(kolkata.format_short(at, 86_400_000), "Nov 20");
        assert_eq!(ReportClock::named("America/New_York").expect("known").format(at), "2026-11-20 05:00:00 -05:00");
        assert!(ReportClock::named("Mars/Olympus").is_err());
    }
}
