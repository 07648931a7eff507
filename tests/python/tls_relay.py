"""A real SMTP relay with TLS and authentication, for the mail tests (tests/tests/mail.rs).

aiosmtpd on loopback in one of three modes:
- starttls: plain SMTP that offers STARTTLS and requires it before AUTH and MAIL (submission);
- tls: TLS from the first byte (implicit TLS);
- plain: no STARTTLS offered and no authentication required, as a relay whose upgrade an attacker
  stripped would look: a client that fell back to clear text would deliver here.

Authentication (PLAIN, LOGIN) accepts --user with --password, over TLS only. Delivered mail goes to
the Maildir --maildir. Every MAIL, RCPT, DATA and AUTH the relay sees is appended to --transcript as
`COMMAND tls=True|False`, so a test can tell what, if anything, travelled in clear text.

    python tls_relay.py --port 2600 --mode starttls --cert server.pem --key server.key \\
        --user ann --password secret --maildir DIR --transcript FILE
"""

import argparse
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recording(Mailbox):
    """A Maildir handler that writes what it sees, and whether it came over TLS, to a transcript."""

    def __init__(self, maildir, transcript):
        super().__init__(maildir)
        self.transcript = transcript
        self.lock = threading.Lock()

    def note(self, command, server, session):
        # STARTTLS sets session.ssl; a connection that is TLS from its first byte shows on the transport.
        encrypted = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        with self.lock, open(self.transcript, "a", encoding="utf-8") as out:
            out.write(f"{command} tls={encrypted}\n")

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.note("MAIL", server, session)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.note("RCPT", server, session)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.note("DATA", server, session)
        return await super().handle_DATA(server, session, envelope)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["starttls", "tls", "plain"], required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--transcript", required=True)
    args = parser.parse_args()

    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    handler = Recording(args.maildir, args.transcript)

    def authenticate(server, session, envelope, mechanism, auth_data):
        handler.note(f"AUTH-{mechanism}", server, session)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == args.user.encode()
            and auth_data.password == args.password.encode()
        )
        # handled=False: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False)

    options = {"hostname": args.host, "port": args.port}
    if args.mode == "plain":
        controller = Controller(handler, **options)
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        secured = {"authenticator": authenticate, "auth_required": True}
        if args.mode == "starttls":
            controller = Controller(
                handler, tls_context=context, require_starttls=True, auth_require_tls=True, **secured, **options
            )
        else:
            # The whole connection is TLS; aiosmtpd's auth_require_tls only knows STARTTLS.
            controller = Controller(handler, ssl_context=context, auth_require_tls=False, **secured, **options)
    controller.start()
    print(f"relay ({args.mode}) on {args.host}:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
