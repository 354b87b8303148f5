"""Rate limits on what anyone can do without signing in, driven to 429 with small limits set in settings:
applying (the API and the online form), the eligibility check, opening links (an agency's, the applicant's,
an appeal's; per address and per link) and asking for a new link (an agency's, the applicant's). The API
answers JSON; each page a GOV.UK page in the words of whoever uses it; all say when to try again
(Retry-After)."""

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


def assert_refusal_page(answer: httpx.Response, audience: str = "agency") -> None:
    """A GOV.UK 429 page with the headers of every link page, in the words of `audience` (a key of
    AUDIENCES) and in nobody else's."""
    assert_retry_after(answer)
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "'nonce-" in answer.headers["content-security-policy"]
    page = " ".join(answer.text.split())
    service_name, heading, says = AUDIENCES[audience]
    assert f'<h1 class="govuk-heading-l">{heading}</h1>' in page
    assert f"<title>{heading} – {service_name}</title>" in page
    assert "Wait 60 minutes" in page  # the whole hour: nothing has left the window yet
    for phrase in says:
        assert phrase in page, f"{phrase!r} not on the {audience}'s 429 page"
    for other, (_, _, their_words) in AUDIENCES.items():
        if other != audience:
            assert not [phrase for phrase in their_words if phrase not in says and phrase in page], other


# Each audience's 429 page: the service named in its title, its heading, and what it tells them to do.
AUDIENCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "agency": (
        "Community Trigger",
        "You have tried too many times",
        ("links to reply pages can only be opened", "reply to the request email"),
    ),
    "applicant": (
        "Community Trigger",
        "You have tried too many times",
        ("links to case pages can only be opened", "contact the council dealing with it", "call 999"),
    ),
    "appeal": (
        "Community Trigger appeal",
        "You have tried too many times",
        ("links to appeal pages can only be opened", "reply to the email that sent you the link"),
    ),
    "apply": (
        "Apply for a Community Trigger",
        "You have tried to send too many times",
        ("Your answers are saved", 'href="/apply/declaration"', "call 999"),
    ),
}


async def test_post_eligibility_over_the_limit_answers_429_json(tmp_path: Path) -> None:
    app = limited(tmp_path)
    async with client_of(app) as api:
        answers = [await api.post("/api/eligibility", json=eligibility_body()) for _ in range(3)]
    async with client_of(app, client=("198.51.100.9", 4000)) as other:
        elsewhere = await other.post("/api/eligibility", json=eligibility_body())

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert_retry_after(answers[2])
    assert answers[2].headers["content-type"] == "application/json"
    assert answers[2].json()["detail"] == "Too many requests from your address. Try again in 60 minutes."
    assert elsewhere.status_code == 200


async def test_post_case_over_the_limit_answers_429_before_anything_else(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as api:
        # No Temporal here: the first two answer 503, and nothing is kept; the third is not even tried.
        answers = [await api.post("/api/cases", json=eligibility_body()) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 429]
    assert_retry_after(answers[2])
    assert answers[2].json()["detail"] == "Too many requests from your address. Try again in 60 minutes."


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


async def test_sending_an_online_application_over_the_limit_answers_the_apply_429_page(
    tmp_path: Path,
) -> None:
    async with client_of(limited(tmp_path)) as browser:
        # Counted before the draft is looked at: without one, the first two get the "start again" page.
        answers = [
            await browser.post("/apply/declaration", data={"consent_to_share": "yes", "truthful": "yes"})
            for _ in range(3)
        ]

    assert [answer.status_code for answer in answers] == [410, 410, 429]
    assert_refusal_page(answers[2], "apply")


async def test_the_apply_limit_is_shared_with_the_api(tmp_path: Path) -> None:
    """An application is an application, online or through the API: one count for both."""
    async with client_of(limited(tmp_path)) as browser:
        api = [await browser.post("/api/cases", json=eligibility_body()) for _ in range(2)]
        online = await browser.post("/apply/declaration", data={})

    assert [answer.status_code for answer in api] == [503, 503]
    assert_refusal_page(online, "apply")


async def test_opening_applicant_links_over_the_limit_answers_the_applicants_429_page(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [await browser.get(f"/case/r/{new_token()[0]}") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert "This link cannot be used" in answers[1].text
    assert_refusal_page(answers[2], "applicant")


async def test_one_applicant_link_tried_from_many_addresses_is_limited(tmp_path: Path) -> None:
    app = limited(tmp_path, trust_x_forwarded_for=True, rate_limit_agency_link_per_hour=3)
    token = new_token()[0]
    async with client_of(app) as browser:
        answers = [
            await browser.get(f"/case/r/{token}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(4)
        ]

    assert [answer.status_code for answer in answers] == [404, 404, 404, 429]
    assert_refusal_page(answers[3], "applicant")


async def test_asking_for_applicant_links_over_the_limit_answers_the_applicants_429_page(
    tmp_path: Path,
) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [
            await browser.post(
                "/case/new-link", data={"csrf_token": "0" * 64, "reference": "x", "email": "a@b.example"}
            )
            for _ in range(3)
        ]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert_refusal_page(answers[2], "applicant")


async def test_opening_appeal_links_over_the_limit_answers_the_appeals_429_page(tmp_path: Path) -> None:
    async with client_of(limited(tmp_path)) as browser:
        answers = [await browser.get(f"/appeal/r/{new_token()[0]}") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert_refusal_page(answers[2], "appeal")


async def test_the_wait_is_counted_from_the_oldest_request_in_the_window(tmp_path: Path) -> None:
    now = [1000.0]
    app = limited(tmp_path)
    app.state.rate_limiter = SlidingWindowLimiter(clock=lambda: now[0])
    async with client_of(app) as browser:
        await browser.get(f"/case/r/{new_token()[0]}")
        now[0] += 3000  # 50 minutes later
        await browser.get(f"/case/r/{new_token()[0]}")
        now[0] += 59.5
        answer = await browser.get(f"/case/r/{new_token()[0]}")

    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "541"  # the first leaves the hour in 540.5 s
    assert "Wait 10 minutes, then try again." in " ".join(answer.text.split())


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
