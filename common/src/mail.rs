//! Mail through an SMTP relay (lettre), for every service that sends mail (the scheduler's reports,
//! the notifier's alerts): a plain-text body, optionally one attachment, and a Message-ID the caller
//! derives from what the mail is about, so that a resent mail can be recognised.
//!
//! Reports and alerts carry faces, names and places, so mail travels encrypted: STARTTLS (the
//! default; a relay that does not offer the upgrade is refused before anything is sent) or implicit
//! TLS, the relay's certificate checked against the system's CAs or a configured bundle, and PLAIN
//! or LOGIN authentication with a password taken from the environment. Clear text is allowed only
//! to a relay on this machine (loopback), and never with credentials.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// A mail address (`local@domain`), for checking recipients before they are stored.
pub use lettre::Address;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP, then STARTTLS before anything else is sent (submission, port 587); a relay that
    /// does not offer the upgrade is refused.
    Starttls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
    /// No encryption: only to a relay on this machine (a loopback address or `localhost`), and
    /// never with credentials.
    Plain,
}

/// Where mail goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Relay host (the name its certificate is checked against).
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Seconds before giving up on the relay.
    pub timeout_secs: u64,
    /// `starttls` (the default), `tls` or `plain` (loopback relays only).
    pub security: SmtpSecurity,
    /// A PEM file of the certificate authorities trusted for the relay's certificate instead of the
    /// system's (`/etc/ssl/certs`); empty: the system's.
    pub ca_file: String,
    /// The user to authenticate as (PLAIN or LOGIN); empty: no authentication.
    pub username: String,
    /// The environment variable that holds the password (never a file): read at start.
    pub password_env: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "Sightline <reports@sightline.local>".into(),
            timeout_secs: 30,
            security: SmtpSecurity::Starttls,
            ca_file: String::new(),
            username: String::new(),
            password_env: "SIGHTLINE_SMTP_PASSWORD".into(),
        }
    }
}

/// Whether `host` is this machine: a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address or the message is malformed.
    #[error("building the message: {0}")]
    Message(String),
    /// The settings would not protect the mail (clear text to another machine, a missing password,
    /// an unreadable CA bundle).
    #[error("mail settings: {0}")]
    Settings(String),
    /// The relay refused or could not be reached.
    #[error("sending through the relay: {0}")]
    Relay(#[from] lettre::transport::smtp::Error),
}

/// A mail to send.
pub struct Mail<'a> {
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: String,
    /// Recipients.
    pub to: &'a [String],
    /// The attachment's file name (no attachment when `attachment` is empty).
    pub filename: &'a str,
    /// Its media type.
    pub content_type: &'a str,
    /// Its bytes.
    pub attachment: Vec<u8>,
    /// Message-ID (without angle brackets).
    pub message_id: String,
}

/// The TLS parameters of `settings`: the relay's name, and the CAs of `ca_file` or the system's.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if !settings.ca_file.is_empty() {
        let pem = std::fs::read(&settings.ca_file)
            .map_err(|e| MailError::Settings(format!("reading ca_file {}: {e}", settings.ca_file)))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| MailError::Settings(format!("ca_file {}: {e}", settings.ca_file)))?;
        builder = builder.certificate_store(CertificateStore::None).add_root_certificate(certificate);
    }
    builder.build().map_err(|e| MailError::Settings(format!("TLS: {e}")))
}

/// Sends mail through one relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `settings`, refusing settings that would send mail or a password in clear text
    /// to another machine. The password is read from the environment variable
    /// `settings.password_env` now.
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        let from = settings.from.parse().map_err(|e| MailError::Message(format!("from {:?}: {e}", settings.from)))?;
        let invalid = |message: String| MailError::Settings(message);
        let tls = match settings.security {
            SmtpSecurity::Plain => {
                if !is_loopback(&settings.host) {
                    return Err(invalid(format!(
                        "security = \"plain\" sends mail in clear text; it is allowed only to a relay on this \
                         machine, not {:?}: use \"starttls\" or \"tls\"",
                        settings.host
                    )));
                }
                if !settings.username.is_empty() {
                    return Err(invalid("a password is never sent in clear text: use \"starttls\" or \"tls\"".into()));
                }
                Tls::None
            }
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(settings)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(settings)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(settings.timeout_secs)));
        if !settings.username.is_empty() {
            let password = std::env::var(&settings.password_env).map_err(|_| {
                invalid(format!("username is set but the environment has no {} (the password)", settings.password_env))
            })?;
            builder = builder
                .credentials(Credentials::new(settings.username.clone(), password))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Self { transport: builder.build(), from })
    }

    /// Sends `mail`. Nothing is sent unless the connection is protected as configured and the relay
    /// accepted the credentials.
    pub async fn send(&self, mail: Mail<'_>) -> Result<(), MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject)
            .message_id(Some(format!("<{}>", mail.message_id)));
        for address in mail.to {
            let to: Mailbox = address.parse().map_err(|e| MailError::Message(format!("to {address:?}: {e}")))?;
            builder = builder.to(to);
        }
        let content_type =
            ContentType::parse(mail.content_type).map_err(|e| MailError::Message(format!("content type: {e}")))?;
        let body = SinglePart::plain(mail.body);
        let message = if mail.attachment.is_empty() {
            builder.singlepart(body)
        } else {
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(body)
                    .singlepart(Attachment::new(mail.filename.to_owned()).body(mail.attachment, content_type)),
            )
        }
        .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_text_stays_on_this_machine() {
        let plain = |host: &str, username: &str| SmtpSettings {
            host: host.into(),
            security: SmtpSecurity::Plain,
            username: username.into(),
            ..SmtpSettings::default()
        };
        for host in ["127.0.0.1", "localhost", "[::1]", "127.0.0.53"] {
            assert!(Mailer::new(&plain(host, "")).is_ok(), "{host}");
        }
        for host in ["smtp.example.com", "10.0.0.5", "192.168.1.1"] {
            let refused = Mailer::new(&plain(host, "")).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(refused.contains("clear text"), "{host}: {refused}");
        }
        let refused = Mailer::new(&plain("127.0.0.1", "ann")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("never sent in clear text"), "{refused}");
        let missing = SmtpSettings {
            username: "ann".into(),
            password_env: "SIGHTLINE_TEST_NO_SUCH_VARIABLE".into(),
            ..SmtpSettings::default()
        };
        let refused = Mailer::new(&missing).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("SIGHTLINE_TEST_NO_SUCH_VARIABLE"), "{refused}");
        assert_eq!(SmtpSettings::default().security, SmtpSecurity::Starttls, "encrypted unless said otherwise");
    }
}
