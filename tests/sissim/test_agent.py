"""The simulator's StudentPersonal handler and results file, without a zone."""

from __future__ import annotations

from messages import Event, Header
from messages.objects import StudentPersonal
from sif_agent.sissim import SisSimulator, generate, read_results, sim_settings


def change(*objects: StudentPersonal, action: str = "Change") -> Event:
    return Event(header=Header.new("ITC01-StudentLocator"), version="2.1", object_name="StudentPersonal",
                 action=action, objects=objects)


async def test_handler_records_ids_by_refid_or_localid_and_ignores_the_rest(tmp_path):
    students = generate(3, seed=4)
    refs = iter(f"{i:032X}" for i in range(1, 100))
    times = iter(f"2026-11-26T02:00:0{i}+00:00" for i in range(10))
    received = []
    sim = SisSimulator(sim_settings("https://zone.invalid/zones/d", "SIS", outbox=tmp_path / "o.db"), students,
                       results_path=tmp_path / "r.csv", ids=lambda: next(refs), clock=lambda: next(times),
                       on_received=received.append)
    try:
        (r1, s1), (r2, s2), (r3, s3) = sim.refs
        assert [r.state_province_id for r in read_results(tmp_path / "r.csv")] == ["", "", ""]
        await sim._student_personal(change(StudentPersonal(ref_id=r1, state_province_id="OH1")), None)
        await sim._student_personal(change(StudentPersonal(ref_id="F" * 32, local_id=s2.local_id,
                                                           state_province_id="OH2")), None)  # by LocalId
        await sim._student_personal(change(StudentPersonal(ref_id="E" * 32, state_province_id="OH9")), None)
        await sim._student_personal(change(StudentPersonal(ref_id=r3, state_province_id="OH3"), action="Add"), None)
        await sim._student_personal(change(StudentPersonal(ref_id=r3, local_id=s3.local_id)), None)  # no ID
        await sim._student_personal(change(StudentPersonal(ref_id=r1, state_province_id="OH1")), None)  # again
        assert [r.local_id for r in received] == [s1.local_id, s2.local_id]
        assert sim.unknown == [("E" * 32, "OH9")]
        assert not sim.results.complete and [r.local_id for r in sim.results.missing()] == [s3.local_id]
        await sim._student_personal(change(StudentPersonal(ref_id=r3, state_province_id="OH3")), None)
        assert sim.results.complete and await sim.wait_for_ids(0.01)
        rows = read_results(tmp_path / "r.csv")
        assert [(r.student_ref_id, r.state_province_id, r.received_at) for r in rows] == [
            (r1, "OH1", "2026-11-26T02:00:00+00:00"), (r2, "OH2", "2026-11-26T02:00:01+00:00"),
            (r3, "OH3", "2026-11-26T02:00:02+00:00")]
        assert (rows[0].first_name, rows[0].last_name, rows[0].birth_date) == (s1.first_name, s1.last_name,
                                                                               s1.birth_date)
    finally:
        await sim.agent.close()
