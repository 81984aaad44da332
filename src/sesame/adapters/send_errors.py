"""How a failed SES send is read, for the delivery protocol (:mod:`sesame.core.delivery`).

The question for each failure is whether SES may have accepted the message. An error response
means it did not (SES answered, with a refusal); a connection that could not be opened means
the request never arrived; a timeout or a dropped connection after the request was written
means nobody knows. Error codes are SES v2 ``SendEmail``'s (botocore's ``sesv2`` service model):
account and configuration problems are ``fatal`` (retrying within the invocation cannot help;
Lambda's retries and the dead-letter queue take it from there).
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
)

from sesame.core.delivery import Failure

FATAL_CODES = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",  # the configuration set named in the request does not exist
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
    }
)


def classify_send_error(exc: BaseException) -> Failure:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return "fatal" if code in FATAL_CODES else "not-sent"
    if isinstance(exc, (ConnectTimeoutError, EndpointConnectionError)):
        return "not-sent"
    if isinstance(exc, (ParamValidationError, ValueError, TypeError)):
        return "fatal"  # a request that cannot be made: a bug, not a passing failure
    return "unknown"  # read timeout, connection reset or closed after the request went out
