//! A stream's failure in words a person can act on ("connection refused by 10.0.0.7:554",
//! "authentication failed"), the same on every retry, instead of GStreamer's element names and
//! generic messages ("rtspsrc15: Could not open resource for reading and writing.").
//!
//! GStreamer says little about why an RTSP source could not be opened: a refused connection, a name
//! that does not resolve and a camera that does not answer all end as the same resource error. So
//! when the error is about opening or reading, the source's host and port are probed once (name
//! resolution, then a TCP connection with a short timeout) and the answer names the cause.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use gstreamer as gst;

/// How long the probe waits for a camera's TCP answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a source failed: the sentence shown to people, and the whole text for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in words (no element names, no credentials, stable across retries).
    pub reason: String,
    /// GStreamer's own message and debug text, for admins (may name hosts, ports and paths).
    pub detail: String,
}

impl Failure {
    /// A failure whose reason and detail are the same text.
    pub fn plain(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self { detail: reason.clone(), reason }
    }
}

/// The failure a GStreamer error of a source reading `url` stands for.
pub fn describe(error: &gst::glib::Error, debug: Option<&str>, url: &str) -> Failure {
    let detail = match debug {
        Some(debug) if !debug.is_empty() => format!("{} ({})", error.message(), last_line(debug)),
        _ => error.message().to_owned(),
    };
    let reason = match error.kind::<gst::ResourceError>() {
        Some(gst::ResourceError::NotAuthorized) if has_credentials(url) => {
            "authentication failed: the camera refused the user name and password in the URL".to_owned()
        }
        Some(gst::ResourceError::NotAuthorized) => {
            "authentication failed: the camera asks for a user name and password, and the URL has none".to_owned()
        }
        Some(gst::ResourceError::NotFound) if is_network(url) => "the camera has no stream at this path".to_owned(),
        Some(gst::ResourceError::NotFound) => "the file does not exist".to_owned(),
        Some(
            gst::ResourceError::OpenRead
            | gst::ResourceError::OpenReadWrite
            | gst::ResourceError::Read
            | gst::ResourceError::Failed,
        ) if is_network(url) => probe(url),
        Some(gst::ResourceError::OpenRead | gst::ResourceError::Read) => "the file could not be read".to_owned(),
        _ if error.kind::<gst::StreamError>().is_some() => {
            "the video could not be decoded (an unsupported or damaged stream)".to_owned()
        }
        _ => error.message().trim_end_matches('.').to_owned(),
    };
    Failure { reason, detail }
}

/// A live source that sent nothing for `timeout`.
pub fn stalled(timeout: Duration) -> Failure {
    Failure::plain(format!("the camera stopped sending frames (none for {} s)", timeout.as_secs()))
}

/// A live source that ended its stream.
pub fn ended() -> Failure {
    Failure::plain("the camera ended the stream")
}

/// Why the host and port of `url` cannot be reached, found by resolving the name and opening a TCP
/// connection: "the camera's address … could not be found", "connection refused by …", "no answer
/// from … within 3 s", or, when the connection opens, that the camera took it but served no video.
pub fn probe(url: &str) -> String {
    let Some((host, port)) = host_and_port(url) else {
        return "the source could not be opened".to_owned();
    };
    let place = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let addresses: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addresses) => addresses.collect(),
        Err(_) => return format!("the camera's address {host} could not be found (name resolution failed)"),
    };
    let Some(address) = addresses.first() else {
        return format!("the camera's address {host} could not be found (name resolution failed)");
    };
    match TcpStream::connect_timeout(address, PROBE_TIMEOUT) {
        Ok(_) => format!("{place} accepted the connection but did not serve the video"),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {place} (nothing listens on that port)")
        }
        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
            format!("no answer from {place} within {} s", PROBE_TIMEOUT.as_secs())
        }
        Err(error) => format!("{place} could not be reached: {}", error.kind().to_string().to_lowercase()),
    }
}

fn is_network(url: &str) -> bool {
    ["rtsp://", "rtsps://", "http://", "https://"].iter().any(|scheme| url.starts_with(scheme))
}

/// Whether `url` carries a user name (and maybe a password) before its host.
fn has_credentials(url: &str) -> bool {
    url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default().contains('@')).unwrap_or(false)
}

/// The host and port of a network URL (its scheme's default port when it names none); `None` for
/// anything else.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "rtsp" => 554,
        "rtsps" => 322,
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = after.strip_prefix(':').map_or(Some(default), |p| p.parse().ok())?;
        return Some((host.to_owned(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((host_port.to_owned(), default)),
    }
}

/// The last line of GStreamer's debug text (its first lines name the source file and element).
fn last_line(debug: &str) -> &str {
    debug.lines().rfind(|line| !line.trim().is_empty()).unwrap_or(debug).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_are_read_from_urls_with_or_without_credentials() {
        assert_eq!(host_and_port("rtsp://10.0.0.7/cam"), Some(("10.0.0.7".into(), 554)));
        assert_eq!(host_and_port("rtsp://u:p@cam.example:8554/live?x=1"), Some(("cam.example".into(), 8554)));
        assert_eq!(host_and_port("rtsp://u:p@[::1]:9/live"), Some(("::1".into(), 9)));
        assert_eq!(host_and_port("/videos/a.mp4"), None);
        assert!(has_credentials("rtsp://u:p@cam/live") && !has_credentials("rtsp://cam/live@x"));
    }

    #[test]
    fn a_refused_port_and_an_unknown_name_are_told_apart() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let port = port.expect("a free port");
        assert_eq!(
            probe(&format!("rtsp://u:secret@127.0.0.1:{port}/live")),
            format!("connection refused by 127.0.0.1:{port} (nothing listens on that port)")
        );
        let unknown = probe("rtsp://camera.invalid/live");
        assert_eq!(unknown, "the camera's address camera.invalid could not be found (name resolution failed)");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let open = listener.local_addr().expect("its address").port();
        assert_eq!(
            probe(&format!("rtsp://127.0.0.1:{open}/live")),
            format!("127.0.0.1:{open} accepted the connection but did not serve the video")
        );
    }
}
