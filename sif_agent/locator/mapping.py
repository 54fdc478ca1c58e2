"""Field mapping: where the Student Locator finds each StudentLocator value.

Seed ("Collection of Transaction Data"): any element or attribute of SchoolInfo,
StudentPersonal or StudentSchoolEnrollment, including SIF_ExtendedElements, can
feed a StudentLocator field; a mapping file says which. A mapping file
(``mappings/*.toml``) looks like::

    [mapping]
    name = "ohio"
    description = "..."

    [[field]]
    target = 'Name[@Type="04"]/FirstName'        # the SIF_Query condition path in StudentLocator
    object = "StudentPersonal"                   # StudentPersonal | StudentSchoolEnrollment | SchoolInfo
    path = 'Name[@Type="04"]/FirstName'          # SIF element path inside that object
    required = true                              # default false
    codes = ["grade_level"]                      # code tables, see sif_agent.codetables

    [[field]]                                    # several sources: the first non-empty wins
    target = 'RequestingAgencyId[@Type="LEA"]'
    sources = [
      { setting = "district_irn" },              # a per-district setting passed to collect()
      { object = "SchoolInfo", path = 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="DistrictIRN"]' },
    ]

    [codes.grade_level]
    side = "district"          # "district": applied by the locator; "state": by the resolver
    unknown = "error"          # or "pass"
    file = "codes/grade_level.csv"
    map = { "0K" = "KG" }

Paths are a small XPath subset, parsed here (never evaluated as code):
``Step ('/' Step)* ('/' '@' Attr)?`` or ``@Attr``, where a Step is an element
name with optional predicates ``[@Attr="v"]`` or ``[Child/Sub="v"]``. A path
selects the first matching node; its trimmed text (or attribute value) is the
value, and an empty value counts as absent. Malformed paths, unknown objects,
targets the StudentLocator cannot carry and undefined code tables are refused
when the file is loaded, with the file, the field's key and its line.

Pure: reads only the mapping files (tomllib, csv); no other I/O.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from messages import Condition
from messages.objects import SchoolInfo, StudentLocator, StudentPersonal, StudentSchoolEnrollment

from .. import codetables as codes_mod
from ..codetables import CodeTable, CodeTableError, UnknownCode
from ..sifpath import NAME as _NAME, PathError, SifPath, first, parse_path, put, select  # noqa: F401 - the mapping's path API
from .student import Schools, StudentRecord

OBJECTS: tuple[str, ...] = ("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo")
FIELD_KEYS = frozenset({"target", "object", "path", "setting", "sources", "required", "codes", "description"})
SOURCE_KEYS = frozenset({"object", "path", "setting"})
#: Set by the locator itself, never mapped: the transaction attributes and the state's answer.
RESERVED_TARGETS = ("@IdStatus", "@TransactionId", "StateProvinceId", "Confidence", "SIF_Error", "SIF_Metadata")

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file, key and line."""


# ==================================================================== mapping
@dataclass(frozen=True)
class Source:
    """One place a value can come from: an object's path, or a named setting."""

    object: str | None = None
    path: SifPath | None = None
    setting: str | None = None

    def __str__(self) -> str:
        return f"setting {self.setting!r}" if self.setting else f"{self.object}/{self.path}"


@dataclass(frozen=True)
class FieldMap:
    target: str
    target_path: SifPath
    sources: tuple[Source, ...]
    required: bool = False
    codes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Mapping:
    name: str
    fields: tuple[FieldMap, ...]
    tables: dict[str, CodeTable] = field(default_factory=dict)
    description: str = ""
    origin: str = "<string>"

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(f.target for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.target for f in self.fields if f.required)

    @property
    def settings(self) -> tuple[str, ...]:
        """Names of the per-district settings this mapping reads."""
        return tuple(dict.fromkeys(s.setting for f in self.fields for s in f.sources if s.setting))

    def tables_for(self, target: str) -> tuple[CodeTable, ...]:
        f = next((f for f in self.fields if f.target == target), None)
        return tuple(self.tables[n] for n in f.codes) if f else ()

    def tables_by_field(self) -> dict[str, tuple[CodeTable, ...]]:
        """Target path → its code tables, for :func:`codes.apply` (e.g. the state side)."""
        return {f.target: self.tables_for(f.target) for f in self.fields if f.codes}


