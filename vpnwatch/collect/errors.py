"""Turn what an Azure call raised into a `FailureCause` and a reason on-call can act on.

The cause decides what the agent concludes (an auth failure makes it blind, a 404 means the
resource is gone); the reason names the call, the HTTP status and ARM's own error code and
message, plus what to check next.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    DeserializationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from vpnwatch.collect.retry import SubscriptionThrottled
from vpnwatch.observations import FailureCause

_HINTS = {
    FailureCause.AUTH: "check the credential and that it holds Reader on the subscription",
    FailureCause.THROTTLED: "ARM is throttling reads for this subscription; lengthen intervals",
    FailureCause.UNREACHABLE: "check the resource_manager endpoint, DNS, proxy and TLS settings",
    FailureCause.TIMEOUT: "Azure did not answer within collectors.timeout_seconds or the call's "
    "deadline (collectors.call_deadline_seconds)",
    FailureCause.NOT_FOUND: "the resource or resource group no longer exists",
    FailureCause.SERVER_ERROR: "Azure reported an error; it is usually transient",
    FailureCause.INVALID_RESPONSE: "the response did not have the documented shape",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a call failed, ready for a `ResourceUnknown` or a failed `CollectionRun`."""

    cause: FailureCause
    reason: str


def classify(exc: BaseException, doing: str) -> Failure:
    """Classify `exc`, raised while `doing` (e.g. "list virtual network gateways in rg1")."""
    cause = _cause(exc)
    return Failure(cause, f"{doing} failed: {_detail(exc)} ({_HINTS[cause]})")


def one_line(exc: BaseException) -> str:
    """A failure in one line: HTTP status with ARM's code and message, or the first line of the
    exception (credential errors run to dozens of lines)."""
    return _detail(exc)


def _cause(exc: BaseException) -> FailureCause:
    if isinstance(exc, ClientAuthenticationError):
        return FailureCause.AUTH
    if isinstance(exc, SubscriptionThrottled):
        return FailureCause.THROTTLED
    if isinstance(exc, ResourceNotFoundError):
        return FailureCause.NOT_FOUND
    if isinstance(exc, (DecodeError, DeserializationError, json.JSONDecodeError)):
        return FailureCause.INVALID_RESPONSE
    if isinstance(exc, HttpResponseError):
        return _cause_from_status(exc.status_code)
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return FailureCause.TIMEOUT
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return FailureCause.TIMEOUT
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError)):
        return FailureCause.UNREACHABLE
    # What is left is a body our parsing could not read (wrong types, missing fields).
    return FailureCause.INVALID_RESPONSE


def _cause_from_status(status: int | None) -> FailureCause:
    if status in (401, 403):
        return FailureCause.AUTH
    if status == 404:
        return FailureCause.NOT_FOUND
    if status == 429:
        return FailureCause.THROTTLED
    if status == 408:
        return FailureCause.TIMEOUT
    return FailureCause.SERVER_ERROR


def _detail(exc: BaseException) -> str:
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        code, message = _arm_error(exc)
        if status is None:
            head = "no HTTP status"
        elif status < 400:  # a long-running operation whose status monitor said "Failed"
            head = "long-running operation failed"
        else:
            head = f"HTTP {status}"
        if code or message:
            return f"{head} {code or 'error'}: {message or '(no message)'}"
        return f"{head}: {_first_line(exc)}"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _arm_error(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """ARM's `{"error": {"code", "message"}}`, wherever this SDK version put it."""
    error = getattr(exc, "error", None)
    if error is not None and (getattr(error, "code", None) or getattr(error, "message", None)):
        return getattr(error, "code", None), getattr(error, "message", None)
    model = getattr(exc, "model", None)
    inner = getattr(model, "error", None) if model is not None else None
    if inner is not None and (getattr(inner, "code", None) or getattr(inner, "message", None)):
        return getattr(inner, "code", None), getattr(inner, "message", None)
    response = exc.response
    if response is not None:
        try:
            body = json.loads(response.text())
        except (ValueError, TypeError, AttributeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"].get("code"), body["error"].get("message")
    return None, None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
