"""Roles and places: each role opens its pages only, and each user sees its districts' students only."""

from __future__ import annotations

from .conftest import USERS

#: page → the users whose role grants it (every other user gets 403)
PAGES = {
    "/ui/search": set(USERS),
    "/ui/review": {"stella", "dana", "dora", "otto", "bea", "ivan"},
    "/ui/reactivations": {"april"},
    "/ui/users": {"stella"},
    "/ui/audit": {"stella", "april", "audrey"},
    "/ui/students/{Amara}/modify": {"stella", "dana"},
    "/ui/students/{Amara}/deactivate": {"stella", "dana"},
}
#: student → the users who see it
SEES = {
    "Amara": {"stella", "april", "audrey", "dana", "dora", "bea", "ivan"},  # 043802, building 012345
    "Amira": {"stella", "april", "audrey", "dana", "dora", "ivan"},  # 043802, building 012399
    "Oliver": {"stella", "april", "audrey", "otto", "ivan"},  # 044000 (ivan: bound to it)
}


async def test_each_role_opens_exactly_the_pages_its_permissions_grant(browser, world):
    for user in sorted(USERS):
        b = await browser(user)
        for page, allowed in PAGES.items():
            resp, text = await b.get(page.format(**world.ids))
            expected = 200 if user in allowed else 403
            assert resp.status == expected, (user, page, resp.status)
            if expected == 403:
                assert "This needs the permission" in text
        _, home = await b.get("/ui/")
        assert ('href="/ui/users"' in home) == (user in PAGES["/ui/users"]), user
        assert ('href="/ui/audit"' in home) == (user in PAGES["/ui/audit"]), user


async def test_each_user_sees_only_the_students_of_its_districts_and_buildings(browser, world):
    for user in sorted(USERS):
        b = await browser(user)
        for name, who in SEES.items():
            sid = world.ids[name]
            resp, page = await b.get(f"/ui/students/{sid}")
            if user in who:
                assert resp.status == 200 and f'id="student-id">{sid}<' in page, (user, name)
            else:
                assert resp.status == 404 and "No student with ID" in page, (user, name)
                assert name not in page
            resp, _ = await b.get("/ui/search", params={"id": sid})  # by ID: the same answer
            assert (resp.url.path == f"/ui/students/{sid}") == (user in who), (user, name)


async def test_a_name_search_shows_only_students_the_user_may_see(browser, world):
    form = {"LegalFirstName": "Oliver", "LegalLastName": "Lindqvist", "BirthDate": "2015-02-03"}
    otto, dora = await browser("otto"), await browser("dora")
    resp, page = await otto.post("/ui/search", form)
    assert resp.status == 200 and world.ids["Oliver"] in page and "<td>match</td>" in page
    resp, page = await dora.post("/ui/search", form)
    assert resp.status == 200 and world.ids["Oliver"] not in page and 'id="no-results"' in page
    resp, page = await dora.post("/ui/search", {"LegalFirstName": "Amara", "LegalLastName": ""})
    assert resp.status == 422 and "is needed to search by name" in page


async def test_a_user_cannot_change_a_student_outside_its_districts(browser, world):
    dana = await browser("dana")
    oliver = world.ids["Oliver"]
    resp, page = await dana.post(f"/ui/students/{oliver}/deactivate",
                                 {"surviving_id": world.ids["Amara"],
                                  "reason": "same student as the surviving ID: same name and birth date"})
    assert resp.status == 404
    resp, _ = await dana.post(f"/ui/students/{oliver}/modify", {"BirthPlaceCity": "Akron"})
    assert resp.status == 404
    s = await world.store.student(oliver)
    assert s.status == "active" and s.values["BirthPlaceCity"] == "Toledo"


async def test_binding_a_user_to_another_district_opens_its_students_and_unbinding_closes_them(browser, world):
    stella, otto = await browser("stella"), await browser("otto")
    amara = world.ids["Amara"]
    assert (await otto.get(f"/ui/students/{amara}"))[0].status == 404
    resp, page = await stella.post("/ui/users/otto/scopes", {"district_irn": "043802", "action": "add"})
    assert "otto now also serves district 043802." in page
    assert (await otto.get(f"/ui/students/{amara}"))[0].status == 200
    await stella.post("/ui/users/otto/scopes", {"district_irn": "043802", "action": "remove"})
    assert (await otto.get(f"/ui/students/{amara}"))[0].status == 404
    rows = await world.store.audit(change_type="USER", user_id="stella")
    assert [r.detail["action"] for r in rows] == ["scope-add", "scope-remove"]
    assert all(r.detail["user_id"] == "otto" for r in rows)
