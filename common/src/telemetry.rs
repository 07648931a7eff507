//! Logging through `tracing` to standard error (standard output stays free for a command's answer),
//! filtered by `RUST_LOG` (default `info`, quieter for rdkafka and sqlx); colours only on a terminal.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; later calls are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}
