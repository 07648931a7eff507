//! Mail through an SMTP relay (lettre), for every service that sends mail (the scheduler's reports,
//! the notifier's alerts): a plain-text body, optionally one attachment, and a Message-ID the caller
//! derives from what the mail is about, so that a resent mail can be recognised.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// A mail address (`local@domain`), for checking recipients before they are stored.
pub use lettre::Address;

/// Where mail goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Seconds before giving up on the relay.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "Sightline <reports@sightline.local>".into(),
            timeout_secs: 30,
        }
    }
}

/// Why mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address or the message is malformed.
    #[error("building the message: {0}")]
    Message(String),
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

/// Sends mail through one relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `settings` (plain SMTP: a relay on the local network or loopback).
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        let from = settings.from.parse().map_err(|e| MailError::Message(format!("from {:?}: {e}", settings.from)))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(std::time::Duration::from_secs(settings.timeout_secs)))
            .build();
        Ok(Self { transport, from })
    }

    /// Sends `mail`.
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
