"""Inclusion Rules for Students: rules #1-#3 of the seed, with their explanations."""

from __future__ import annotations

import itertools

import pytest

from messages.objects import SchoolInfo, StudentPersonal, StudentSchoolEnrollment
from sif_agent.locator.inclusion import (
    Exclusion, Inclusion, evaluate, exclude_when_state_id_present, home_enrollments,
    in_school_year, most_recent,
)
from sif_agent.locator.student import StudentRecord

YEAR = "2027"  # 2026-27
SCHOOLS = {
    "S-HIGH": SchoolInfo(ref_id="S-HIGH", local_id="012345"),
    "S-MID": SchoolInfo(ref_id="S-MID", local_id="054321"),
    "S-NAMED": SchoolInfo(ref_id="S-NAMED", school_name="Lincoln Elementary"),
}
OHIO = r"^[A-Z]{2}[0-9]{7}$"


def sse(ref, school="S-HIGH", membership="Home", year=YEAR, entry=None, exit=None, frame="Current"):
    return StudentSchoolEnrollment(
        ref_id=ref, student_personal_ref_id="SP1", school_info_ref_id=school,
        membership_type=membership, time_frame=frame, school_year=year, entry_date=entry,
        exit_date=exit)


def student(*enrollments, state_id=None, personal=True):
    return StudentRecord(
        zone_id="district-1", student_ref="SP1",
        personal=StudentPersonal(ref_id="SP1", state_province_id=state_id) if personal else None,
        enrollments={e.ref_id: e for e in enrollments})


def check(record, **kw) -> Inclusion:
    return evaluate(record, SCHOOLS, active_school_year=YEAR, **kw)


# --------------------------------------------------------------------------- rule #1


def test_rule_1_only_home_school_enrollments_count():
    result = check(student(sse("E1", membership="Concurrent"), sse("E2", school="S-MID", membership="Summer")))
    assert not result and result.enrollment is None
    assert result.reasons == (
        "excluded (rule 1): no Home enrollment, only concurrent/summer ones "
        "(found Concurrent 2027 at 012345, Summer 2027 at 054321)",)


def test_rule_1_a_concurrently_enrolled_student_gets_one_transaction_for_the_home_school():
    result = check(student(sse("E1", membership="Concurrent", entry="2026-09-01"),
                           sse("E2", school="S-MID", entry="2026-08-20")))
    assert result.included and result.enrollment.ref_id == "E2"
    assert result.school is SCHOOLS["S-MID"]
    assert result.reasons[0] == "included: Home enrollment in school year 2027 at 054321 (entered 2026-08-20)"


def test_home_enrollments_filters_exactly_home():
    es = [sse("a"), sse("b", membership="Concurrent"), sse("c", membership="home")]
    assert [e.ref_id for e in home_enrollments(es)] == ["a"]


# --------------------------------------------------------------------------- rule #2


def test_rule_2_only_students_enrolled_in_the_active_school_year():
    result = check(student(sse("E1", year="2026"), sse("E2", membership="Concurrent")))
    assert not result
    assert result.reasons == ("excluded (rule 2): no Home enrollment in school year 2027 "
                              "(found Home 2026 at 012345, Concurrent 2027 at 012345)",)


@pytest.mark.parametrize("exit,frame", [("2027-01-15", "Current"), ("2026-10-01", "Historical"), (None, "Future")])
def test_rule_2_regardless_of_whether_that_student_is_active_or_not(exit, frame):
    result = check(student(sse("E1", entry="2026-08-20", exit=exit, frame=frame)))
    assert result.included
    if exit:
        assert f"exited on {exit}; included regardless (rule 2)" in result.explanation


def test_the_active_school_year_is_the_configured_gyear():
    record = student(sse("E1", year="2026"))
    assert not check(record)
    assert evaluate(record, SCHOOLS, active_school_year="2026").included
    assert evaluate(record, SCHOOLS, active_school_year=2026).included
    assert [e.ref_id for e in in_school_year([sse("x", year=" 2027 ")], "2027")] == ["x"]


@pytest.mark.parametrize("year", ["2026-27", "26", "", "year"])
def test_an_active_school_year_that_is_not_a_gyear_is_a_configuration_error(year):
    with pytest.raises(ValueError, match="xs:gYear"):
        evaluate(student(sse("E1")), SCHOOLS, active_school_year=year)


