//! Summaries of benchmark rounds: benchmarks alternate a candidate with its peer for several rounds
//! and print the median ratio with its spread, so one noisy round does not decide the result; and
//! the quantiles and environment-sized counts the benchmarks share.

/// The median of `values` (the upper one of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `q` quantile (nearest rank) of `values`; NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// The whole number in environment variable `name` (a benchmark's size), or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Items per second of a run watched through two counters: from the moment `started` first counts
/// something to the moment `done` counts `count` items (polled every 2 ms). An error names `what`
/// when that takes longer than `limit`.
pub async fn rate_until(
    what: &str,
    count: u64,
    limit: std::time::Duration,
    started: impl Fn() -> u64,
    done: impl Fn() -> u64,
) -> anyhow::Result<f64> {
    let deadline = std::time::Instant::now() + limit;
    let mut first = None;
    while done() < count {
        anyhow::ensure!(std::time::Instant::now() < deadline, "{what} did not reach {count} in {limit:?}");
        if first.is_none() && started() > 0 {
            first = Some(std::time::Instant::now());
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let first = first.ok_or_else(|| anyhow::anyhow!("{what}: nothing started"))?;
    Ok(count as f64 / first.elapsed().as_secs_f64())
}

/// `median (min–max over N rounds)`, for a benchmark's summary line.
pub fn summary(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} (min {min:.2}, max {max:.2} over {} rounds)", median(values), values.len())
}

/// CPU time this process has used so far (user and system, every thread), seconds: from
/// `/proc/self/stat`, in the kernel's clock ticks (100 a second on Linux); 0 where it cannot be read.
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| fields.get(field - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_spread_of_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&[]).is_nan());
        assert_eq!(summary(&[1.0, 0.5, 2.0]), "1.00 (min 0.50, max 2.00 over 3 rounds)");
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!((quantile(&values, 0.5), quantile(&values, 0.95)), (10.0, 19.0));
    }

    #[test]
    fn the_process_cpu_time_grows_while_it_works() {
        let before = process_cpu_seconds();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut spin = 0u64;
        while process_cpu_seconds() - before < 0.1 {
            assert!(std::time::Instant::now() < deadline, "0.1 s of CPU never counted");
            for _ in 0..100_000 {
                spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(1));
            }
        }
    }
}

/// Whose CPU time [`cpu_time`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOf {
    /// This process, every thread.
    ThisProcess,
    /// This process's children that ended and were waited for, each wholly.
    WaitedChildren,
}

/// The CPU time (user and system) the kernel accounts to `whose` so far: a benchmark compares two
/// implementations by their own processes' accounting, in the same rounds.
pub fn cpu_time(whose: CpuOf) -> std::time::Duration {
    let who = match whose {
        CpuOf::ThisProcess => libc::RUSAGE_SELF,
        CpuOf::WaitedChildren => libc::RUSAGE_CHILDREN,
    };
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given, and `who` is one of its two valid targets;
    // the struct started zeroed, so it is initialised even if the call failed.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec.max(0) as u64)
            + std::time::Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
