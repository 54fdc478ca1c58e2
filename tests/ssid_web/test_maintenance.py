"""Maintenance through the web: modify, deactivate, reactivation request and approval, on SQLite and
PostgreSQL; every change audited with the acting user and district; the SSN shown as its last four."""

from __future__ import annotations

import pytest

from ssid.audit import Actor
from ssid.web.passwords import hasher, set_password
from tests.pg import BACKENDS

from .conftest import password

REASON = "same student as the surviving ID: same name, birth date and birth city"


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_deactivate_names_the_surviving_id_and_a_reason_and_shows_who_did_it(browser, world):
    amira, amara = world.ids["Amira"], world.ids["Amara"]
    dana = await browser("dana")
    resp, page = await dana.get(f"/ui/students/{amira}/deactivate")
    assert resp.status == 200 and 'name="surviving_id"' in page
    resp, page = await dana.post(f"/ui/students/{amira}/deactivate", {"surviving_id": amara, "reason": "duplicate"})
    assert resp.status == 409 and "the reason does not say why" in page
    resp, page = await dana.post(f"/ui/students/{amira}/deactivate", {"surviving_id": "", "reason": REASON})
    assert resp.status == 409 and "name the surviving ID" in page
    assert (await world.store.student(amira)).status == "active"
    resp, page = await dana.post(f"/ui/students/{amira}/deactivate", {"surviving_id": amara, "reason": REASON})
    assert resp.status == 200 and resp.url.path == f"/ui/students/{amira}"
    assert f"{amira} is deactivated; the surviving ID is {amara}." in page
    assert "by <strong>dana</strong> (district 043802)" in page and REASON in page
    assert f'id="active-id">{amara}<' in page
    [row] = await world.store.audit(amira, change_type="DEACTIVATE")
    assert (row.user_id, row.user_district, row.via_slf) == ("dana", "043802", False)
    assert row.detail == {"reason": REASON, "surviving_id": amara}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_modify_changes_attributes_through_the_catalogue_and_never_makes_a_duplicate(browser, world):
    amara, amira = world.ids["Amara"], world.ids["Amira"]
    dana = await browser("dana")
    resp, page = await dana.get(f"/ui/students/{amara}/modify")
    assert resp.status == 200 and 'value="Columbus"' in page
    form = {"LegalFirstName": "Amara", "LegalMiddleName": "Grace", "LegalLastName": "Okafor", "BirthDate": "2017-04-12",
            "Gender": "F", "BirthPlaceCity": "Dayton", "RaceEthnicity": "B", "NativeLanguage": "ENG",
            "AdmissionReason": "1"}
    resp, page = await dana.post(f"/ui/students/{amara}/modify", {**form, "Gender": "Q", "BirthDate": "2099-01-01"})
    assert resp.status == 422
    assert "is not an acceptable code" in page and "must be on or before" in page  # every problem at once
    resp, page = await dana.post(f"/ui/students/{amara}/modify", form)
    assert resp.status == 200 and "BirthPlaceCity changed." in page
    assert (await world.store.student(amara)).values["BirthPlaceCity"] == "Dayton"
    [row] = await world.store.audit(amara, change_type="MODIFY")
    assert (row.user_id, row.user_district) == ("dana", "043802")
    assert (row.old_values, row.new_values) == ({"BirthPlaceCity": "Columbus"}, {"BirthPlaceCity": "Dayton"})
    # making Amira identical to Amara is refused, naming Amara
    twin = {**form, "LegalFirstName": "Amara", "LegalMiddleName": "Grace"}
    resp, page = await dana.post(f"/ui/students/{amira}/modify", twin)
    assert resp.status == 409 and f"identical in name, birth date and gender to active student {amara}" in page
    resp, page = await dana.post(f"/ui/students/{amara}/modify", {**form, "BirthPlaceCity": "Dayton"})
    assert resp.status == 422 and "Nothing was changed" in page


