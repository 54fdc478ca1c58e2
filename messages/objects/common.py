"""Common SIF 2.x types used by the four objects the SLF reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import F, Typed


@dataclass(frozen=True, kw_only=True)
class OtherCode(Typed):
    """OtherCodeList/OtherCode: a code from another code set (@Codeset StateProvince|Local|Other|Text)."""

    codeset: str
    value: str

    TAG: ClassVar[str] = "OtherCode"
    FIELDS: ClassVar = (F("codeset", "Codeset", "attr"), F("value", "", "content"))


@dataclass(frozen=True, kw_only=True)
class Code(Typed):
    """The Code + OtherCodeList? pattern (GradeLevel, Race, Relationship, ...)."""

    code: str
    other_codes: tuple[OtherCode, ...] = ()

    TAG: ClassVar[str] = "Code"
    FIELDS: ClassVar = (
        F("code", "Code"),
        F("other_codes", "OtherCodeList", "wrapped", OtherCode, "OtherCode"),
    )

    def other_code(self, codeset: str) -> str | None:
        return next((o.value for o in self.other_codes if o.codeset == codeset), None)


GradeLevel = Code  # GradeLevel: Code (PK KG 01..12 PG UN Other Unknown) + OtherCodeList


@dataclass(frozen=True, kw_only=True)
class Name(Typed):
    """NameType: @Type (04 = name of record, 05 = also known as, ...) and the name parts."""

    type: str = "04"
    prefix: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    preferred_name: str | None = None
    sort_name: str | None = None
    full_name: str | None = None

    TAG: ClassVar[str] = "Name"
    FIELDS: ClassVar = (
        F("type", "Type", "attr"),
        F("prefix", "Prefix"),
        F("last_name", "LastName"),
        F("first_name", "FirstName"),
        F("middle_name", "MiddleName"),
        F("suffix", "Suffix"),
        F("preferred_name", "PreferredName"),
        F("sort_name", "SortName"),
        F("full_name", "FullName"),
    )


@dataclass(frozen=True, kw_only=True)
class Street(Typed):
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    complex: str | None = None
    street_number: str | None = None
    street_prefix: str | None = None
    street_name: str | None = None
    street_type: str | None = None
    street_suffix: str | None = None
    apartment_type: str | None = None
    apartment_number_prefix: str | None = None
    apartment_number: str | None = None
    apartment_number_suffix: str | None = None

    TAG: ClassVar[str] = "Street"
    FIELDS: ClassVar = tuple(
        F(a, x) for a, x in (
            ("line1", "Line1"), ("line2", "Line2"), ("line3", "Line3"), ("complex", "Complex"),
            ("street_number", "StreetNumber"), ("street_prefix", "StreetPrefix"),
            ("street_name", "StreetName"), ("street_type", "StreetType"),
            ("street_suffix", "StreetSuffix"), ("apartment_type", "ApartmentType"),
            ("apartment_number_prefix", "ApartmentNumberPrefix"),
            ("apartment_number", "ApartmentNumber"),
            ("apartment_number_suffix", "ApartmentNumberSuffix"),
        )
    )


@dataclass(frozen=True, kw_only=True)
class GridLocation(Typed):
    latitude: str
    longitude: str

    TAG: ClassVar[str] = "GridLocation"
    FIELDS: ClassVar = (F("latitude", "Latitude"), F("longitude", "Longitude"))


@dataclass(frozen=True, kw_only=True)
class Address(Typed):
    """AddressType: @Type (NCES 0025 code) and the postal parts."""

    type: str
    street: Street | None = None
    city: str | None = None
    county: str | None = None
    state_province: str | None = None
    country: str | None = None
    postal_code: str | None = None
    grid_location: GridLocation | None = None

    TAG: ClassVar[str] = "Address"
    FIELDS: ClassVar = (
        F("type", "Type", "attr"),
        F("street", "Street", "obj", Street),
        F("city", "City"),
        F("county", "County"),
        F("state_province", "StateProvince"),
        F("country", "Country"),
        F("postal_code", "PostalCode"),
        F("grid_location", "GridLocation", "obj", GridLocation),
    )


@dataclass(frozen=True, kw_only=True)
class Race(Typed):
    code: str
    other_codes: tuple[OtherCode, ...] = ()
    proportion: str | None = None

    TAG: ClassVar[str] = "Race"
    FIELDS: ClassVar = (
        F("code", "Code"),
        F("other_codes", "OtherCodeList", "wrapped", OtherCode, "OtherCode"),
        F("proportion", "Proportion"),
    )


@dataclass(frozen=True, kw_only=True)
class Language(Typed):
    code: str
    other_codes: tuple[OtherCode, ...] = ()
    language_type: str | None = None
    dialect: str | None = None

    TAG: ClassVar[str] = "Language"
    FIELDS: ClassVar = (
        F("code", "Code"),
        F("other_codes", "OtherCodeList", "wrapped", OtherCode, "OtherCode"),
        F("language_type", "LanguageType"),
        F("dialect", "Dialect"),
    )


@dataclass(frozen=True, kw_only=True)
class Demographics(Typed):
    """DemographicsType: the student attributes the state matches on."""

    races: tuple[Race, ...] = ()
    hispanic_latino: str | None = None  # Yes | No
    gender: str | None = None  # M | F | U
    birth_date: str | None = None  # xs:date, YYYY-MM-DD
    birth_date_verification: str | None = None
    place_of_birth: str | None = None
    county_of_birth: str | None = None
    state_of_birth: str | None = None
    country_of_birth: str | None = None
    countries_of_citizenship: tuple[str, ...] = ()
    countries_of_residency: tuple[str, ...] = ()
    country_arrival_date: str | None = None
    citizenship_status: str | None = None
    english_proficiency: Code | None = None
    languages: tuple[Language, ...] = ()
    dwelling_arrangement: Code | None = None
    marital_status: str | None = None

    TAG: ClassVar[str] = "Demographics"
    FIELDS: ClassVar = (
        F("races", "RaceList", "wrapped", Race, "Race"),
        F("hispanic_latino", "HispanicLatino"),
        F("gender", "Gender"),
        F("birth_date", "BirthDate"),
        F("birth_date_verification", "BirthDateVerification"),
        F("place_of_birth", "PlaceOfBirth"),
        F("county_of_birth", "CountyOfBirth"),
        F("state_of_birth", "StateOfBirth"),
        F("country_of_birth", "CountryOfBirth"),
        F("countries_of_citizenship", "CountriesOfCitizenship", "wrapped", None, "CountryOfCitizenship"),
        F("countries_of_residency", "CountriesOfResidency", "wrapped", None, "CountryOfResidency"),
        F("country_arrival_date", "CountryArrivalDate"),
        F("citizenship_status", "CitizenshipStatus"),
        F("english_proficiency", "EnglishProficiency", "obj", Code),
        F("languages", "LanguageList", "wrapped", Language, "Language"),
        F("dwelling_arrangement", "DwellingArrangement", "obj", Code),
        F("marital_status", "MaritalStatus"),
    )


@dataclass(frozen=True, kw_only=True)
class OtherId(Typed):
    """OtherIdType: an identifier from another system, @Type an NCES 0147 code."""

    type: str
    value: str

    TAG: ClassVar[str] = "OtherId"
    FIELDS: ClassVar = (F("type", "Type", "attr"), F("value", "", "content"))


@dataclass(frozen=True, kw_only=True)
class RequestingAgencyId(Typed):
    """StudentLocator/RequestingAgencyId: the ESA, LEA or School asking (@Type)."""

    type: str  # ESA | LEA | School
    value: str

    TAG: ClassVar[str] = "RequestingAgencyId"
    FIELDS: ClassVar = (F("type", "Type", "attr"), F("value", "", "content"))


@dataclass(frozen=True, kw_only=True)
class ExtendedElement(Typed):
    """SIF_ExtendedElement: a named local extension (text content only here)."""

    name: str
    value: str
    action: str | None = None  # SIF_Action="Delete"

    TAG: ClassVar[str] = "SIF_ExtendedElement"
    FIELDS: ClassVar = (
        F("name", "Name", "attr"),
        F("action", "SIF_Action", "attr"),
        F("value", "", "content"),
    )


EXTENDED_ELEMENTS = F("extended_elements", "SIF_ExtendedElements", "wrapped", ExtendedElement, "SIF_ExtendedElement")


def extended(elements: tuple[ExtendedElement, ...], name: str) -> str | None:
    """Value of a named extended element, or None."""
    return next((e.value for e in elements if e.name == name), None)
