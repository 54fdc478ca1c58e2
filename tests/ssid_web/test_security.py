"""Security of the web UI over real HTTPS: headers, cookies, CSRF, sign-in throttling, sessions."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from sqlalchemy import select

from ssid.web.app import CSP
from ssid.web.tables import logins_t, passwords_t, sessions_t

from .conftest import parent_app, password

HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Strict-Transport-Security": "max-age=31536000; includeSubDomains"}
MINUTE = 60.0


def _check_headers(resp) -> None:
    for k, v in HEADERS.items():
        assert resp.headers.get(k) == v, k


async def _status(world, sid: str) -> str:
    return (await world.store.student(sid)).status


def test_the_content_security_policy_allows_no_script_and_no_framing():
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP and "form-action 'self'" in CSP


async def test_every_response_of_the_ui_carries_the_security_headers_and_pages_are_not_cached(browser, world):
    anon = await browser()
    resp, _ = await anon.get("/ui/login")
    _check_headers(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    resp, _ = await anon.get("/ui/static/app.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    _check_headers(resp)
    resp, _ = await anon.get("/ui/no-such-page")
    assert resp.status == 404
    _check_headers(resp)
    dora = await browser("dora")
    resp, page = await dora.get(f"/ui/students/{world.ids['Amara']}")
    assert resp.status == 200 and "Okafor" in page
    _check_headers(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    assert "<script" not in page
    # the parent app's own routes are not the UI's business
    resp, text = await anon.get("/")
    assert text == "the parent app" and "Content-Security-Policy" not in resp.headers


async def test_cookies_are_secure_httponly_samesite_strict_and_the_session_token_is_stored_hashed(browser, world):
    b = await browser()
    resp, _ = await b.get("/ui/login")
    login_cookie = resp.headers["Set-Cookie"]
    nonce = b.cookie("__Host-ssid_login")
    resp = await b.client.post("/ui/login", data={"login_csrf": nonce, "user_id": "dora",
                                                  "password": password("dora")}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/"
    session_cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("__Host-ssid_session="))
    for c in (login_cookie, session_cookie):
        low = c.lower()
        assert "secure" in low and "httponly" in low and "samesite=strict" in low and "path=/" in low
        assert "domain=" not in low
    token = session_cookie.split(";")[0].split("=", 1)[1]
    async with world.store.read() as conn:
        stored = list((await conn.execute(select(sessions_t.c.token_hash).where(sessions_t.c.user_id == "dora")))
                      .scalars())
        hashes = list((await conn.execute(select(passwords_t.c.hash).where(passwords_t.c.user_id == "dora")))
                      .scalars())
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert hashes[0].startswith("$argon2id$") and password("dora") not in hashes[0]


async def test_a_post_without_the_session_csrf_token_changes_nothing(browser, world):
    sid, keep = world.ids["Amira"], world.ids["Amara"]
    dana, otto = await browser("dana"), await browser("otto")
    reason = "same student as the surviving ID: same name, birth date and birth city"
    form = {"surviving_id": keep, "reason": reason}
    resp, page = await dana.post(f"/ui/students/{sid}/deactivate", form, csrf=False)
    assert resp.status == 403 and "expired or did not come from this site" in page
    resp, _ = await dana.post(f"/ui/students/{sid}/deactivate", {**form, "csrf": "0" * 64})
    assert resp.status == 403
    await otto.get("/ui/")  # another user's valid token is not this session's
    resp, _ = await dana.post(f"/ui/students/{sid}/deactivate", {**form, "csrf": otto.csrf})
    assert resp.status == 403
    resp, _ = await dana.post(f"/ui/students/{sid}/deactivate", form,
                              headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert await _status(world, sid) == "active"
    resp, _ = await dana.post("/ui/logout", csrf=False)  # signing out needs the token too
    assert resp.status == 403
    resp, _ = await dana.get("/ui/")
    assert resp.url.path == "/ui/"  # still signed in
    # with the token it works
    resp, page = await dana.post(f"/ui/students/{sid}/deactivate", form)
    assert resp.status == 200 and "is deactivated" in page
    assert await _status(world, sid) == "deactivated"


async def test_the_sign_in_form_needs_its_own_nonce(browser):
    b = await browser()
    await b.get("/ui/login")
    resp, page = await b.post("/ui/login", {"login_csrf": "forged", "user_id": "dora",
                                            "password": password("dora")}, csrf=False)
    assert resp.status == 403 and "sign-in page expired" in page
    assert b.cookie("__Host-ssid_session") is None


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(browser, world):
    b = await browser()
    r1, p1 = await b.login("dora", "not the password at all")
    r2, p2 = await b.login("nobody-here", "not the password at all")
    assert r1.status == r2.status == 401
    assert "User id or password is wrong." in p1 and "User id or password is wrong." in p2
    async with world.store.read() as conn:
        rows = (await conn.execute(select(logins_t.c.user_id, logins_t.c.ok).order_by(logins_t.c.id))).all()
    assert [tuple(r) for r in rows] == [("dora", False), ("nobody-here", False)]


async def test_failed_sign_ins_are_throttled_per_user_until_the_window_passes(browser, world):
    b = await browser()
    for _ in range(world.web.login_failures_per_user):
        resp, _ = await b.login("dora", "wrong password number x")
        assert resp.status == 401
    resp, page = await b.login("dora")  # even the right password waits
    assert resp.status == 429 and "Too many failed sign-ins. Try again in 15 minutes" in page
    other = await browser("dana")  # other users are not affected
    assert other.cookie("__Host-ssid_session")
    world.clock.now += world.web.login_window + 1
    resp, _ = await b.login("dora")
    assert resp.status == 200 and resp.url.path == "/ui/"


async def test_failed_sign_ins_are_throttled_per_address_across_users(world, serve):
    web = replace(world.web, login_failures_per_address=4, login_failures_per_user=100)
    browser = await serve(parent_app(world, web_settings=web))
    b = await browser()
    for user in ("dora", "dana", "otto", "bea"):
        resp, _ = await b.login(user, "a wrong guess for all")
        assert resp.status == 401
    resp, page = await b.login("ivan")
    assert resp.status == 429 and "Too many failed sign-ins" in page
    # a success from that address does not reset the address's count
    world.clock.now += web.login_window + 1
    resp, _ = await b.login("ivan")
    assert resp.status == 200


async def test_a_session_ends_after_the_idle_timeout_and_after_the_absolute_timeout(browser, world):
    b = await browser("dora")
    sid = world.ids["Amara"]
    world.clock.now += world.web.session_idle - MINUTE
    resp, _ = await b.get(f"/ui/students/{sid}")
    assert resp.status == 200 and resp.url.path == f"/ui/students/{sid}"
    world.clock.now += world.web.session_idle + 1
    resp, page = await b.get(f"/ui/students/{sid}")
    assert resp.url.path == "/ui/login" and "after a period without activity" in page
    assert resp.url.query["next"] == f"/ui/students/{sid}"
    # signing in again returns to the page asked for
    resp, page = await b.post("/ui/login", {"login_csrf": b.cookie("__Host-ssid_login"), "user_id": "dora",
                                            "password": password("dora"), "next": f"/ui/students/{sid}"}, csrf=False)
    assert resp.url.path == f"/ui/students/{sid}" and "Okafor" in page
    # kept busy, it still ends at the absolute limit
    step = world.web.session_idle / 2
    for _ in range(int(world.web.session_absolute / step) - 1):
        world.clock.now += step
        resp, _ = await b.get("/ui/")
        assert resp.url.path == "/ui/"
    world.clock.now += step
    resp, page = await b.get("/ui/")
    assert resp.url.path == "/ui/login" and "maximum length" in page


async def _with_cookie(browser, token: str, path: str = "/ui/search") -> str:
    """The path a fresh client carrying only this session cookie ends on."""
    other = await browser()
    resp = await other.client.get(path, headers={"Cookie": f"__Host-ssid_session={token}"})
    return resp.url.path


async def test_signing_out_revokes_the_session_on_the_server(browser, world):
    b = await browser("dora")
    token = b.cookie("__Host-ssid_session")
    assert await _with_cookie(browser, token) == "/ui/search"  # the copied cookie works while signed in
    resp, page = await b.post("/ui/logout")
    assert resp.url.path == "/ui/login" and "You are signed out." in page
    assert b.cookie("__Host-ssid_session") is None
    assert await _with_cookie(browser, token) == "/ui/login"
    async with world.store.read() as conn:
        why = (await conn.execute(select(sessions_t.c.revoked_why))).scalars().all()
    assert why == ["sign-out"]


async def test_signing_in_again_ends_the_previous_session(browser):
    b = await browser("dora")
    first = b.cookie("__Host-ssid_session")
    await b.login("dora")
    second = b.cookie("__Host-ssid_session")
    assert first != second
    assert await _with_cookie(browser, first) == "/ui/login"
    assert await _with_cookie(browser, second) == "/ui/search"


async def test_a_suspended_user_is_signed_out_at_once_and_cannot_sign_in(browser, world):
    dora, stella = await browser("dora"), await browser("stella")
    resp, page = await stella.post("/ui/users/dora/status", {"status": "suspended",
                                                             "reason": "forced new IDs past matches repeatedly"})
    assert resp.status == 200 and "dora is now suspended (1 session(s) ended)" in page
    resp, _ = await dora.get("/ui/")
    assert resp.url.path == "/ui/login"
    resp, page = await dora.login("dora")
    assert resp.status == 403 and "suspended" in page
    await stella.post("/ui/users/dora/status", {"status": "active", "reason": "talked it through with her"})
    resp, _ = await dora.login("dora")
    assert resp.status == 200 and resp.url.path == "/ui/"


async def test_after_sign_in_the_browser_only_goes_to_pages_of_this_app(browser):
    b = await browser()
    for target in ("https://evil.example/", "//evil.example/ui/", "/elsewhere"):
        resp, _ = await b.get("/ui/login", params={"next": target})
        resp, _ = await b.post("/ui/login", {"login_csrf": b.cookie("__Host-ssid_login"), "user_id": "dora",
                                             "password": password("dora"), "next": target}, csrf=False)
        assert str(resp.url.origin()) == str(b.client.make_url("/").origin()) and resp.url.path == "/ui/"


async def test_sign_in_logs_carry_no_password_and_no_student_data(browser, world, caplog):
    caplog.set_level(logging.INFO)
    b = await browser()
    await b.login("dora", "my secret wrong guess")
    await b.login("dora")
    resp, page = await b.post("/ui/search", {"LegalFirstName": "Amara", "LegalLastName": "Okafor",
                                             "BirthDate": "2017-04-12"})
    assert resp.status == 200 and world.ids["Amara"] in page  # the search ran
    await b.get(f"/ui/students/{world.ids['Amara']}")
    text = caplog.text  # the app's logs and the server's access log
    assert "signed in" in text
    for secret in ("my secret wrong guess", password("dora"), "Okafor", "Amara", "2017-04-12"):
        assert secret not in text
