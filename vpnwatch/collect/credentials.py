"""Fixed bearer-token credentials for the emulator and for `credential.kind: static_token`.

The Azure SDK clients need a `TokenCredential`; against the emulator there is no identity
provider to ask, so these hand out one configured token and never touch the network.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

_LIFETIME_SECONDS = 3600


class StaticTokenCredential:
    """A sync `TokenCredential` / `SupportsTokenInfo` that always returns `token`."""

    def __init__(self, token: str, lifetime_seconds: int = _LIFETIME_SECONDS) -> None:
        if not token:
            raise ValueError("a static token credential needs a non-empty token")
        self._token = token
        self._lifetime = lifetime_seconds

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + self._lifetime)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStaticTokenCredential:
    """The async twin of `StaticTokenCredential` (`AsyncTokenCredential`)."""

    def __init__(self, token: str, lifetime_seconds: int = _LIFETIME_SECONDS) -> None:
        if not token:
            raise ValueError("a static token credential needs a non-empty token")
        self._token = token
        self._lifetime = lifetime_seconds

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + self._lifetime)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
