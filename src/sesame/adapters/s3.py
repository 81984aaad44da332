"""The message store: raw messages SES's S3 action wrote."""

from __future__ import annotations

import mmap
from typing import Any

from sesame.adapters.buffers import anonymous_buffer
from sesame.core.event import InboundMail

# Bytes asked of the response stream per read. urllib3 serves a read through a temporary
# buffer of that size, so this bounds the transient memory beside the message buffer.
READ_CHUNK = 1024 * 1024


class IncompleteMessage(Exception):
    """S3 sent fewer or more bytes than the object's Content-Length: an infrastructure error
    (raised, so Lambda retries), never a message to forward cut short."""


class S3MessageStore:
    def __init__(self, client: Any, bucket: str, prefix: str, quarantine_prefix: str = "quarantine/") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._quarantine_prefix = quarantine_prefix

    def quarantine(self, mail: InboundMail) -> str:
        """Copy the raw message under the quarantine prefix (kept longer than messages/ by the
        bucket's lifecycle, and out of the forwarder's reach)."""
        bucket, key = self.key_for(mail)
        target = f"{self._quarantine_prefix}{mail.message_id}"
        self._client.copy_object(Bucket=self._bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
        return f"s3://{self._bucket}/{target}"

    def key_for(self, mail: InboundMail) -> tuple[str, str]:
        """Where SES put the message: the event's S3 action if it has one, else prefix + id."""
        if mail.s3_bucket and mail.s3_key:
            return mail.s3_bucket, mail.s3_key
        return self._bucket, f"{self._prefix}{mail.message_id}"

    def location(self, mail: InboundMail) -> str:
        bucket, key = self.key_for(mail)
        return f"s3://{bucket}/{key}"

    def fetch(self, mail: InboundMail) -> bytes | mmap.mmap:
        """The raw message, read into one buffer of exactly its ``Content-Length``.

        The buffer is an anonymous memory map: the parser uses it as it would bytes
        (``find``, slicing, ``memoryview``), its slices are real ``bytes`` (so header fields
        parsed from it are immutable and hashable), and the body the sender encodes is a
        view of it. Nothing else copies the message.
        """
        bucket, key = self.key_for(mail)
        where = self.location(mail)
        response = self._client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            length = response.get("ContentLength")
            if not isinstance(length, int) or length < 0:
                raise IncompleteMessage(f"{where}: no usable Content-Length ({length!r})")
            if length == 0:
                read_exactly(body, memoryview(b""), where)  # still checks that nothing follows
                return b""
            buffer = anonymous_buffer(length)
            read_exactly(body, memoryview(buffer), where)
            return buffer
        finally:
            body.close()


def read_exactly(body: Any, view: memoryview, where: str) -> None:
    """Fill ``view`` from ``body`` (botocore's StreamingBody), then check that the stream ends.

    The read past the end is also what makes botocore compare the bytes read with the
    Content-Length and, when S3 returned a checksum, verify it.
    """
    filled, size = 0, len(view)
    # StreamingBody.readinto arrived in 2025 (boto/botocore#2746); an older runtime's
    # botocore has only read().
    readinto = getattr(body, "readinto", None)
    while filled < size:
        window = view[filled : min(filled + READ_CHUNK, size)]
        if readinto is not None:
            count = readinto(window)
        else:
            chunk = body.read(len(window))
            count = len(chunk)
            if count > len(window):
                raise IncompleteMessage(f"{where}: a read returned {count} bytes for {len(window)} asked")
            window[:count] = chunk
        if not count:
            raise IncompleteMessage(f"{where}: the stream ended after {filled} of {size} bytes")
        filled += count
    if body.read(1):
        raise IncompleteMessage(f"{where}: more bytes than the {size} announced")
