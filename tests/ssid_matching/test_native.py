"""The matcher compiled with mypyc (setup.py) decides exactly as the same modules run as Python.

``ssid.matching.native`` chooses the build; these tests hold it to its word: the same lookups,
decided in a process running each build, give the same JSON explanations, byte for byte.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.machinery
import json
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from ssid.matching import (DEFAULT_PARAMETERS, InMemoryIndex, Matcher, StudentRecord, TermFrequencies, Thresholds,
                           native)
from ssid.matching.romanized import BUILT_IN

ROOT = Path(__file__).resolve().parents[2]

#: decides a generated mix of lookups (every kind of keying error, twins, new students) and
#: prints the build that ran, then each decision's explanation as JSON
_SCRIPT = """
import json, sys
from ssid.matching import Matcher, Thresholds, DEFAULT_PARAMETERS, native
from ssid.population import generate_population, generate_queries
pop = generate_population(4000, seed=7)
index, freqs = pop.indexed()
matcher = Matcher(DEFAULT_PARAMETERS, Thresholds(), index, freqs)
print(json.dumps([*native.STATE, *(sys.modules[f"ssid.matching.{n}"].__file__ for n in native.COMPILED)]))
for q in generate_queries(pop, 600, seed=8):
    print(matcher.match(q.record).to_json())
