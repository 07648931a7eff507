//! Mail as the stack's SMTP sink (aiosmtpd) keeps it in its Maildir (`SIGHTLINE_MAILDIR`): the raw
//! mails to a recipient, and their attachments decoded.

use base64::Engine as _;
use std::path::PathBuf;

/// Every mail in the stack's Maildir (`SIGHTLINE_MAILDIR`) addressed to `recipient`, as raw text.
pub fn mails_to(recipient: &str) -> anyhow::Result<Vec<String>> {
    let maildir = PathBuf::from(std::env::var("SIGHTLINE_MAILDIR")?).join("new");
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(&maildir)? {
        let raw = std::fs::read_to_string(entry?.path())?;
        if raw.lines().take_while(|l| !l.is_empty()).any(|l| l.starts_with("To:") && l.contains(recipient)) {
            mails.push(raw);
        }
    }
    Ok(mails)
}

/// Every mail to `recipient`, parsed ([`parse_mail`]).
pub fn attachments_to(recipient: &str) -> anyhow::Result<Vec<Received>> {
    mails_to(recipient)?.iter().map(|raw| parse_mail(raw)).collect()
}

/// A mail as a test reads it back: its headers and its attachment.
#[derive(Debug)]
pub struct Received {
    /// Its headers, as received.
    pub headers: String,
    /// The attachment's file name.
    pub attachment_name: String,
    /// The attachment, decoded.
    pub attachment: Vec<u8>,
}

impl Received {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }
}

/// Parses a MIME message as lettre writes it: the first part with a file name is the attachment
/// (base64; the name may be in RFC 2231 form, `filename*0="..."`).
pub fn parse_mail(raw: &str) -> anyhow::Result<Received> {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let part = body
        .split("\n--")
        .find(|part| part.contains("filename"))
        .ok_or_else(|| anyhow::anyhow!("no attachment in {raw}"))?;
    let (part_headers, part_body) = part.split_once("\n\n").ok_or_else(|| anyhow::anyhow!("no part body"))?;
    let name = part_headers
        .split("filename")
        .nth(1)
        .and_then(|rest| rest.split_once('='))
        .and_then(|(_, value)| value.split(['\n', ';']).next())
        .map(|n| n.trim_matches(|c: char| c == '"' || c.is_whitespace()).to_owned())
        .unwrap_or_default();
    let attachment = if part_headers.to_ascii_lowercase().contains("quoted-printable") {
        quoted_printable(part_body.trim_end_matches('-'))?
    } else {
        let encoded: String = part_body.lines().map(str::trim).collect();
        base64::engine::general_purpose::STANDARD.decode(encoded.trim_end_matches('-'))?
    };
    Ok(Received { headers: headers.to_owned(), attachment_name: name, attachment })
}

/// Decodes quoted-printable text (RFC 2045): `=XX` bytes, `=` at a line end joins lines.
fn quoted_printable(text: &str) -> anyhow::Result<Vec<u8>> {
    let joined = text.trim_end_matches('\n').replace("=\n", "");
    let bytes = joined.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| anyhow::anyhow!("quoted-printable {hex:?}: {e}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}
