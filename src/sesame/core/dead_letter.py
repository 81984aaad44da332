"""Dead letters: forwarding attempts Lambda gave up on, and what the operator is told.

The forwarder's on-failure destination delivers a record with the original SES event
(``requestPayload``), the error (``responsePayload``) and the attempt count
(``requestContext.approximateInvokeCount``). A plain Lambda DLQ message (the event alone,
the error in message attributes) is understood too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sesame.core.event import InboundMail, InvalidEvent, parse_ses_event
from sesame.core.documents import loads_json


class PoisonRecord(ValueError):
    """A queue record that is not a dead-lettered SES event."""


@dataclass(frozen=True)
class DeadLetter:
    mails: tuple[InboundMail, ...]
    event: dict[str, Any]
    error_type: str
    error_message: str
    condition: str
    attempts: int | None
    request_id: str | None
    function_arn: str | None
    failed_at: str | None

    @property
    def error(self) -> str:
        return f"{self.error_type}: {self.error_message}" if self.error_type else self.error_message


def parse_dead_letter(body: str, attributes: dict[str, Any] | None = None) -> DeadLetter:
    try:
        data = loads_json(body)
    except ValueError as exc:
        raise PoisonRecord(f"record body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PoisonRecord("record body is not a JSON object")
    if "requestPayload" in data:
        # Every field but the event is read as what it should be or not at all: a record
        # whose context is odd is still a failed message to keep and report.
        event = data["requestPayload"]
        context = _object(data.get("requestContext"))
        response = data.get("responsePayload")
        error_type = (_string(response.get("errorType")) or "") if isinstance(response, dict) else ""
        error_message = _text(response.get("errorMessage", response) if isinstance(response, dict) else response)
        condition = _string(context.get("condition")) or "unknown"
        attempts = context.get("approximateInvokeCount")
        request_id, function_arn = _string(context.get("requestId")), _string(context.get("functionArn"))
        failed_at = _string(data.get("timestamp"))
    else:  # a plain DLQ message: the event itself, the error in message attributes
        event = data
        attrs = _object(attributes)
        error_type = ""
        error_message = _attribute(attrs, "ErrorMessage") or "unknown error (plain dead-letter queue record)"
        condition, attempts, function_arn, failed_at = "DeadLetterQueue", None, None, None
        request_id = _attribute(attrs, "RequestID")
    if not isinstance(event, dict):
        raise PoisonRecord("the dead-lettered payload is not an event object")
    try:
        mails = tuple(parse_ses_event(event))
    except InvalidEvent as exc:
        raise PoisonRecord(f"the dead-lettered payload is {exc}") from None
    return DeadLetter(
        mails=mails,
        event=event,
        error_type=error_type,
        error_message=error_message,
        condition=condition,
        attempts=int(attempts) if isinstance(attempts, int | str) and str(attempts).isdigit() else None,
        request_id=request_id,
        function_arn=function_arn,
        failed_at=failed_at,
    )


def _attribute(attrs: dict[str, Any], name: str) -> str | None:
    """A message attribute's text: ``{"stringValue": ...}`` in a Lambda SQS event,
    ``{"StringValue": ...}`` from the SQS API; anything else is not there."""
    value = attrs.get(name)
    if isinstance(value, dict):
        return _string(value.get("stringValue")) or _string(value.get("StringValue"))
    return _string(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str:
    """An error message as text: Lambda's is a string; anything else is shown as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "unknown error (the record has no response payload)"
    return json.dumps(value, default=str)


def error_context(letter: DeadLetter, mail: InboundMail, *, message_location: str | None) -> dict[str, Any]:
    """What is kept under ``error/`` beside the raw message: enough to understand and redrive."""
    return {
        "message_id": mail.message_id,
        "source": mail.source,
        "recipients": list(mail.recipients),
        "subject": mail.subject,
        "error": letter.error,
        "condition": letter.condition,
        "attempts": letter.attempts,
        "request_id": letter.request_id,
        "function_arn": letter.function_arn,
        "failed_at": letter.failed_at,
        "raw_message": message_location,
        "event": {"Records": [r for r in letter.event.get("Records", []) if _record_id(r) == mail.message_id]},
    }


def _record_id(record: dict[str, Any]) -> str | None:
    return ((record.get("ses") or {}).get("mail") or {}).get("messageId")


def operator_report(
    letter: DeadLetter,
    mail: InboundMail,
    *,
    bucket: str,
    context_key: str,
    message_location: str | None,
    outcomes: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """Subject and plain-text body of the email telling the operator what failed, what did go
    out (from the forwarder's own index record, ``outcomes``), and what to do."""
    subject = f"[sesame] forwarding failed for message from {mail.source or '<>'}"
    lines = [
        "Sesame could not forward a message. It has not been lost.",
        "",
        f"Message id:  {mail.message_id}",
        f"Received:    {mail.timestamp.isoformat()}",
        f"Sender:      {mail.source or '<>'}",
        f"Recipients:  {', '.join(mail.recipients)}",
        f"Subject:     {mail.subject or '(none)'}",
        f"Error:       {letter.error}",
        f"Gave up:     {letter.condition}" + (f" after {letter.attempts} attempt(s)" if letter.attempts else ""),
        "",
    ]
    if outcomes:
        lines.append("Per recipient, as the last attempt recorded it:")
        for outcome in outcomes:
            delivered = ", ".join(outcome.get("destinations") or []) or "nothing yet"
            detail = f" ({outcome['detail']})" if outcome.get("detail") else ""
            lines.append(f"  {outcome.get('recipient')}: {outcome.get('status')}{detail}; delivered to: {delivered}")
        lines.append("")
    lines += [
        f"Raw message: {message_location or 'NOT FOUND in the bucket (see the error context)'}",
        f"Context:     s3://{bucket}/{context_key}",
        "",
        "Once the cause is fixed, send it on with:",
        "",
        f"  sesame redrive {mail.message_id}            # add --stack NAME if the stack is not sesame",
        "",
        "or, with the AWS CLI alone:",
        "",
        f"  aws s3 cp s3://{bucket}/{context_key} - | jq -c .event > event.json",
        f"  aws lambda invoke --function-name {letter.function_arn or '<HandleEmailFunction>'} --invocation-type Event \\",
        "      --cli-binary-format raw-in-base64-out --payload file://event.json /dev/null",
        "",
        "Delivery is at least once: a redrive sends only to the destinations that did not get the",
        "message (every send is on record). The one exception is a send SES accepted but whose",
        "answer was lost on the way back; Sesame then sends again rather than risk losing the",
        "mail, and counts it in the PossibleDuplicates metric.",
    ]
    return subject, "\n".join(lines) + "\n"
