"""What the browser tests share: the app served over real HTTP, Debian's Chromium driven by Playwright,
axe-core checks and keyboard helpers. The fixtures that use them (`live_server`, `chromium`) are in
conftest.py.

Chromium is the system's (`apt-get install chromium`), never one that Playwright downloads (it cannot here,
and `playwright install` is never run). axe-core is the npm package pinned in package.json and
package-lock.json, which `make install` installs into node_modules/.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from core.config import PROJECT_ROOT

AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Run as root on a machine with a closed network: no sandbox, no GPU, and none of Chromium's own calls home
# (without them it tries to reach Google's hosts at every start, and those connections are refused).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The impacts that fail a page; axe's "minor" and "moderate" findings are not reported.
FAILING_IMPACTS = ("serious", "critical")
# How long any one wait for the page may take before the test fails (Playwright's default is 30 s).
TIMEOUT_MS = 10_000
# How long axe-core may take on one page.
AXE_TIMEOUT_S = 20.0


CHROMIUM_MISSING = (
    "Chromium is not installed: the browser tests drive the system's Chromium (Playwright never downloads"
    " one). Install it with `apt-get install chromium`, then run the tests again."
)
AXE_MISSING = f"{AXE_SCRIPT.relative_to(PROJECT_ROOT)} is missing: run `make install` (it runs `npm ci`)."


def missing_prerequisites() -> list[str]:
    """What the browser tests need from outside the venv and is not there, each saying how to install it."""
    missing = []
    if shutil.which("chromium") is None:
        missing.append(CHROMIUM_MISSING)
    if not AXE_SCRIPT.exists():
        missing.append(AXE_MISSING)
    return missing


def chromium_executable() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(CHROMIUM_MISSING)
    return path


def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        raise RuntimeError(AXE_MISSING)
    return AXE_SCRIPT.read_text()


# ---- the app over HTTP ------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn in the test session's event loop, leaving Ctrl-C to pytest (uvicorn would take the signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` on a free port of 127.0.0.1; yields its base URL.

    A task in the running loop, not a thread: the app's dependency overrides (the test settings, the time-
    skipping server's clock) and its Temporal client belong to this loop. No lifespan: the `service`
    fixture has already set up what the lifespan would (policies, engine, Temporal client).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the test HTTP server stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def new_page(browser: Browser, base_url: str, **context_options: Any) -> AsyncIterator[Page]:
    """A page in a new browser context: a separate person's browser, with its own cookies."""
    context = await browser.new_context(base_url=base_url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


def path_of(link: str) -> str:
    """The path of a link from an email. Emailed links start with the test settings' public_base_url
    (http://testserver, which every test in the process shares); the browser opens the same path on the
    live server instead (its context's base_url)."""
    if link.startswith("/"):
        return link
    scheme, _, rest = link.partition("://")
    assert scheme in ("http", "https") and "/" in rest, link
    return "/" + rest.split("/", 1)[1]


# ---- accessibility ----------------------------------------------------------------------------


async def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it stands.

    axe is evaluated through the DevTools protocol, as Playwright's `evaluate` does, not added as a
    <script> element: the pages' Content-Security-Policy (scripts from 'self' or with the page's nonce
    only) stays in force, as a user's browser has it.
    """
    if await page.evaluate("typeof window.axe === 'undefined'"):
        await page.evaluate(axe_source())
    # axe.run waits on the page's timers, which never fire where JavaScript is off (java_script_enabled=
    # False): it would wait for ever, and `evaluate` has no timeout of its own.
    try:
        results = await asyncio.wait_for(
            page.evaluate("() => axe.run(document, {resultTypes: ['violations']})"), AXE_TIMEOUT_S
        )
    except TimeoutError:
        raise AssertionError(
            f"axe-core did not finish on {page.url} in {AXE_TIMEOUT_S} s: is JavaScript off in this browser"
            " context? Check the page in a context with JavaScript on (browser.accessible_with_javascript)."
        ) from None
    failing = [v for v in results["violations"] if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe-core on {page.url} ({await page.title()}):\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    "
        + "\n    ".join(", ".join(node["target"]) for node in v["nodes"])
        for v in failing
    )


async def accessible_with_javascript(page: Page) -> None:
    """`assert_accessible` and `assert_no_horizontal_scrolling` for a page open in a context with JavaScript
    off (where axe cannot run): the same address opened (GET) in a context with JavaScript on, the same
    viewport and the same cookies, so it shows what this browser's session sees."""
    context = page.context
    browser = context.browser
    assert browser is not None
    twin = await browser.new_context(viewport=page.viewport_size)
    twin.set_default_timeout(TIMEOUT_MS)
    try:
        await twin.add_cookies(await context.cookies())  # type: ignore[arg-type]  # the same keys
        view = await twin.new_page()
        await view.goto(page.url)
        assert view.url == page.url, (
            f"{page.url} led elsewhere ({view.url}) in the context with JavaScript on"
        )
        await assert_accessible(view)
        await assert_no_horizontal_scrolling(view)
    finally:
        await twin.close()


# The width of the page and of its viewport, and the innermost elements that stick out past the viewport.
_WIDTHS = """() => {
    const page = document.scrollingElement;
    const outside = element => element.getBoundingClientRect().right > page.clientWidth + 0.5;
    const culprits = [...document.body.querySelectorAll('*')]
        .filter(element => outside(element) && ![...element.children].some(outside))
        .slice(0, 10)
        .map(element => element.tagName.toLowerCase() + (element.id ? '#' + element.id : '')
            + [...element.classList].map(name => '.' + name).join('')
            + ' (right edge at ' + Math.round(element.getBoundingClientRect().right) + ' px)');
    return {scroll: page.scrollWidth, client: page.clientWidth, culprits};
}"""


async def assert_no_horizontal_scrolling(page: Page) -> None:
    """The page fits its viewport's width: nothing to scroll sideways to (WCAG 1.4.10, reflow)."""
    widths = await page.evaluate(_WIDTHS)
    assert widths["scroll"] <= widths["client"], (
        f"{page.url} scrolls sideways in a viewport {page.viewport_size}: it is {widths['scroll']} CSS px"
        f" wide in {widths['client']}; what sticks out: {', '.join(widths['culprits'])}"
    )


# ---- the keyboard -----------------------------------------------------------------------------


async def tab_to(page: Page, selector: str, limit: int = 200) -> None:
    """Press Tab until an element matching the CSS `selector` has the focus, as a keyboard user moves
    through the page; fails if none ever does (not reachable by keyboard)."""
    await page.locator(selector).first.wait_for(state="attached")
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"{selector} was not reached by pressing Tab {limit} times on {page.url}")


async def choose_radio(page: Page, name: str, value: str) -> None:
    """Tab into the radio group `name`, move to `value` with the arrow keys and select it with Space: within
    a group, Tab moves past the group and the arrow keys move between its options."""
    await tab_to(page, f'input[type="radio"][name="{name}"]')
    options = await page.locator(f'input[type="radio"][name="{name}"]').count()
    for _ in range(options):
        if await page.evaluate("() => document.activeElement.value") == value:
            await page.keyboard.press("Space")
            assert await page.locator(f'input[name="{name}"][value="{value}"]').is_checked()
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"the radio {name}={value} was not reached with the arrow keys on {page.url}")