def _line_of(text: str, *needles: str) -> int | None:
    for needle in needles:
        if not needle:
            continue
        for i, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                return i
    return None


def load(path: str | Path) -> Mapping:
    """Load a mapping file; relative code-table files resolve against its folder."""
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (MAPPINGS_DIR / p).exists():
        p = MAPPINGS_DIR / p
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise MappingError(f"{p}: cannot read mapping file: {e.strerror or e}") from None
    return loads(text, origin=str(p), base_dir=p.parent)


def load_named(name: str) -> Mapping:
    """A mapping shipped in ``mappings/``, e.g. ``load_named("ohio")``."""
    if not _NAME.fullmatch(name):
        raise MappingError(f"bad mapping name {name!r}")
    return load(MAPPINGS_DIR / f"{name}.toml")


def loads(text: str, *, origin: str = "<string>", base_dir: Path | None = None) -> Mapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MappingError(f"{origin}: not valid TOML: {e}") from None

    def fail(msg: str, *needles: str) -> MappingError:
        line = _line_of(text, *needles)
        return MappingError(f"{origin}{f', line {line}' if line else ''}: {msg}")

    extra = sorted(set(data) - {"mapping", "field", "codes"})
    if extra:
        raise fail(f"unknown section(s) {extra}; expected [mapping], [[field]], [codes.<name>]", *extra)
    head = data.get("mapping", {})
    if not isinstance(head, dict) or not isinstance(head.get("name"), str) or not head["name"]:
        raise fail("[mapping] needs name = \"...\"", "[mapping]")

    tables: dict[str, CodeTable] = {}
    code_specs = data.get("codes", {})
    if not isinstance(code_specs, dict):
        raise fail("'codes' must be tables [codes.<name>]", "codes")
    for tname, spec in code_specs.items():
        try:
            tables[tname] = codes_mod.table_from_spec(tname, spec, base_dir=base_dir, origin=origin)
        except CodeTableError as e:
            line = _line_of(text, f"[codes.{tname}]")
            raise MappingError(f"{e}{f' (line {line})' if line else ''}") from None

    raw_fields = data.get("field", [])
    if not isinstance(raw_fields, list) or not raw_fields:
        raise fail("at least one [[field]] is required", "[[field]]")
    fields: list[FieldMap] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_fields):
        fields.append(_field(i, raw, tables, seen, fail))
    return Mapping(name=head["name"], fields=tuple(fields), tables=tables,
                   description=str(head.get("description", "")), origin=origin)


