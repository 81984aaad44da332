"""SES receiving's side of one SMTP transaction: the rules, the stored copy, the Lambda action.

RCPT TO is answered from the rule set; on DATA the message gets an id, the rules' S3 actions
store the copy (with SES's headers) before ``250`` is answered, and each rule's Lambda action
invokes its function asynchronously with the event for the recipients that rule matched.
Nothing here waits for a function.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sesame.core.event import Verdicts
from sesame.local.receiving.event import build_event, verdicts_for_rule
from sesame.local.receiving.rules import AddHeaderAction, ReceiptRule, S3Action
from sesame.local.receiving.smtp import Delivery
from sesame.local.receiving.stored import Received, new_message_id, store_copy


@dataclass(frozen=True)
class Accepted:
    received: Received
    events: tuple[tuple[ReceiptRule, dict[str, Any]], ...]  # one per rule with a Lambda action
    stored: tuple[tuple[str, str], ...]  # (bucket, key) of each stored copy
    not_invoked: tuple[tuple[str, str], ...]  # (recipient, rule) of rules without a Lambda action


class SesReceiving:
    def __init__(
        self,
        rules: Any,  # has route(address) -> Route
        *,
        region: str,
        s3: Any,
        bucket_of: Callable[[S3Action], str],
        function_arn: str,
        invoke: Callable[[dict[str, Any]], str],
        verdicts: Verdicts,
        explicit_verdicts: tuple[str, ...] = (),
        on_accepted: Callable[[Accepted], None] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.rules = rules
        self.region = region
        self.s3 = s3
        self.bucket_of = bucket_of
        self.function_arn = function_arn
        self.invoke = invoke
        self.verdicts = verdicts
        self.explicit_verdicts = explicit_verdicts
        self.on_accepted = on_accepted
        self.note = note

    def check_recipient(self, address: str, mail_from: str) -> str | None:
        refusal = self.rules.route(address).refusal
        if refusal is not None and self.note is not None:
            self.note(f"refused RCPT {address} from <{mail_from}>: {refusal}")
        return refusal

    def accept(self, delivery: Delivery) -> str:
        started = time.monotonic()
        recipients = tuple(dict.fromkeys(r.strip().strip("<>") for r in delivery.recipients))
        groups: dict[str, tuple[ReceiptRule, list[str]]] = {}
        for recipient in recipients:
            for rule in self.rules.route(recipient).rules:
                groups.setdefault(rule.name, (rule, []))[1].append(recipient)
        received = Received(
            message_id=new_message_id(),
            source=delivery.mail_from,
            recipients=recipients,
            helo=delivery.helo,
            peer_ip=delivery.peer_ip,
            received_at=datetime.now(UTC),
            original=delivery.content,
        )
        verdicts = {
            name: verdicts_for_rule(self.verdicts, rule.scan_enabled, self.explicit_verdicts)
            for name, (rule, _) in groups.items()
        }
        first_rule = next(iter(groups.values()))[0] if groups else None
        extra = [(a.name, a.value) for a in first_rule.actions_until_stop() if isinstance(a, AddHeaderAction)] if first_rule else []
        stored = store_copy(received, verdicts[first_rule.name] if first_rule else self.verdicts, self.region, extra)
        locations: list[tuple[str, str]] = []
        for rule, _ in groups.values():  # the rules' S3 actions, before 250 is answered
            for action in rule.actions_until_stop():
                if isinstance(action, S3Action):
                    bucket, key = self.bucket_of(action), f"{action.prefix}{received.message_id}"
                    self.s3.put_object(Bucket=bucket, Key=key, Body=stored)
                    locations.append((bucket, key))
        # SES reports processingTimeMillis as a positive number (Powertools' model: PositiveInt).
        processing = max(1, int((time.monotonic() - started) * 1000))
        events = []
        not_invoked = []
        for rule, rcpts in groups.values():
            action = rule.lambda_action()
            if action is None:
                not_invoked += [(r, rule.name) for r in rcpts]
                continue
            event = build_event(received, rcpts, verdicts[rule.name], self.function_arn, action.invocation_type, processing)
            events.append((rule, event))
        accepted = Accepted(received, tuple(events), tuple(locations), tuple(not_invoked))
        if self.on_accepted is not None:
            self.on_accepted(accepted)  # before any invocation can finish
        for _, event in events:
            self.invoke(event)
        return f"250 Ok {received.message_id}"


def bucket_resolver(names: Mapping[str, str]) -> Callable[[S3Action], str]:
    from sesame.local.aws.resources import bucket_name

    return lambda action: bucket_name(action, names)
