"""The hourly limit per client holds across two API instances (two engines, as two worker
processes would have) sharing one database, on SQLite and PostgreSQL; 429 with Retry-After
and the RateLimit headers; the next window starts afresh."""

from __future__ import annotations

import asyncio

from ssid.api import ApiSettings

from .conftest import LOOKUP, ManualClock, bearer, get_token, make_store, new_client

BODY = {"firstName": "Ana", "lastName": "Lopez", "birthDate": "2008-01-02", "cdsCode": "19647331930106",
        "cccid": "ABC1234"}


async def test_limit_holds_across_two_instances(db_url, settings, serve):
    clock = ManualClock()
    one, two = await make_store(db_url, settings), await make_store(db_url, settings)
    try:
        cid, secret = await new_client(one, hourly_limit=5)
        free, free_secret = await new_client(one)  # the settings' default: 7 here
        api = ApiSettings(default_hourly_limit=7, token_lifetime=7200)
        a = (await serve(one, clock=clock, api_settings=api)).client()
        b = (await serve(two, clock=clock, api_settings=api)).client()
        token = await get_token(a, cid, secret)

        seen = []
        for i in range(5):
            clock.advance(60)
            r = await (a if i % 2 else b).post(LOOKUP, json=BODY, headers=bearer(token))
            assert r.status_code == 200
            assert r.headers["ratelimit-policy"] == '"hourly";q=5;w=3600'
            seen.append(r.headers["ratelimit"])
        assert seen == [f'"hourly";r={4 - i};t={3600 - 60 * (i + 1)}' for i in range(5)]
        for http in (a, b):
            r = await http.post(LOOKUP, json=BODY, headers=bearer(token))
            assert r.status_code == 429
            assert r.json()["type"] == "urn:ssid:api:too-many-requests"
            assert r.headers["retry-after"] == "3300"
            assert r.headers["ratelimit"] == '"hourly";r=0;t=3300'
        # concurrent requests on both instances never get past the limit together
        clock.advance(3300)  # the next hour
        answers = await asyncio.gather(*((a, b)[i % 2].post(LOOKUP, json=BODY, headers=bearer(token))
                                         for i in range(9)))
        assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 4
        # another client counts on its own, with the default limit
        t2 = await get_token(b, free, free_secret)
        statuses = [(await (a, b)[i % 2].post(LOOKUP, json=BODY, headers=bearer(t2))).status_code for i in range(8)]
        assert statuses == [200] * 7 + [429]
    finally:
        await one.close()
        await two.close()
