"""The SMTP front: an aiosmtpd listener that answers like SES receiving.

RCPT TO is checked against the receipt rules (``550 5.1.1`` for a recipient no rule covers,
a bounce rule's own reply for one it bounces); SIZE is advertised and enforced in MAIL FROM
and on DATA (``552 5.3.4``); a message is stored before ``250`` is answered. The listener
runs its own event loop in a thread, so :meth:`SmtpFront.start` and :meth:`SmtpFront.stop`
can be called from plain code.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"


@dataclass(frozen=True)
class Delivery:
    """One message as the client handed it over."""

    mail_from: str
    recipients: tuple[str, ...]
    content: bytes
    helo: str
    peer_ip: str


def null_to_empty(mail_from: str | None) -> str:
    """The reverse-path as SES's event gives it: ``MAIL FROM:<>`` (a bounce) is the empty string."""
    value = (mail_from or "").strip()
    return "" if value in ("", "<>") else value.removeprefix("<").removesuffix(">")


class _SesSMTP(SMTP):
    """aiosmtpd's server with SES's enhanced status codes for the size limit, taking lines of
    any length within it.

    aiosmtpd refuses a line over RFC 5321's 1,000 octets (``500 Line too long``). RFC 5322
    (section 2.1.1) asks the opposite of a receiver: it "would do well to handle an arbitrarily
    large number of characters in a line for robustness sake", and SES documents no line limit
    for the mail it receives. So here a line may be as long as the size limit allows; one longer
    than that makes the message too big (``552 5.3.4``), as any other byte past the limit does.
    The forwarder's rules for long lines (README, "Hostile mail") run on what arrives.
    """

    _REPLIES = {
        "552 Error: message size exceeds fixed maximum message size": TOO_BIG,
        "552 Error: Too much mail data": TOO_BIG,
        "500 Line too long (see RFC5321 4.5.3.1.6)": TOO_BIG,  # only a line past the size limit
    }

    def __init__(self, *args: Any, data_size_limit: int, **kwargs: Any) -> None:
        # Set first: SMTP.__init__ sizes its stream reader with it.
        self.line_length_limit = data_size_limit + len(b"\r\n")
        super().__init__(*args, data_size_limit=data_size_limit, **kwargs)

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = self._REPLIES.get(status, status)
        await super().push(status)


class _Handler:
    def __init__(self, front: SmtpFront) -> None:
        self.front = front

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.front.check_recipient(address, envelope.mail_from or "")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        if isinstance(content, str):  # pragma: no cover - decode_data is off
            content = content.encode("utf-8", "surrogateescape")
        if len(content) > self.front.max_size:
            return TOO_BIG
        peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
        delivery = Delivery(
            mail_from=null_to_empty(envelope.mail_from),
            recipients=tuple(envelope.rcpt_tos),
            content=content,
            helo=session.host_name or "",
            peer_ip=str(peer[0]),
        )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.front.executor, self.front.accept, delivery)
        except Exception as exc:  # storage failed: the client keeps the message and retries
            return f"451 4.3.0 Local storage failed, try again later ({type(exc).__name__}: {exc})"[:500]


class SmtpFront:
    """Listens on ``host:port`` (0 = a free port) and hands accepted messages to ``accept``."""

    def __init__(
        self,
        *,
        check_recipient: Callable[[str, str], str | None],
        accept: Callable[[Delivery], str],
        host: str = "127.0.0.1",
        port: int = 2525,
        max_size: int = 40 * 1024 * 1024,
        hostname: str = "inbound-smtp.us-east-1.amazonaws.com",
    ) -> None:
        self.check_recipient = check_recipient
        self.accept = accept
        self.host = host
        self.port = port
        self.max_size = max_size
        self.hostname = hostname
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sesame-smtp")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._sessions: weakref.WeakSet[_SesSMTP] = weakref.WeakSet()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _factory(self) -> _SesSMTP:
        assert self._loop is not None
        protocol = _SesSMTP(
            _Handler(self),
            data_size_limit=self.max_size,
            hostname=self.hostname,
            ident="ESMTP Sesame local (SES receiving stand-in)",
            loop=self._loop,
        )
        self._sessions.add(protocol)
        return protocol

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(self._factory, host=self.host, port=self.port))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="sesame-smtp-loop", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            loop.close()
            self.executor.shutdown(wait=False)
            self._loop = None
            raise failure[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            for session in list(self._sessions):
                if session.transport is not None:
                    session.transport.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=15)
            self.executor.shutdown(wait=True)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None
            self._thread = None
