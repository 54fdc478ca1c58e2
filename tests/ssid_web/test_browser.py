"""The web UI in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) over real
HTTPS on loopback: sign in, search, resolve a potential match from seeded SLF tables, deactivate
with a reason, sign out; and a district user cannot see another district's student.

Chromium trusts only the development server certificate's key (``--ignore-certificate-errors-spki-list``),
nothing else; every page runs under the app's CSP, so a script or an inline style would be blocked.
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from zone.tls import server_context

from .conftest import ambiguous, parent_app, password

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed "
                                "(apt-get install chromium; .ci/run installs it)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REASON = "same student as the surviving ID: same name, birth date and birth city"


def spki_pin(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
async def site(world, pki, poller):
    """The app (with the SLF queue) served over HTTPS on 127.0.0.1; its base URL."""
    runner = web.AppRunner(parent_app(world, poller=poller))
    await runner.setup()
    s = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(pki.server_cert, pki.server_key))
    await s.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def page(pki):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(pki.server_cert.read_bytes())}"])
        context = await browser.new_context()
        pg = await context.new_page()
        blocked: list[str] = []
        pg.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        pg.set_default_timeout(10_000)
        yield pg
        assert not blocked, blocked
        await browser.close()


async def sign_in(page, base: str, user: str) -> None:
    await page.goto(f"{base}/ui/")
    assert page.url.startswith(f"{base}/ui/login")  # not signed in yet
    await page.fill("#user_id", user)
    await page.fill("#password", password(user))
    await page.click("#sign-in")
    await page.wait_for_url(f"{base}/ui/")
    assert await page.inner_text("#who") == user


async def test_a_district_administrator_searches_resolves_a_potential_match_deactivates_and_signs_out(
        site, page, world, slf, poller):
    txn = await ambiguous(slf, poller)
    amara, amira = world.ids["Amara"], world.ids["Amira"]
    await sign_in(page, site, "dana")
    # the style sheet loaded under the CSP
    bg = await page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(243, 245, 247)"

    # search by name and birth date (through the matcher)
    await page.click("text=Find a student")
    await page.fill("#LegalFirstName", "Amara")
    await page.fill("#LegalLastName", "Okafor")
    await page.fill("#BirthDate", "2017-04-12")
    await page.click("#search-name")
    row = page.locator("#results tbody tr", has_text=amara)
    assert "match" in await row.inner_text()
    await row.locator(f"a:text('{amara}')").click()
    await page.wait_for_url(f"{site}/ui/students/{amara}")
    assert await page.inner_text("#status") == "active"

    # resolve the seeded potential match: pick Amara
    await page.click("nav >> text=Potential matches")
    await page.click(f"a:text('{txn}')")
    conf = await page.inner_text(f".confidence[data-id='{amara}']")
    assert conf.startswith("confidence ") and conf.endswith("%")
    assert await page.locator("#comparison mark").count() >= 2  # Amera vs Amara / Amira
    await page.check(f"#pick-{amara}")
    await page.click("#resolve-pick")
    await page.wait_for_url(f"{site}/ui/review")
    assert f"matched to {amara}" in await page.inner_text("#flash")
    assert (await slf.row(txn))["N_SLF_STATUS"] == 5

    # deactivate Amira in favour of Amara, with a reason
    await page.goto(f"{site}/ui/search")
    await page.fill("#id", amira)
    await page.click("#search-id")
    await page.wait_for_url(f"{site}/ui/students/{amira}")
    await page.click("#deactivate-link")
    await page.fill("#surviving_id", amara)
    await page.fill("#reason", "duplicate")
    await page.click("#deactivate")
    assert "does not say why" in await page.inner_text("#deactivate-error")
    await page.fill("#reason", REASON)
    await page.click("#deactivate")
    await page.wait_for_url(f"{site}/ui/students/{amira}")
    assert await page.inner_text("#status") == "deactivated"
    assert "dana" in await page.inner_text("#deactivation") and REASON in await page.inner_text("#deactivation")
    assert (await world.store.student(amira)).status == "deactivated"

    # sign out: the session is gone
    await page.click("#logout")
    await page.wait_for_url(f"{site}/ui/login?why=signed+out")
    assert "You are signed out." in await page.content()
    await page.goto(f"{site}/ui/students/{amara}")
    assert page.url.startswith(f"{site}/ui/login")


async def test_a_district_user_cannot_see_another_districts_student(site, page, world):
    oliver, amara = world.ids["Oliver"], world.ids["Amara"]
    await sign_in(page, site, "dora")
    resp = await page.goto(f"{site}/ui/students/{oliver}")
    assert resp.status == 404 and "No student with ID" in await page.inner_text("main")
    assert "Lindqvist" not in await page.content()
    await page.goto(f"{site}/ui/search")
    await page.fill("#LegalFirstName", "Oliver")
    await page.fill("#LegalLastName", "Lindqvist")
    await page.fill("#BirthDate", "2015-02-03")
    await page.click("#search-name")
    assert await page.locator("#no-results").count() == 1
    assert oliver not in await page.content()
    resp = await page.goto(f"{site}/ui/students/{amara}")  # her own district's student: shown
    assert resp.status == 200 and await page.inner_text("#student-id") == amara
