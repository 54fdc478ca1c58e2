"""First names written in Latin letters several ways: one child's name, keyed by different clerks.

A name from Arabic, Somali, Russian or Ukrainian has no single English spelling: the same
girl is MARYAM at one school and MARIAM at the next, the same boy DANIIL and DANIEL. Both
spellings are names other children carry, so without this table the twin rule
(``decide._same_first_name``) must treat them as possibly two children (JAYDEN and JAYLEN may
be twins; parents do not name twins DANIIL and DANIEL).

Why a table apart from the nickname table: the nickname table's canonical names are stored
with every record and make its blocking keys, so a line added there changes stored data. This
one is read only when two names are compared (the first-name level, the twin rule): a line
added takes effect when the processes next start, with nothing stored to re-index. A state adds
its own lines (names of its communities) in ``[matching] romanized`` of the SSID configuration. Blocking needs
nothing from it: where two spellings keep one phonetic code (MARYAM/MARYAN) the birth date +
first name key finds the child, and where they do not (YASMIN/JASMINE, DMITRY/DMYTRO) the birth
date + last name key does.

Written for this project as data, one name per line, its spellings separated by spaces
(upper case ASCII, as ``Standardized.first_key`` holds them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .standardize import fold

_TABLE = """
ABDI ABDY
ABDIRAHMAN ABDURAHMAN ABDULRAHMAN ABDIRAHMAAN ABDURRAHMAN
ABDULLAHI ABDULAHI ABDILAHI ABDULLAAHI
AMINA AMEENA AMINAH
ANASTASIA ANASTASIYA ANASTASIIA
ANDREI ANDREY ANDRIY ANDRII
ARTEM ARTYOM ARTIOM
DANIIL DANIEL
DARIA DARYA DARIIA
DMITRY DMITRI DMITRIY DMYTRO
EVGENY YEVGENY EVGENIY YEVGENIY YEVHEN
FARAH FARRAH
FATIMA FATEMA FATIMAH FATMA FATUMA
FEDOR FYODOR FEDIR
HALIMA HALIMAH
HAMID HAMEED
HAMZA HAMZAH
HASSAN HASAN
HUSSEIN HUSSAIN HUSAIN HOSSEIN HUSEIN
IBRAHIM EBRAHIM IBRAHEEM
IGOR IHOR
ILYA ILIA ILJA
IRINA IRYNA
ISMAIL ISMAEL ISMAAIL
KATERYNA YEKATERINA EKATERINA
KHADIJA KHADIJAH KHADEEJA
KHALID KHALED
KIRILL KYRYLO KIRIL
KSENIA KSENIYA XENIA
LAYLA LEILA LAILA LEYLA
MAHMOUD MAHMUD MAHMOOD
MAKSIM MAXIM MAKSYM
MARIA MARIYA MARIIA
MARYAM MARIAM MARYAN MERYEM
MIKHAIL MYKHAILO MICHAIL
MUSTAFA MOSTAFA MUSTAPHA MOUSTAFA
NATALIA NATALYA NATALIYA
NIKOLAI NIKOLAY MYKOLA
OLEG OLEH
OLEKSANDR OLEXANDR ALEKSANDR ALEXANDR ALEXANDER ALIAKSANDR
OLEKSANDRA ALEKSANDRA ALEXANDRA
OLEKSII OLEKSIY ALEKSEI ALEKSEY ALEXEI ALEXEY
OLENA YELENA ELENA
OLGA OLHA
OMAR UMAR
OSMAN USMAN OTHMAN UTHMAN
PAVEL PAVLO
RASHID RASHEED
SAMIRA SAMEERA
SERGEI SERGEY SERHIY SERGIY
SOFIA SOFIYA SOFIIA
SUMAYA SUMAYYA SUMAYAH SUMAIYA
SVETLANA SVITLANA
TATIANA TATYANA TETIANA TETYANA
TIMOFEI TIMOFEY TYMOFII
VIKTORIA VICTORIA VIKTORIYA
VLADIMIR VOLODYMYR
YAROSLAV IAROSLAV
YASMIN YASMINE YASMEEN JASMIN JASMINE
YULIA YULIYA IULIIA JULIA
YURI YURIY IURII YURY
YUSUF YOUSEF YOUSSEF YOUSUF YUSEF
ZAINAB ZEINAB ZAYNAB
""".strip()


class Romanizations:
    """A table of first-name spellings: the built-in one (``BUILT_IN``), or it with a state's own
    lines added (``[matching] romanized`` in the SSID configuration, ``extended``)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = tuple(" ".join(line.split()) for line in lines if line.strip())
        groups: dict[str, set[int]] = {}
        for number, line in enumerate(self.lines):
            for name in line.split():
                groups.setdefault(name, set()).add(number)
        #: name -> the lines (names) it is a spelling of; a spelling may stand on two lines (ALEKSANDR)
        self.spellings: dict[str, frozenset[int]] = {name: frozenset(g) for name, g in groups.items()}

    def extended(self, lines: Iterable[str]) -> Romanizations:
        return Romanizations((*self.lines, *lines))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Romanizations) and other.lines == self.lines

    def __hash__(self) -> int:
        return hash(self.lines)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call, compiled or not (pickled.py)
        return Romanizations, (self.lines,)

    def alike(self, a: str, b: str) -> bool:
        """True when two different first names are spellings of one name in the table (DANIIL/DANIEL,
        YASMIN/JASMINE); a name of several tokens is compared by its first token when the rest agree.
        Asked for most pairs of different first names a lookup compares: most names are in no line,
        so that is settled first."""
        if a == b or not a or not b:
            return False
        spellings = self.spellings
        if " " not in a and " " not in b:
            ga, gb = spellings.get(a), spellings.get(b)
            return ga is not None and gb is not None and not ga.isdisjoint(gb)
        ta, tb = a.split(), b.split()
        if ta[1:] != tb[1:] or ta[0] == tb[0]:
            return False
        ga, gb = spellings.get(ta[0]), spellings.get(tb[0])
        return ga is not None and gb is not None and not ga.isdisjoint(gb)


def table_line(line: str) -> str:
    """A line a state adds, as names are compared (upper case, accents folded: "Abdirizak
    Abdirisaaq" -> "ABDIRIZAK ABDIRISAAQ"); ValueError saying what is wrong with it."""
    names = [fold(n) for n in line.split()]
    if len(names) < 2:
        raise ValueError("needs two spellings or more, separated by spaces")
    bad = [n for n in names if not (n.isascii() and n.isalpha())]
    if bad:
        raise ValueError(f"each spelling must be one word of letters (no hyphen, apostrophe or digit): "
                         f"{', '.join(bad)}")
    return " ".join(names)


BUILT_IN = Romanizations(_TABLE.splitlines())
#: ``BUILT_IN.alike``: the table as it ships
romanized_alike = BUILT_IN.alike
