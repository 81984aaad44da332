"""Send a test message to ``sesame local``: ``python -m sesame.local.send --to john@example.com``.

Builds a small sample message (or sends ``--file FILE.eml``, line ends made CRLF) over SMTP to
127.0.0.1:2525 and prints the server's answer. Standard library only.
"""

from __future__ import annotations

import argparse
import email.utils
import re
import smtplib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path


def sample_message(sender: str, to: Sequence[str], subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = email.utils.formataddr(("Jane Sender", sender))
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    message["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(
        "Hello,\n\nthis is a test message for Sesame's local mode.\n"
        "It went through the SMTP listener, the receipt rules, the forwarder and the outbox.\n"
    )
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def crlf(message: bytes) -> bytes:
    """Line ends as SMTP wants them (RFC 5321 2.3.8): a file written with LF only is sent with
    CRLF, as any MTA's ``sendmail`` does. smtplib sends bytes as they are, and a server reading
    CRLF-terminated lines would take a whole LF-only message for one line over 1,000 bytes."""
    return re.sub(rb"\r?\n", b"\r\n", message)


def send(
    message: bytes, sender: str, to: Sequence[str], *, host: str = "127.0.0.1", port: int = 2525, timeout: float = 60
) -> tuple[dict[str, tuple[int, bytes]], tuple[int, bytes]]:
    """Send ``message``; returns the refused recipients and the DATA reply. Raises on failure."""
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.ehlo("sender.local")
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in to:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(to):
            raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
        code, reply = smtp.data(message)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return refused, (code, reply)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sesame.local.send", description=__doc__.splitlines()[0])
    parser.add_argument("--to", action="append", required=True, help="envelope recipient (repeatable)")
    parser.add_argument("--from", dest="sender", default="jane@sender.example", help="envelope and From address")
    parser.add_argument("--subject", default="Hello from sesame local", help="subject of the sample message")
    parser.add_argument("--file", type=Path, help="send this .eml as it is instead of the sample message")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args(argv)
    if args.file is not None:
        try:
            message = crlf(args.file.read_bytes())
        except OSError as exc:
            print(f"send: {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        message = sample_message(args.sender, args.to, args.subject)
    try:
        refused, (code, reply) = send(message, args.sender, args.to, host=args.host, port=args.port)
    except smtplib.SMTPRecipientsRefused as exc:
        for recipient, (rcode, rreply) in exc.recipients.items():
            print(f"refused {recipient}: {rcode} {rreply.decode(errors='replace')}", file=sys.stderr)
        return 1
    except (smtplib.SMTPException, OSError) as exc:
        print(f"send: {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    for recipient, (rcode, rreply) in refused.items():
        print(f"refused {recipient}: {rcode} {rreply.decode(errors='replace')}", file=sys.stderr)
    print(f"sent: {code} {reply.decode(errors='replace')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
