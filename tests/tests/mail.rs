//! Mail over TLS with authentication, through the one mail module the scheduler and the notifier
//! share, against real relays (aiosmtpd, `tests/python/tls_relay.py`) with certificates made here
//! (openssl): STARTTLS and implicit TLS deliver with the right password; a wrong password, a
//! certificate from an authority not trusted, and a relay that does not offer STARTTLS each fail with
//! a clear error, and nothing travels in clear text (the relays' transcripts say so).

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::mail::{Mail, Mailer, SmtpSecurity, SmtpSettings};
use sightline_testkit::stack::{self, eventually};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const USER: &str = "reports";
const PASSWORD_ENV: &str = "SIGHTLINE_TEST_SMTP_PASSWORD";
const WRONG_PASSWORD_ENV: &str = "SIGHTLINE_TEST_SMTP_WRONG_PASSWORD";

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let status =
        Command::new("openssl").args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()), "openssl {args:?}");
}

/// A certificate authority `name` (name.key, name.pem) and a server certificate for 127.0.0.1 it
/// signed (name-server.key, name-server.pem).
fn authority(dir: &Path, name: &str) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let subject = format!("/CN=Sightline test CA {name}");
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem, "-days", "2", "-subj",
            &subject,
        ],
    );
    let (server_key, csr, server_pem) =
        (format!("{name}-server.key"), format!("{name}-server.csr"), format!("{name}-server.pem"));
    openssl(
        dir,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &server_key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &pem,
            "-CAkey",
            &key,
            "-CAcreateserial",
            "-out",
            &server_pem,
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

/// One relay process, stopped when dropped.
struct Relay {
    child: Child,
    port: u16,
    maildir: PathBuf,
    transcript: PathBuf,
}

impl Relay {
    fn start(dir: &Path, name: &str, mode: &str, authority: &str) -> Self {
        let python = PathBuf::from(std::env::var("SIGHTLINE_VENV").expect("SIGHTLINE_VENV (make test sets it)"))
            .join("bin/python");
        let port = stack::free_port().unwrap();
        let (maildir, transcript) = (dir.join(format!("{name}-maildir")), dir.join(format!("{name}.transcript")));
        let cert = dir.join(format!("{authority}-server.pem"));
        let key = dir.join(format!("{authority}-server.key"));
        let child = Command::new(python)
            .arg(stack::repo_root().join("tests/python/tls_relay.py"))
            .args(["--port", &port.to_string(), "--mode", mode, "--user", USER, "--password", "the right password"])
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .arg("--maildir")
            .arg(&maildir)
            .arg("--transcript")
            .arg(&transcript)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        Self { child, port, maildir, transcript }
    }

    /// The mails it delivered.
    fn delivered(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).map_or(0, Iterator::count)
    }

    /// What it saw, one `COMMAND tls=...` a line.
    fn transcript(&self) -> String {
        std::fs::read_to_string(&self.transcript).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(relay: &Relay, security: SmtpSecurity, ca_file: &Path, password_env: &str) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: relay.port,
        security,
        ca_file: ca_file.display().to_string(),
        username: USER.into(),
        password_env: password_env.into(),
        timeout_secs: 10,
        ..SmtpSettings::default()
    }
}

async fn send(settings: &SmtpSettings, subject: &str) -> Result<(), String> {
    let mailer = Mailer::new(settings).map_err(|e| e.to_string())?;
    let to = ["security@example.com".to_owned()];
    let mail = Mail {
        subject,
        body: "Ann Example was seen at the door.".into(),
        to: &to,
        filename: "",
        content_type: "text/plain",
        attachment: Vec::new(),
        message_id: format!("{}@sightline", uuid::Uuid::new_v4()),
    };
    mailer.send(mail).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_travels_encrypted_and_authenticated_or_not_at_all() -> anyhow::Result<()> {
    let dir = stack::data_dir().join(format!("mail-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    authority(&dir, "trusted");
    authority(&dir, "stranger");
    let ca = dir.join("trusted.pem");
    // SAFETY: set before any thread of this test binary reads the environment (one test here).
    unsafe {
        std::env::set_var(PASSWORD_ENV, "the right password");
        std::env::set_var(WRONG_PASSWORD_ENV, "a wrong password");
    }
    let starttls = Relay::start(&dir, "starttls", "starttls", "trusted");
    let implicit = Relay::start(&dir, "implicit", "tls", "trusted");
    let stranger = Relay::start(&dir, "stranger", "starttls", "stranger");
    let stripped = Relay::start(&dir, "stripped", "plain", "trusted");
    for relay in [&starttls, &implicit, &stranger, &stripped] {
        let port = relay.port;
        eventually(Duration::from_secs(30), &format!("a relay on {port}"), || async move {
            Ok(std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()))
        })
        .await?;
    }

    // STARTTLS and implicit TLS, with the right password: delivered, every command over TLS.
    send(&settings(&starttls, SmtpSecurity::Starttls, &ca, PASSWORD_ENV), "over STARTTLS").await.unwrap();
    send(&settings(&implicit, SmtpSecurity::Tls, &ca, PASSWORD_ENV), "over TLS").await.unwrap();
    for relay in [&starttls, &implicit] {
        assert_eq!(relay.delivered(), 1);
        let transcript = relay.transcript();
        assert!(transcript.contains("MAIL tls=True") && transcript.contains("DATA tls=True"), "{transcript}");
        assert!(!transcript.contains("tls=False"), "nothing in clear text: {transcript}");
    }

    // A wrong password: refused by the relay, nothing delivered.
    let refused = send(&settings(&starttls, SmtpSecurity::Starttls, &ca, WRONG_PASSWORD_ENV), "wrong password").await;
    let error = refused.expect_err("a wrong password fails");
    assert!(error.contains("authentication") || error.contains("535"), "{error}");
    assert_eq!(starttls.delivered(), 1, "nothing more delivered");

    // A certificate from an authority that is not trusted (neither the configured bundle nor the
    // system's): the connection is refused before anything is sent.
    for ca_file in [ca.as_path(), Path::new("")] {
        let error = send(&settings(&stranger, SmtpSecurity::Starttls, ca_file, PASSWORD_ENV), "stranger").await;
        let error = error.expect_err("an untrusted certificate fails");
        assert!(error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"), "{error}");
    }
    assert_eq!(stranger.delivered(), 0);
    assert!(
        !stranger.transcript().contains("MAIL") && !stranger.transcript().contains("AUTH"),
        "{}",
        stranger.transcript()
    );

    // A relay that does not offer STARTTLS (an attacker stripped it): no fallback to clear text.
    let error = send(&settings(&stripped, SmtpSecurity::Starttls, &ca, PASSWORD_ENV), "stripped").await;
    let error = error.expect_err("a relay without STARTTLS is refused");
    assert!(error.to_lowercase().contains("tls"), "{error}");
    assert_eq!(stripped.delivered(), 0, "nothing delivered in clear text");
    assert_eq!(stripped.transcript(), "", "no command reached the relay in clear text");
    // Plain SMTP itself is refused for a relay on another machine, and with a password anywhere.
    let elsewhere =
        SmtpSettings { host: "smtp.example.com".into(), security: SmtpSecurity::Plain, ..SmtpSettings::default() };
    assert!(Mailer::new(&elsewhere).is_err());
    let with_password =
        SmtpSettings { security: SmtpSecurity::Plain, ..settings(&stripped, SmtpSecurity::Plain, &ca, PASSWORD_ENV) };
    assert!(Mailer::new(&with_password).is_err_and(|e| e.to_string().contains("clear text")));
    drop((starttls, implicit, stranger, stripped));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
