"""Rate limits on what anyone can do without signing in: applying, the eligibility check, opening an agency
link and asking for a new one. Counted per client address (and per link for agency links) over a sliding
hour, in this process; the numbers are settings (`RATE_LIMIT_*`).

A request over its limit answers 429 with `Retry-After`: JSON on the API; on a page, a short GOV.UK page in
the words of whoever uses it (an applicant, an agency, an appeal's chair or contact), which the page's route
gives (`rate_limited(..., page=...)`). The limits are on unless ENVIRONMENT=development
(`RATE_LIMITS_ENABLED` decides otherwise).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, HTTPException, Request, Response, status

from api.deps import SettingsDep
from api.link_pages import ShowPage, link_page
from core.config import Settings

WINDOW_SECONDS = 3600.0

# For the OpenAPI document of a limited route.
TOO_MANY_REQUESTS_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many requests from this address in the last hour; `Retry-After` gives the "
        "seconds to wait"
    }
}


class RateLimit(StrEnum):
    APPLY = "apply"
    ELIGIBILITY = "eligibility"
    AGENCY_LINK = "agency_link"
    NEW_LINK = "new_link"


def limit_of(settings: Settings, limit: RateLimit) -> int:
    """How many requests of this kind one client (or one link) may make in an hour."""
    return {
        RateLimit.APPLY: settings.rate_limit_apply_per_hour,
        RateLimit.ELIGIBILITY: settings.rate_limit_eligibility_per_hour,
        RateLimit.AGENCY_LINK: settings.rate_limit_agency_link_per_hour,
        RateLimit.NEW_LINK: settings.rate_limit_new_link_per_hour,
    }[limit]


@dataclass
class _Window:
    hits: deque[float]
    seconds: float


class SlidingWindowLimiter:
    """At most `count` hits per key in any `seconds`; remembers only keys seen within their window.

    A key's record is at most `count` times, so memory grows with the number of clients, not requests; when
    it holds more than `max_keys` keys, expired ones go, then the oldest.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, count: int, seconds: float) -> float | None:
        """Count a hit; None when it is allowed, else the seconds until one would be."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                self._make_room(now)
                window = self._windows[key] = _Window(deque(), seconds)
            while window.hits and window.hits[0] <= now - seconds:
                window.hits.popleft()
            if len(window.hits) >= count:
                return max(window.hits[0] + seconds - now, 1.0)
            window.hits.append(now)
            return None

    def _make_room(self, now: float) -> None:
        if len(self._windows) < self._max_keys:
            return
        for key, window in list(self._windows.items()):
            if not window.hits or window.hits[-1] <= now - window.seconds:
                del self._windows[key]
        # Down to nine tenths, oldest first, so that a flood of new keys costs one scan per tenth of the
        # table, not one per request.
        while len(self._windows) > self._max_keys * 9 // 10:
            del self._windows[next(iter(self._windows))]


def client_address(request: Request, settings: Settings) -> str:
    """Who is asking, for counting: the connecting address, or with TRUST_X_FORWARDED_FOR the address our
    proxy put last in X-Forwarded-For. An IPv6 client counts by its /64, which one household holds."""
    address = request.client.host if request.client else ""
    if settings.trust_x_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded.strip():
            address = forwarded.split(",")[-1].strip()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


def limiter_of(request: Request) -> SlidingWindowLimiter:
    """The app's limiter (one per process)."""
    state = request.app.state
    limiter: SlidingWindowLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = state.rate_limiter = SlidingWindowLimiter()
    return limiter


def _refusal(retry_after: float, page: Callable[[int], Response] | None) -> Exception:
    seconds = math.ceil(retry_after)
    if page is not None:
        response = page(seconds)
        response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        response.headers["Retry-After"] = str(seconds)
        return ShowPage(response)
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"Too many requests from your address. Try again in {_in_words(seconds)}.",
        headers={"Retry-After": str(seconds)},
    )


def _in_words(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def too_many_requests_page(template: str) -> Callable[[int], Response]:
    """A page route's 429 (its `rate_limited(..., page=...)`): the GOV.UK page `template` (its path under
    templates/), told how long to wait in words (`wait`); `rate_limited` adds the status and `Retry-After`.
    The page must say nothing about any case: it answers before the link or form is looked at."""

    def page(seconds: int) -> Response:
        return link_page(template, status.HTTP_429_TOO_MANY_REQUESTS, wait=_in_words(seconds))

    return page


def rate_limited(limit: RateLimit, page: Callable[[int], Response] | None = None) -> Any:
    """A route dependency that counts the request against `limit`, answering 429 once it is over:
    `@router.post(..., dependencies=[rate_limited(RateLimit.APPLY)])`. For agency links, the link in the
    path (`{token}`) is counted too, so one link cannot be tried from many addresses. A page's route gives
    `page`, which makes its 429 page from the seconds to wait (`too_many_requests_page`); without one the
    answer is the API's JSON."""

    async def check(request: Request, settings: SettingsDep) -> None:
        if not settings.rate_limiting:
            return
        limiter = limiter_of(request)
        count = limit_of(settings, limit)
        keys = [f"{limit}|address|{client_address(request, settings)}"]
        token = request.path_params.get("token")
        if isinstance(token, str) and token:
            # The token's hash: a secret is not kept, even in memory, longer than the request.
            keys.append(f"{limit}|link|{hashlib.sha256(token.encode('utf-8')).hexdigest()}")
        for key in keys:
            retry_after = limiter.hit(key, count=count, seconds=WINDOW_SECONDS)
            if retry_after is not None:
                raise _refusal(retry_after, page)

    return Depends(check)
