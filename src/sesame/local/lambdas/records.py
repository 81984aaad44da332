"""The records Lambda writes and the events it builds, as pure functions.

- The on-failure destination record of an asynchronous invocation: AWS Lambda developer
  guide, "Capturing records of Lambda asynchronous invocations" (``version``, ``timestamp``,
  ``requestContext{requestId, functionArn, condition, approximateInvokeCount}``,
  ``requestPayload``, ``responseContext{statusCode, executedVersion, functionError}``,
  ``responsePayload``), as in this real record delivered to SQS::

    {"version":"1.0","timestamp":"2020-03-09T22:01:53.075Z","requestContext":{"requestId":
    "cabbfbd0-...","functionArn":"arn:aws:lambda:us-east-1:757370802528:function:...:$LATEST",
    "condition":"RetriesExhausted","approximateInvokeCount":3},"requestPayload":{...},
    "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":
    "Unhandled"},"responsePayload":{"errorMessage":"name 'body' is not defined","errorType":
    "NameError","stackTrace":["  File \\"/var/task/handler.py\\", line 8, ..."]}}

- The SQS event an event source mapping hands a function: "Using Lambda with Amazon SQS"
  (``Records[]`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
  ``messageAttributes``, ``md5OfBody``, ``eventSource: aws:sqs``, ``eventSourceARN``,
  ``awsRegion``).
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from typing import Any

from sesame.local.receiving.event import iso_millis


class FunctionError(Exception):
    """An invocation's error as a runtime in another process reported it: ``errorType``,
    ``errorMessage``, ``stackTrace`` (Lambda developer guide, "Lambda runtime API": invocation
    error)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = {
            "errorMessage": str(payload.get("errorMessage", "")),
            "errorType": str(payload.get("errorType", "Unhandled")),
            "stackTrace": [str(line) for line in payload.get("stackTrace") or []],
        }
        super().__init__(self.payload["errorMessage"])


def error_payload(error: BaseException) -> dict[str, Any]:
    """What the Python runtime returns for an unhandled exception."""
    if isinstance(error, FunctionError):
        return dict(error.payload)
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def describe_error(error: BaseException) -> str:
    """``<errorType>: <errorMessage>``, one line."""
    payload = error_payload(error)
    return f"{payload['errorType']}: {payload['errorMessage']}"


def on_failure_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    attempts: int,
    event: dict[str, Any],
    error: BaseException,
    when: datetime | None = None,
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "timestamp": iso_millis(when or datetime.now(UTC)),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,  # RetriesExhausted or EventAgeExceeded
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error_payload(error),
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event for a batch of ``ReceiveMessage`` results (AttributeNames and MessageAttributeNames All)."""
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    k: attributes[k]
                    for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
                    if k in attributes
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}
