"""conf/resolver.example.toml loads; mistakes are reported for the person editing the file;
`slf resolver` migrate, list, ready and run against a temporary database."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sif_agent.config import ConfigError
from sif_agent.resolver.config import from_mapping, load
from sif_agent.resolver.tables import CORE_ATTRIBUTES
from slf.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "resolver.example.toml"


def test_the_example_config_loads():
    s = load(EXAMPLE)
    assert s.agent.source_id == "State-StudentResolver" and s.worker_id == "resolver-1"
    [zone] = s.agent.zones
    assert zone.objects.provide == ("StudentLocator",) and zone.objects.respond == ("StudentLocator",)
    assert s.database.startswith("sqlite+aiosqlite:///") and s.database.endswith("var/slf.db")
    assert (s.policy.on_complete, s.policy.batching.policy, s.policy.batching.ready) == ("delete", "request",
                                                                                         "immediate")
    assert s.policy.batching.timezone == "America/New_York" and s.listen and s.poll_interval == 30.0
    assert [c.name for c in s.extra_columns] == ["ADMISSION_REASON", "NATIVE_LANGUAGE", "BIRTHPLACE_CITY",
                                                 "IRN_CURRENT_DISTRICT", "EFFECTIVE_DATE"]
    eth = next(c for c in s.columns if c.name == "ETHNICITY_CODE")
    assert eth.codes == ("ohio_ethnicity",) and s.code_tables["ohio_ethnicity"].translate("1000") == "B"
    assert [c.name for c in s.columns[:len(CORE_ATTRIBUTES)]] == [c.name for c in CORE_ATTRIBUTES]


def base(**resolver):
    return {"agent": {"source_id": "R"},
            "zones": [{"id": "s", "url": "https://s.invalid/z", "provide": ["StudentLocator"]}],
            "resolver": resolver}


@pytest.mark.parametrize("resolver,message", [
    ({"on_complete": "archive"}, "on_complete must be \"delete\" or \"keep\""),
    ({"batching": {"policy": "hourly"}}, "policy must be one of request, batch_num, day"),
    ({"batching": {"ready": "later"}}, "ready must be \"immediate\" or \"deferred\""),
    ({"batching": {"ready_count": 5}}, "need ready = \"deferred\""),
    ({"batching": {"ready": "deferred", "ready_at": "25:00"}}, "ready_at must be a time of day"),
    ({"batching": {"timezone": "Mars/Olympus"}}, "not a known time zone"),
    ({"batching": {"batch_num_path": "Name["}}, "batch_num_path"),
    ({"poll_interval": 0}, "poll_interval must be a number > 0"),
    ({"columns": [{"name": "birthplace"}]}, "upper-case column name"),
    ({"columns": [{"name": "BIRTHPLACE_CITY"}]}, "path (the StudentLocator element it is read from) is required"),
    ({"columns": [{"name": "LOCAL_ID", "length": 40}]}, "the seed fixes the length of LOCAL_ID"),
    ({"columns": [{"name": "X_CODE", "path": "LocalId", "codes": ["nope"]}]}, "code table 'nope' is not defined"),
    ({"columns": [{"name": "X", "path": "LocalId", "length": 300}]}, "at most 255"),
    ({"columns": [{"name": "X", "path": "LocalId"}, {"name": "X", "path": "LocalId"}]}, "configured twice"),
    ({"columns": [{"name": "X", "path": "LocalId", "codes": ["d"]}],
      "codes": {"d": {"side": "district", "map": {"a": "b"}}}}, "district-side table"),
    ({"colour": "blue"}, "unknown setting(s) in [resolver]: colour"),
    ({"school_year_start_month": 13}, "1-12"),
])
def test_config_errors(resolver, message):
    with pytest.raises(ConfigError) as info:
        from_mapping(base(**resolver))
    assert message in str(info.value)


def test_a_zone_must_provide_studentlocator():
    data = base()
    data["zones"][0]["provide"] = []
    with pytest.raises(ConfigError, match="add provide"):
        from_mapping(data)


def test_deferred_batching_settings():
    s = from_mapping(base(batching={"policy": "day", "ready": "deferred", "ready_count": 25, "ready_after": 14400,
                                    "ready_at": "15:30"}, on_complete="keep"))
    b = s.policy.batching
    assert (b.policy, b.ready_count, b.ready_after, b.ready_at) == ("day", 25, 14400.0, dt.time(15, 30))
    assert s.policy.on_complete == "keep"


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text('[agent]\nsource_id = "R"\n[[zones]]\nid = "s"\nurl = "https://s.invalid/z"\n'
                   'provide = ["StudentLocator"]\n[resolver]\non_complete = "x"\n')
    with pytest.raises(ConfigError, match=r"r.toml: \[resolver\] on_complete"):
        load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "none.toml")


# ---------------------------------------------------------------------------- CLI
def cli(*args):
    return CliRunner().invoke(main, ["resolver", *args])


def test_cli_help_and_errors(tmp_path):
    out = cli("--help")
    assert out.exit_code == 0 and "SLF_TRANSACTION_PARMS" in out.output
    out = cli("run", "--help")
    assert out.exit_code == 0 and "SIGTERM" in out.output and "--config" in out.output
    bad = tmp_path / "r.toml"
    bad.write_text('[agent]\nsource_id = "R"\n')
    out = cli("run", "--config", str(bad))
    assert out.exit_code == 1 and "r.toml" in out.output
    assert cli("list").exit_code == 2


def test_cli_migrate_list_ready(tmp_path):
    from tests.resolver.conftest import locator, request
    from sif_agent.resolver import inbound
    from sif_agent.resolver.config import Batching, StorePolicy
    from sif_agent.resolver.store import ResolverStore
    from sif_agent.requests import RequestRef

    db = tmp_path / "slf.db"
    out = cli("migrate", "--db", str(db))
    assert out.exit_code == 0 and "1: SLF tables" in out.output
    assert "up to date" in cli("migrate", "--db", str(db)).output
    assert "no transactions" in cli("list", "--db", str(db)).output

    async def seed():
        store = ResolverStore.from_url(f"sqlite+aiosqlite:///{db}",
                                       policy=StorePolicy(batching=Batching(ready="deferred")))
        req = request(locator())
        await store.record("state", req.source_id, req.msg_id, inbound.read(req, CORE_ATTRIBUTES),
                           RequestRef.of("state", req, "2.1"))
        await store.close()

    asyncio.run(seed())
    out = cli("list", "--db", str(db), "--json")
    [row] = [json.loads(line) for line in out.output.splitlines()]
    assert row["status"] == "1=REQUEST" and row["ready"] == 0 and row["source"] == "ITC01-StudentLocator"
    assert "Okafor" not in out.output
    assert "1=REQUEST" in cli("list", "--db", str(db), "--status", "1").output
    assert "no transactions" in cli("list", "--db", str(db), "--status", "2").output
    out = cli("ready", "--db", str(db), str(row["batch"]))
    assert out.exit_code == 0 and "1 batch(es) set READY" in out.output
    assert json.loads(cli("list", "--db", str(db), "--json").output)["ready"] == 1