"""


def _decide(pure: bool) -> tuple[list[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if k != native.ENV}
    if pure:
        env[native.ENV] = "1"
    run = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    return json.loads(lines[0]), lines[1:]


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


def test_the_compiled_matcher_decides_every_lookup_as_python_does():
    if native.decide_build()[0] != "compiled":
        pytest.skip(f"the matcher is not compiled here: {native.decide_build()[1]}")
    (built, compiled), (plain, python) = _decide(pure=False), _decide(pure=True)
    assert built[0] == "compiled" and plain[0] == "python", (built, plain)
    assert all(not f.endswith(".py") for f in built[2:]) and all(f.endswith(".py") for f in plain[2:])
    assert len(compiled) == len(python) == 600
    outcomes = {json.loads(line)["outcome"] for line in python}
    assert outcomes == {"MATCH", "POTENTIAL", "NO_MATCH"}  # every outcome is compared, not one
    different = [i for i, (a, b) in enumerate(zip(compiled, python)) if a != b]
    assert not different, f"{len(different)} lookups decided otherwise, the first: {compiled[different[0]]}"


def test_the_matcher_is_compiled_where_the_project_was_installed_with_a_c_compiler():
    if _compiler() is None:
        pytest.skip("no C compiler on this machine: the matcher runs as Python")
    state = native.decide_build()
    assert state[0] == "compiled" or native.ENV in state[1], state[1]


@pytest.fixture
def build(tmp_path):
    """A package directory with every module's source, its compiled build and the manifest of
    the sources it was compiled from (as ``setup.py`` writes it)."""
    for name in native.COMPILED:
        (tmp_path / f"{name}.py").write_text(f"# {name}\n")
        (tmp_path / f"{name}{_suffix()}").write_bytes(b"")
    (tmp_path / native.MANIFEST).write_text(json.dumps({"sources": native.source_digests(tmp_path)}))
    return tmp_path


def _suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def test_a_current_build_runs_compiled(build):
    assert native.decide_build(build, {}) == ("compiled", "compiled with mypyc")


def test_no_build_runs_as_python(tmp_path):
    (tmp_path / "engine.py").write_text("")
    kind, why = native.decide_build(tmp_path, {})
    assert kind == "python" and "not compiled" in why


def test_a_source_edited_after_its_build_runs_every_module_as_python_and_says_how_to_rebuild(build):
    (build / "compare.py").write_text("# compare, edited\n")
    kind, why = native.decide_build(build, {})
    assert kind == "python" and "compare.py changed after it was compiled" in why and "make venv" in why


def test_file_times_do_not_matter_only_the_sources_do(build):
    """An unpacked wheel or a fresh checkout may leave a source newer than its build."""
    later = time.time() + 60
    for name in native.COMPILED:
        os.utime(build / f"{name}.py", (later, later))
    assert native.decide_build(build, {})[0] == "compiled"


@pytest.mark.parametrize("manifest", [None, "not json", '{"other": 1}'])
def test_a_build_without_its_manifest_runs_as_python(build, manifest):
    if manifest is None:
        (build / native.MANIFEST).unlink()
    else:
        (build / native.MANIFEST).write_text(manifest)
    kind, why = native.decide_build(build, {})
    assert kind == "python" and native.MANIFEST in why


def test_a_partial_build_runs_as_python(build):
    (build / f"weights{_suffix()}").unlink()
    kind, why = native.decide_build(build, {})
    assert kind == "python" and "weights not" in why


@pytest.mark.parametrize("value, kind", [("1", "python"), ("yes", "python"), ("0", "compiled"), ("", "compiled")])
def test_the_environment_variable_asks_for_python(build, value, kind):
    assert native.decide_build(build, {native.ENV: value})[0] == kind


def test_a_matcher_and_its_decisions_survive_pickling():
    """The batch planners receive the matcher pickled; a compiled frozen dataclass refuses the
    default way of unpickling (field by field), so each is rebuilt by its constructor."""
    index = InMemoryIndex()
    index.add("OH0000001", StudentRecord("Daniil", "Petrov", birth_date="2013-04-05", gender="M"))
    freqs = TermFrequencies({"first_name": {"DANIIL": 1}, "last_name": {"PETROV": 1}},
                            {"first_name": 1, "last_name": 1})
    matcher = Matcher(DEFAULT_PARAMETERS, Thresholds(match=20.0), None, freqs,
                      romanizations=BUILT_IN.extended(["ZHENYA ZHENIA"]))
    copy = pickle.loads(pickle.dumps(matcher))
    assert (copy.params, copy.thresholds, copy.frequencies, copy.romanizations, copy.blocking) == \
        (matcher.params, matcher.thresholds, matcher.frequencies, matcher.romanizations, matcher.blocking)
    assert copy._alike("ZHENYA", "ZHENIA") and copy._alike("DANIIL", "DANIEL")
    matcher.source = copy.source = index
    query = StudentRecord("Daniel", "Petrov", birth_date="2013-04-05", gender="M")
    decision = matcher.match(query)
    assert copy.match(query).to_json() == decision.to_json()
    assert pickle.loads(pickle.dumps(decision)).to_json() == decision.to_json()


def _written_out_inits() -> list[tuple[str, ast.ClassDef]]:
    out = []
    for name in native.COMPILED:
        tree = ast.parse((ROOT / "ssid" / "matching" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in node.decorator_list)
                    and any(isinstance(b, ast.FunctionDef) and b.name == "__init__" for b in node.body)):
                out.append((f"{name}.{node.name}", node))
    return out


def test_every_written_out_init_takes_and_sets_its_dataclass_fields_in_order_with_their_defaults():
    """A hand-written ``__init__`` (``native``: hot constructors) replaces the generated one, so
    a field added to the class but not to it would be left unset, or set with another default."""
    classes = _written_out_inits()
    assert {"standardize.Standardized", "blocking.CandidateRow", "decide.ScoredCandidate",
            "weights.FieldScore"} <= {name for name, _ in classes}
    for name, cls in classes:
        declared = [(b.target.id, ast.unparse(b.value) if b.value is not None else None)
                    for b in cls.body if isinstance(b, ast.AnnAssign) and isinstance(b.target, ast.Name)]
        declared = [(f, None if d is not None and d.startswith("field(") and "default" not in d else d)
                    for f, d in declared]
        init = next(b for b in cls.body if isinstance(b, ast.FunctionDef) and b.name == "__init__")
        args = [a.arg for a in init.args.args[1:]]
        defaults = [None] * (len(args) - len(init.args.defaults)) + [ast.unparse(d) for d in init.args.defaults]
        assert list(zip(args, defaults)) == declared, name
        sets = [ast.unparse(s.value) for s in init.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]
        assert sets == [f"object.__setattr__(self, {f!r}, {f})" for f, _ in declared], name


def test_written_out_inits_build_equal_frozen_objects():
    std = Matcher().standardize(StudentRecord(first_name="Ana", last_name="Díaz", birth_date="2011-02-03"))
    again = type(std)(**{f.name: getattr(std, f.name) for f in dataclasses.fields(std)})
    assert again == std and hash(again) == hash(std) and again.raw == std.raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        again.first = "X"  # type: ignore[misc]