def _field(i: int, raw: object, tables: dict[str, CodeTable], seen: set[str], fail) -> FieldMap:
    if not isinstance(raw, dict):
        raise fail(f"field[{i}] must be a table")
    target = raw.get("target")
    key = f"field[{i}]" + (f" (target {target!r})" if isinstance(target, str) else "")
    if not isinstance(target, str):
        raise fail(f"{key}: 'target' (a StudentLocator path) is required")
    unknown = sorted(set(raw) - FIELD_KEYS)
    if unknown:
        raise fail(f"{key}: unknown key(s) {unknown}; allowed: {sorted(FIELD_KEYS)}", *unknown, target)
    try:
        tpath = parse_path(target)
    except PathError as e:
        raise fail(f"{key}.target: {e}", target) from None
    if tpath.text in seen:
        raise fail(f"{key}: target mapped twice", target)
    seen.add(tpath.text)
    root_name = tpath.steps[0].name if tpath.steps else f"@{tpath.attr}"
    if root_name in RESERVED_TARGETS or tpath.text in RESERVED_TARGETS:
        raise fail(f"{key}: {root_name} is set by the locator or the state and cannot be mapped", target)
    if not _representable(tpath):
        raise fail(f"{key}: target is not an element or attribute the StudentLocator object carries", target)

    if "sources" in raw:
        if any(k in raw for k in SOURCE_KEYS):
            raise fail(f"{key}: give either 'sources' or object/path/setting, not both", target)
        raw_sources = raw["sources"]
        if not isinstance(raw_sources, list) or not raw_sources:
            raise fail(f"{key}.sources must be a non-empty list of inline tables", target)
    else:
        raw_sources = [{k: raw[k] for k in SOURCE_KEYS if k in raw}]
    sources = tuple(_source(f"{key}.sources[{j}]" if "sources" in raw else key, s, fail, target)
                    for j, s in enumerate(raw_sources))

    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise fail(f"{key}.required must be true or false", target)
    names = raw.get("codes", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail(f"{key}.codes must be a list of code table names", target)
    for n in names:
        if n not in tables:
            raise fail(f"{key}: code table {n!r} is not defined (add [codes.{n}])", target)
    return FieldMap(target=tpath.text, target_path=tpath, sources=sources, required=required,
                    codes=tuple(names), description=str(raw.get("description", "")))


def _source(key: str, raw: object, fail, target: str) -> Source:
    if not isinstance(raw, dict):
        raise fail(f"{key} must be a table", target)
    unknown = sorted(set(raw) - SOURCE_KEYS)
    if unknown:
        raise fail(f"{key}: unknown key(s) {unknown}", target)
    if "setting" in raw:
        if "object" in raw or "path" in raw:
            raise fail(f"{key}: a source is either a setting or an object path, not both", target)
        if not isinstance(raw["setting"], str) or not _NAME.fullmatch(raw["setting"]):
            raise fail(f"{key}.setting must be a name like \"district_irn\"", target)
        return Source(setting=raw["setting"])
    obj, path = raw.get("object"), raw.get("path")
    if obj not in OBJECTS:
        raise fail(f"{key}.object must be one of {list(OBJECTS)}, not {obj!r}", str(obj), target)
    if not isinstance(path, str):
        raise fail(f"{key}.path (a SIF element path inside {obj}) is required", target)
    try:
        parsed = parse_path(path)
    except PathError as e:
        raise fail(f"{key}.path: {e}", path, target) from None
    return Source(object=obj, path=parsed)


def _representable(path: SifPath) -> bool:
    """Does the typed StudentLocator keep a value written at this path? (load-time probe)"""
    if path.attr is not None and not path.steps:
        return False  # only @IdStatus/@TransactionId exist, and both are reserved
    probe = StudentLocator(id_status="Request", transaction_id="0" * 32).to_element()
    put(probe, path, "PROBE")
    try:
        again = StudentLocator.from_element(probe).to_element()
    except Exception:  # noqa: BLE001 - any failure means "not representable"
        return False
    return first(again, path) == "PROBE"


# ================================================================== collecting
@dataclass
class Collected:
    """The values one student's objects give for a mapping's StudentLocator fields.

    ``fields`` holds non-empty values, after district-side code translation, in
    mapping order; ``missing`` the required targets without a value; ``invalid``
    targets whose value a district table with ``unknown = "error"`` rejected.
    """

    mapping: Mapping
    fields: dict[str, str]
    missing: list[str]
    invalid: dict[str, str] = field(default_factory=dict)
    #: StudentSchoolEnrollment/EntryDate of the chosen enrollment (EffectiveDate if unmapped)
    entry_date: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing and not any(t in self.mapping.required for t in self.invalid)

    def to_studentlocator(self, transaction_id: str, id_status: str = "Request") -> StudentLocator:
        """The StudentLocator request object (StateProvinceId empty).

        EffectiveDate is the enrollment's EntryDate unless the mapping maps it (the
        spec: "For Requests, this should match StudentSchoolEnrollment/EntryDate").
        A Name lacking LastName or FirstName is left out: the schema requires both,
        and the gap is already in ``missing`` for the state to report.
        """
        root = StudentLocator(id_status=id_status, transaction_id=transaction_id).to_element()
        for f in self.mapping.fields:
            if f.target in self.fields:
                put(root, f.target_path, self.fields[f.target])
        loc = StudentLocator.from_element(root)
        names = tuple(n for n in loc.names if n.last_name and n.first_name)
        effective = loc.effective_date or self.entry_date
        return replace(loc, id_status=id_status, transaction_id=transaction_id, state_province_id="",
                       names=names, effective_date=effective)

    def conditions(self, transaction_id: str | None = None, id_status: str = "Request") -> list[Condition]:
        """The SIF_Query condition form of :meth:`to_studentlocator`, value for value.

        With a ``transaction_id``, ``@IdStatus`` and ``@TransactionId`` come first.
        Values are read back from the built object, so both forms always agree.
        """
        loc = self.to_studentlocator(transaction_id or "0" * 32, id_status).to_element()
        out: list[Condition] = []
        if transaction_id is not None:
            out += [Condition(element="@IdStatus", value=id_status),
                    Condition(element="@TransactionId", value=transaction_id)]
        paths = [f.target_path for f in self.mapping.fields]
        if "EffectiveDate" not in self.mapping.targets:
            paths.append(parse_path("EffectiveDate"))
        for p in paths:
            value = first(loc, p)
            if value is not None:
                out.append(Condition(element=p.text, value=value))
        return out


def _home_school(schools: Schools, enrollment: StudentSchoolEnrollment | None, school: SchoolInfo | None) -> SchoolInfo | None:
    if school is None and enrollment is not None:
        school = schools.get(enrollment.school_info_ref_id)
    return school


def collect(record: StudentRecord, schools: Schools, mapping: Mapping, *,
            enrollment: StudentSchoolEnrollment | None = None, school: SchoolInfo | None = None,
            settings: dict[str, str] | None = None) -> Collected:
    """Read every mapped field from the student's objects.

    ``enrollment`` is the enrollment the inclusion rules chose (Home school,
    active year); ``school`` defaults to its SchoolInfo from ``schools``.
    ``settings`` supplies ``setting = "..."`` sources (e.g. the district IRN from
    the locator's zone configuration).
    """
    school = _home_school(schools, enrollment, school)
    objects: dict[str, StudentPersonal | StudentSchoolEnrollment | SchoolInfo | None] = {
        "StudentPersonal": record.personal, "StudentSchoolEnrollment": enrollment, "SchoolInfo": school,
    }
    elements: dict[str, etree._Element | None] = {}

    def element(name: str) -> etree._Element | None:
        if name not in elements:
            obj = objects[name]
            elements[name] = obj.to_element() if obj is not None else None
        return elements[name]

    settings = settings or {}
    fields: dict[str, str] = {}
    missing: list[str] = []
    invalid: dict[str, str] = {}
    for f in mapping.fields:
        value = _first_value(f.sources, element, settings)
        if value is not None:
            try:
                value = codes_mod.translate("district", (mapping.tables[n] for n in f.codes), value)
            except UnknownCode as e:
                invalid[f.target] = str(e)
                value = None
        if value:
            fields[f.target] = value
        elif f.required and f.target not in invalid:
            missing.append(f.target)
    return Collected(mapping=mapping, fields=fields, missing=missing, invalid=invalid,
                     entry_date=enrollment.entry_date if enrollment is not None else None)


def _first_value(sources: Iterable[Source], element, settings: dict[str, str]) -> str | None:
    for s in sources:
        if s.setting is not None:
            value = (settings.get(s.setting) or "").strip() or None
        else:
            el = element(s.object)
            value = first(el, s.path) if el is not None else None
        if value:
            return value
    return None


def has_required_fields(record: StudentRecord, schools: Schools, mapping: Mapping, *,
                        enrollment: StudentSchoolEnrollment | None = None, school: SchoolInfo | None = None,
                        settings: dict[str, str] | None = None) -> bool:
    """Determination mode 3: does the record already give every required field (validly)?"""
    return collect(record, schools, mapping, enrollment=enrollment, school=school, settings=settings).complete