async def test_the_ssn_is_shown_only_as_its_last_four_digits_and_a_blank_field_keeps_it(browser, world):
    amira = world.ids["Amira"]
    stella = await browser("stella")
    resp, page = await stella.get(f"/ui/students/{amira}")
    assert "*****6789" in page and "123456789" not in page and "123-45-6789" not in page
    resp, page = await stella.get(f"/ui/students/{amira}/modify")
    assert "*****6789" in page and "123456789" not in page
    s = await world.store.student(amira)
    form = {a: s.values.get(a, "") for a in ("LegalFirstName", "LegalMiddleName", "LegalLastName", "BirthDate",
                                             "Gender", "BirthPlaceCity", "RaceEthnicity", "NativeLanguage",
                                             "AdmissionReason")}
    resp, page = await stella.post(f"/ui/students/{amira}/modify", {**form, "LegalMiddleName": "Joy Ann", "SSN": ""})
    assert resp.status == 200 and "LegalMiddleName changed." in page
    assert (await world.store.student(amira)).values["SSN"] == "123456789"
    resp, page = await stella.post(f"/ui/students/{amira}/modify", {**form, "LegalMiddleName": "Joy Ann",
                                                                    "clear_SSN": "yes"})
    assert resp.status == 200 and "SSN changed." in page
    assert "SSN" not in (await world.store.student(amira)).values
    resp, page = await stella.get(f"/ui/students/{amira}")
    assert "123456789" not in page and "*****6789" in page  # the audit trail keeps only the last four


async def test_reactivation_is_requested_by_the_district_and_approved_by_the_state(browser, world):
    amira, amara = world.ids["Amira"], world.ids["Amara"]
    dana, april, dora = await browser("dana"), await browser("april"), await browser("dora")
    await dana.post(f"/ui/students/{amira}/deactivate", {"surviving_id": amara, "reason": REASON})
    resp, page = await dora.get(f"/ui/students/{amira}")
    assert 'id="request-reactivation"' not in page  # a district user may not ask
    resp, page = await dana.post(f"/ui/students/{amira}/reactivation", {"reason": "not the same child: twins, "
                                                                                  "different birth certificates"})
    assert "is waiting for the state's approval" in page
    [req] = await world.store.reactivations(amira, "pending")
    resp, page = await april.get("/ui/reactivations")
    assert f'id="request-{req.id}"' in page and "twins" in page
    resp, page = await april.post(f"/ui/reactivations/{req.id}", {"decision": "reject", "note": ""})
    assert "say why the reactivation is rejected" in page
    resp, page = await april.post(f"/ui/reactivations/{req.id}", {"decision": "approve", "note": "checked"})
    assert f"{amira} is active again" in page
    assert (await world.store.student(amira)).status == "active"
    [row] = await world.store.audit(amira, change_type="REACTIVATE")
    assert row.user_id == "april" and row.detail["requested_by"] == "dana"


async def test_the_approver_cannot_approve_a_request_it_made(browser, world):
    amira, amara = world.ids["Amira"], world.ids["Amara"]
    async with world.store.write() as conn:  # a state user holding both roles
        await world.store.add_user(conn, "sam", roles=["state_admin", "state_approver"], by=Actor("test"))
    async with world.store.write() as conn:
        await set_password(world.store, conn, "sam", password("sam"), Actor("test"), hasher(1, 8192))
    sam = await browser("sam")
    await sam.post(f"/ui/students/{amira}/deactivate", {"surviving_id": amara, "reason": REASON})
    await sam.post(f"/ui/students/{amira}/reactivation", {"reason": "deactivated by mistake, different children"})
    [req] = await world.store.reactivations(amira, "pending")
    resp, page = await sam.post(f"/ui/reactivations/{req.id}", {"decision": "approve"})
    assert "cannot also approve it" in page
    assert (await world.store.student(amira)).status == "deactivated"
