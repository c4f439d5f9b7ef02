"""What every receiver is: it knows its service's wire format and reports how a send went.

A receiver never decides when to retry. It answers `Delivered`, `Retry` (the service did not
take it, try again, perhaps not before `retry_after`) or `GiveUp` (trying again cannot help: a
rejected key, a body the service refuses). The delivery stages in `delivery.py` do the rest.
"""

from __future__ import annotations

import email.utils
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from vpnwatch.notify.message import Notification
from vpnwatch.notify.settings import ReceiverSettings

USER_AGENT = "vpnwatch-notify"
MAX_ANSWER = 300  # characters of a receiver's answer kept for the log and the API


@dataclass(frozen=True, slots=True)
class Delivered:
    status: int
    answer: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    retry_after: float | None = None  # seconds, from the service's Retry-After


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


Outcome = Delivered | Retry | GiveUp


class Receiver(ABC):
    """One configured receiver. Subclasses build requests; `send` runs and classifies them."""

    kind: str

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self._secrets = sorted(settings.secrets(), key=len, reverse=True)

    @abstractmethod
    def requests(self, notification: Notification) -> list[httpx.Request]:
        """The HTTP requests that deliver `notification` (usually one)."""

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> Outcome:
        """Send every request; the first that is not delivered decides the outcome."""
        outcome: Outcome = Delivered(204)
        for request in self.requests(notification):
            outcome = await self.exchange(client, request)
            if not isinstance(outcome, Delivered):
                return outcome
        return outcome

    async def exchange(self, client: httpx.AsyncClient, request: httpx.Request) -> Outcome:
        try:
            response = await client.send(request)
        except httpx.TimeoutException:
            return Retry(f"no answer from {self._host(request)} within the timeout")
        except httpx.TransportError as exc:
            return Retry(f"cannot reach {self._host(request)}: {self.redact(type(exc).__name__)}")
        return self.classify(response)

    def classify(self, response: httpx.Response) -> Outcome:
        """2xx delivered; 408, 425, 429 and 5xx are worth retrying; any other 4xx is not."""
        status = response.status_code
        answer = self.redact(response.text[:MAX_ANSWER].strip())
        if 200 <= status < 300:
            return Delivered(status, answer)
        reason = f"{self._host(response.request)} answered HTTP {status}"
        if answer:
            reason += f": {answer}"
        if status in (408, 425, 429) or status >= 500:
            return Retry(reason, retry_after(response))
        return GiveUp(reason)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def _host(self, request: httpx.Request) -> str:
        url = request.url
        port = f":{url.port}" if url.port else ""
        return f"{self.kind} receiver {self.name!r} ({url.scheme}://{url.host}{port})"

    @staticmethod
    def post_json(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Request:
        return httpx.Request("POST", url, content=encode(body), headers=_headers(headers))


def encode(body: object) -> bytes:
    """Compact UTF-8 JSON: the exact bytes a signature covers."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Content-Type": "application/json", **(extra or {})}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
