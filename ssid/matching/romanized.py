"""First names written in Latin letters several ways: one child's name, keyed by different clerks.

A name from Arabic, Somali, Russian or Ukrainian has no single English spelling: the same
girl is MARYAM at one school and MARIAM at the next, the same boy DANIIL and DANIEL. Both
spellings are names other children carry, so without this table the twin rule
(``decide._same_first_name``) must treat them as possibly two children (JAYDEN and JAYLEN may
be twins; parents do not name twins DANIIL and DANIEL).

Why a table apart from the nickname table: the nickname table's canonical names are stored
with every record and make its blocking keys, so a line added there changes stored data. This
one is read only when two names are compared (the first-name level, the twin rule): a line
added here takes effect when the processes next start, with nothing stored to re-index. Blocking needs
nothing from it: where two spellings keep one phonetic code (MARYAM/MARYAN) the birth date +
first name key finds the child, and where they do not (YASMIN/JASMINE, DMITRY/DMYTRO) the birth
date + last name key does.

Written for this project as data, one name per line, its spellings separated by spaces
(upper case ASCII, as ``Standardized.first_key`` holds them).
"""

from __future__ import annotations

from functools import lru_cache

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


def _parse(text: str) -> dict[str, frozenset[int]]:
    groups: dict[str, set[int]] = {}
    for number, line in enumerate(text.splitlines()):
        for name in line.split():
            groups.setdefault(name, set()).add(number)
    return {name: frozenset(g) for name, g in groups.items()}


#: name -> the lines (names) it is a spelling of; a spelling may stand on two lines (ALEKSANDR)
SPELLINGS: dict[str, frozenset[int]] = _parse(_TABLE)


@lru_cache(maxsize=65536)
def romanized_alike(a: str, b: str) -> bool:
    """True when two different first names are spellings of one name in the table (DANIIL/DANIEL,
    YASMIN/JASMINE); a name of several tokens is compared by its first token when the rest agree."""
    if a == b or not a or not b:
        return False
    ta, tb = a.split(), b.split()
    if ta[1:] != tb[1:]:
        return False
    ga, gb = SPELLINGS.get(ta[0]), SPELLINGS.get(tb[0])
    return ga is not None and gb is not None and ta[0] != tb[0] and not ga.isdisjoint(gb)