RECENT = [
    # enrollments (ref, school, entry, exit), chosen ref, why
    ([("A", "S-HIGH", "2026-08-20", None), ("B", "S-MID", "2027-01-10", None)], "B", "later entry date"),
    ([("A", "S-HIGH", "2026-08-20", "2027-01-09"), ("B", "S-MID", "2027-01-10", None)], "B", "transfer"),
    ([("A", "S-HIGH", None, None), ("B", "S-MID", "2026-08-20", None)], "B", "missing entry date counts earliest"),
    ([("A", "S-HIGH", "2026-08-20", None), ("B", "S-MID", "2026-08-20", "2026-09-01")], "A", "tie: open beats exited"),
    ([("A", "S-HIGH", "2026-08-20", "2026-12-01"), ("B", "S-MID", "2026-08-20", "2026-09-01")], "A", "tie: later exit"),
    ([("A", "S-HIGH", "2026-08-20", None), ("B", "S-MID", "2026-08-20", None)], "B", "full tie: greatest RefId"),
    ([("A", "S-HIGH", None, None), ("B", "S-MID", None, None), ("C", "S-NAMED", None, None)], "C", "no dates"),
]


@pytest.mark.parametrize("rows,chosen,why", RECENT, ids=[r[2] for r in RECENT])
def test_rule_2_with_several_home_schools_the_most_recent_is_passed_on(rows, chosen, why):
    for order in itertools.permutations(rows):  # whatever order the enrollments arrived in
        result = check(student(*(sse(r, school=s, entry=en, exit=ex) for r, s, en, ex in order)))
        assert result.included and result.enrollment.ref_id == chosen, (why, order)
        assert result.school is SCHOOLS[result.enrollment.school_info_ref_id]
        assert f"the most recent of {len(rows)} Home enrollments in 2027 was chosen" in result.explanation


def test_most_recent_uses_school_year_after_entry_date_and_needs_a_candidate():
    assert most_recent([sse("A", year="2027"), sse("B", year="2026")]).ref_id == "A"
    with pytest.raises(ValueError):
        most_recent([])


def test_other_years_and_memberships_never_compete_for_most_recent():
    result = check(student(sse("A", entry="2026-08-20"),
                           sse("B", school="S-MID", year="2028", entry="2027-08-20"),
                           sse("C", school="S-MID", membership="Concurrent", entry="2027-01-01")))
    assert result.enrollment.ref_id == "A"
    assert "most recent" not in result.explanation


def test_a_school_not_received_yet_is_a_data_gap_not_an_exclusion():
    result = check(student(sse("E1", school="S-UNKNOWN")))
    assert result.included and result.school is None
    assert "SchoolInfo S-UNKNOWN not received yet" in result.reasons


def test_a_student_without_enrollments_is_excluded_and_says_so():
    result = check(student())
    assert not result
    assert result.reasons == ("excluded: no StudentSchoolEnrollment received for this student",)


def test_schools_are_named_by_local_id_then_state_id_then_name_then_refid():
    result = check(student(sse("E1", school="S-NAMED", year="2026"), sse("E2", school="S-GONE", year="2026")))
    assert "Home 2026 at Lincoln Elementary, Home 2026 at S-GONE" in result.explanation


# --------------------------------------------------------------------------- rule #3


def test_rule_3_the_adapter_may_exclude_a_student_that_already_has_a_valid_state_id():
    result = check(student(sse("E1"), state_id="OH1234567"), hooks=[exclude_when_state_id_present(OHIO)])
    assert not result.included
    assert result.enrollment.ref_id == "E1" and result.school is SCHOOLS["S-HIGH"]
    assert result.reasons == (
        "excluded by adapter rule (rule 3): the student already has a valid state ID "
        f"(StateProvinceId matches {OHIO})",)


@pytest.mark.parametrize("state_id,personal", [
    (None, True), ("", True), ("TEMP-42", True), ("oh1234567", True), ("OH12345678", True), (None, False),
])
def test_rule_3_hook_keeps_students_without_a_valid_state_id(state_id, personal):
    hook = exclude_when_state_id_present(OHIO)
    assert check(student(sse("E1"), state_id=state_id, personal=personal), hooks=[hook]).included


def test_the_state_id_pattern_must_match_the_whole_value():
    hook = exclude_when_state_id_present(r"[A-Z]{2}[0-9]{7}")
    assert check(student(sse("E1"), state_id="XOH1234567"), hooks=[hook]).included
    assert not check(student(sse("E1"), state_id=" OH1234567 "), hooks=[hook]).included


def test_hooks_run_in_order_and_the_first_exclusion_wins():
    calls = []

    def first(record, enrollment):
        calls.append("first")
        return Exclusion("district says no")

    def second(record, enrollment):
        calls.append("second")
        return None

    result = check(student(sse("E1")), hooks=[first, second])
    assert calls == ["first"] and result.reasons == ("excluded by adapter rule (rule 3): district says no",)


def test_hooks_see_the_chosen_home_enrollment_and_are_not_asked_when_rules_1_2_exclude():
    seen = []
    hook = lambda record, enrollment: seen.append(enrollment.ref_id)  # noqa: E731
    check(student(sse("A", entry="2026-08-20"), sse("B", entry="2026-09-20")), hooks=[hook])
    check(student(sse("C", membership="Concurrent")), hooks=[hook])
    assert seen == ["B"]
