"""Rate limits on what anyone can do without signing in, driven to 429 with small limits set in settings:
applying, the eligibility check, opening agency links (per address and per link) and asking for a new
link. The API answers JSON, the agency pages a GOV.UK page; both say when to try again (Retry-After)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.rate_limits import SlidingWindowLimiter
from domain.links import new_token
from tests.test_security import app_for, client_of, eligibility_body, settings_for


def limited(tmp_path: Path, **values: Any) -> Any:
    """An app in ENVIRONMENT=test (limits on) where every limit is 2 unless `values` says otherwise."""
    limits = {
        "rate_limit_apply_per_hour": 2,
        "rate_limit_eligibility_per_hour": 2,
        "rate_limit_agency_link_per_hour": 2,
        "rate_limit_new_link_per_hour": 2,
        **values,
    }
    return app_for(settings_for(tmp_path, "test", **limits))


def assert_retry_after(answer: httpx.Response) -> None:
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 3600


def assert_refusal_page(answer: httpx.Response) -> None:
    assert_retry_after(answer)
    assert answer.headers["content-type"].startswith("text/html")
    assert "You have tried too many times" in answer.text
    assert "govuk-heading-l" in answer.text
    assert "'nonce-" in answer.headers["content-security-policy"]


async def test_post_eligibility_over_the_limit_answers_429_json(tmp_path: Path) -> None:
    app = limited(tmp_path)
    async with client_of(app) as api:
        answers = [await api.post("/api/eligibility", json=eligibility_body()) for _ in range(3)]
    async with client_of(app, client=("198.51.100.9", 4000)) as other:
        elsewhere = await other.post("/api/eligibility", json=eligibility_body())

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert_retry_after(answers[2])
    assert "Try again in" in answers[2].json()["detail"]
    assert elsewhere.status_code == 200


async def test_post_case_over_the_limit_answers_429_before_anything_else(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as api:
        # No Temporal here: the first two answer 503, and nothing is kept; the third is not even tried.
        answers = [await api.post("/api/cases", json=eligibility_body()) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 429]
    assert_retry_after(answers[2])


async def test_open_agency_link_over_the_limit_per_address_answers_429_page(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [await browser.get(f"/agency/r/{new_token()[0]}") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert_refusal_page(answers[2])


async def test_open_agency_link_over_the_limit_per_link_from_many_addresses(tmp_path: Path) -> None:
    app = limited(tmp_path, trust_x_forwarded_for=True, rate_limit_agency_link_per_hour=3)
    token = new_token()[0]
    async with client_of(app) as browser:
        answers = [
            await browser.get(f"/agency/r/{token}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(4)
        ]
        other_link = await browser.get(
            f"/agency/r/{new_token()[0]}", headers={"X-Forwarded-For": "192.0.2.99"}
        )

    assert [answer.status_code for answer in answers] == [404, 404, 404, 429]
    assert_refusal_page(answers[3])
    assert other_link.status_code == 404


async def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [
            await browser.get(f"/agency/r/{new_token()[0]}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(3)
        ]

    assert [answer.status_code for answer in answers] == [404, 404, 429]


async def test_trusted_x_forwarded_for_counts_the_address_our_proxy_added(tmp_path: Path) -> None:
    app = limited(tmp_path, trust_x_forwarded_for=True)
    async with client_of(app) as browser:
        # The client makes up the first entry; the proxy appends the address it saw.
        answers = [
            await browser.get(
                f"/agency/r/{new_token()[0]}", headers={"X-Forwarded-For": f"10.0.0.{n}, 192.0.2.50"}
            )
            for n in range(3)
        ]

    assert [answer.status_code for answer in answers] == [404, 404, 429]


async def test_post_new_link_over_the_limit_answers_429_page(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [
            await browser.post("/agency/new-link", data={"token": new_token()[0], "csrf_token": "0" * 64})
            for _ in range(3)
        ]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert_refusal_page(answers[2])


async def test_rate_limits_are_on_except_in_development(tmp_path: Path) -> None:
    async def third_is_limited(environment: str, enabled: bool | None) -> bool:
        settings = settings_for(
            tmp_path, environment, rate_limits_enabled=enabled, rate_limit_eligibility_per_hour=2
        )
        async with client_of(app_for(settings)) as api:
            answers = [await api.post("/api/eligibility", json=eligibility_body()) for _ in range(3)]
        return answers[2].status_code == 429

    assert await third_is_limited("test", None)
    assert await third_is_limited("development", True)
    assert not await third_is_limited("development", None)
    assert not await third_is_limited("test", False)


def test_sliding_window_limiter_frees_a_place_as_each_hit_leaves_the_window() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0])

    assert limiter.hit("a", count=2, seconds=60) is None
    now[0] += 20
    assert limiter.hit("a", count=2, seconds=60) is None
    assert limiter.hit("a", count=2, seconds=60) == pytest.approx(40)
    assert limiter.hit("b", count=2, seconds=60) is None  # another key counts apart
    now[0] += 40
    assert limiter.hit("a", count=2, seconds=60) is None  # the first hit left the window
    assert limiter.hit("a", count=2, seconds=60) == pytest.approx(20)


def test_sliding_window_limiter_keeps_a_bounded_number_of_keys() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0], max_keys=100)

    for n in range(1000):
        now[0] += 1
        limiter.hit(f"client-{n}", count=5, seconds=3600)

    assert len(limiter._windows) <= 100
    assert limiter.hit("client-999", count=1, seconds=3600) is not None  # the newest are kept
