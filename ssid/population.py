"""Seeded synthetic K-12 student population and re-submissions with realistic errors.

Matching quality can only be measured against known truth, and real student data cannot be
used. This generator builds families (surname, address, school, mother's maiden name), children
with US-like name frequencies (White, Hispanic, Black, Asian, Middle-Eastern/East-African and
Eastern-European name pools, with a rare-name tail), twins and siblings, then re-submissions of
existing students with one error type each (typo, nickname, day/month swap, ...) and brand-new
students, some of them the new twin or sibling of a stored student. Each query carries its
truth. Everything is a pure function of the seed (random.Random; no global state).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta

from ssid.matching.nicknames import NICKNAMES
from ssid.matching import InMemoryIndex, TermFrequencies
from ssid.matching.standardize import StudentRecord

# ---------------------------------------------------------------- name data (rank order)
# Surnames per group, most frequent first (order follows US Census 2010 surname ranks).
_SURNAMES = {
    "W": """SMITH JOHNSON MILLER BROWN JONES WILLIAMS DAVIS WILSON ANDERSON TAYLOR THOMAS MOORE MARTIN
THOMPSON WHITE CLARK LEWIS WALKER HALL ALLEN YOUNG KING WRIGHT SCOTT HILL GREEN ADAMS NELSON BAKER
CAMPBELL MITCHELL ROBERTS CARTER PHILLIPS EVANS TURNER PARKER COLLINS EDWARDS STEWART MORRIS MURPHY
COOK ROGERS MORGAN COOPER PETERSON BAILEY REED KELLY HOWARD COX WARD RICHARDSON WATSON BROOKS WOOD
BENNETT GRAY HUGHES PRICE SANDERS MYERS LONG ROSS FOSTER POWELL PERRY RUSSELL SULLIVAN BELL BUTLER
BARNES FISHER HENDERSON JENKINS GRAHAM HAYES GRIFFIN WALLACE WEST COLE HAMILTON STEVENS FORD MARSHALL
OWENS MCDONALD HARRISON KENNEDY WELLS SCHMIDT MUELLER SCHNEIDER MEYER WAGNER BECKER SCHULTZ HOFFMAN
KOWALSKI NOWAK WISNIEWSKI KOVACH O'BRIEN O'CONNOR O'NEILL MCCARTHY MACDONALD MCLAUGHLIN FITZGERALD
ZIMMERMAN SNYDER KLEIN SCHROEDER YODER STOLTZFUS HOCHSTETLER TROYER MILLEROVA DEANGELO RUSSO ROMANO
ESPOSITO RICCI BIANCHI LOMBARDI KRUEGER LINDQUIST OLSON JOHANSSON NIELSEN HANSEN LARSON SWANSON""",
    "H": """GARCIA RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ PEREZ SANCHEZ RAMIREZ TORRES FLORES RIVERA
GOMEZ DIAZ REYES CRUZ MORALES ORTIZ GUTIERREZ CHAVEZ RAMOS RUIZ ALVAREZ MENDOZA CASTILLO JIMENEZ VASQUEZ
MORENO ROMERO HERRERA MEDINA AGUILAR GARZA CASTRO VARGAS FERNANDEZ GUZMAN MUÑOZ MENDEZ SALAZAR SOTO
DELGADO PEÑA RIOS ALVARADO SANDOVAL CONTRERAS VALDEZ GUERRERO ORTEGA ESTRADA NUÑEZ VEGA MALDONADO
DOMINGUEZ CARDENAS CAMACHO IBARRA ESPINOZA NAVARRO CORTEZ LUNA JUAREZ CERVANTES ACOSTA FIGUEROA
CAMPOS PACHECO VELASQUEZ SERRANO ROSALES MOLINA DE LA CRUZ DE LEON SANTIAGO MARQUEZ ROBLES SOLIS""",
    "B": """WILLIAMS JOHNSON SMITH JONES BROWN JACKSON DAVIS THOMAS HARRIS ROBINSON TAYLOR WILSON MOORE WHITE
WASHINGTON WALKER THOMPSON ANDERSON LEWIS YOUNG ALLEN JEFFERSON BANKS JOSEPH GREEN COLEMAN BROOKS
JENKINS HOLMES PIERRE CHARLES WARE MACK MOSLEY GAINES BOOKER DORSEY FREEMAN TUCKER SIMMONS GRANT
ROBERSON BATTLE MAYFIELD OKAFOR OKONKWO ADEYEMI MENSAH DIALLO TRAORE BERRY DIXON HAWKINS SPENCER""",
    "A": """NGUYEN LEE KIM TRAN PATEL CHEN WANG LI LE PHAM ZHANG SINGH LIU PARK HUANG HUYNH YANG WU LIN CHOI
SHAH HOANG VU DANG BUI DO ZHOU XU SUN ZHAO JUNG KANG CHO YOON LIM HAN SHIN KUMAR SHARMA GUPTA REDDY
DESAI MEHTA JOSHI CHOWDHURY RAHMAN HO NG CHAN WONG LAU TANAKA SATO SUZUKI VANG XIONG THAO LOR HER""",
    "M": """MOHAMED AHMED ALI HASSAN HUSSEIN ABDI OMAR IBRAHIM YUSUF ABDULLAHI MOHAMMED ISMAIL WARSAME FARAH
ABDULLAH KHAN HADDAD NASSER SALEH MANSOUR KHOURY AZIZ HAMID RAHIM OSMAN JAMA NUR ADAN""",
    "E": """IVANOV PETROV SMIRNOV KOVALENKO SHEVCHENKO BONDARENKO KUZNETSOV POPOV VOLKOV SOKOLOV MOROZOV
NOVIKOV PAVLOV KOZLOV LEBEDEV MELNYK TKACHENKO KRAVCHENKO OLIYNYK MARCHENKO""",
}
# First names by group and gender, most frequent first (SSA baby-name ranks, 2005–2020 births).
_FIRST = {
    ("W", "M"): """LIAM NOAH WILLIAM JAMES LOGAN BENJAMIN MASON ELIJAH OLIVER JACOB LUCAS MICHAEL ALEXANDER
ETHAN DANIEL MATTHEW AIDEN HENRY JOSEPH JACKSON SAMUEL SEBASTIAN DAVID CARTER WYATT JAYDEN JOHN OWEN DYLAN
LUKE GABRIEL ANTHONY ISAAC GRAYSON JACK JULIAN LEVI CHRISTOPHER JOSHUA ANDREW LINCOLN RYAN JAXON NATHAN
AARON ISAIAH THOMAS CHARLES CALEB JOSIAH CHRISTIAN HUNTER ELI JONATHAN CONNOR LANDON ADRIAN ASHER
CAMERON LEO THEODORE JEREMIAH HUDSON ROBERT EASTON NOLAN NICHOLAS EZRA COLTON BRAYDEN JORDAN DOMINIC
AUSTIN IAN ADAM ELIAS COOPER PARKER CHASE SAWYER GAVIN TYLER BRANDON KEVIN ZACHARY BRADLEY COLE GARRETT
TRISTAN BLAKE CODY DEREK TANNER SPENCER WESLEY TRAVIS""",
    ("W", "F"): """OLIVIA EMMA AVA SOPHIA ISABELLA CHARLOTTE AMELIA MIA HARPER EVELYN ABIGAIL EMILY ELLA
ELIZABETH CAMILA LUNA SOFIA AVERY MILA ARIA SCARLETT PENELOPE LAYLA CHLOE VICTORIA MADISON ELEANOR GRACE
NORA RILEY ZOEY HANNAH HAZEL LILY ELLIE VIOLET LILLIAN ZOE STELLA AURORA NATALIE EMILIA EVERLY LEAH AUBREY
WILLOW ADDISON LUCY AUDREY BELLA NOVA BROOKLYN PAISLEY SAVANNAH CLAIRE SKYLAR ISLA GENESIS NAOMI ELENA
CAROLINE ELIANA ANNA MAYA VALENTINA RUBY KENNEDY IVY ARIANA AALIYAH CORA MADELYN ALICE KINSLEY HAILEY
GABRIELLA ALLISON SAMANTHA SARAH KATHERINE ALEXIS JESSICA MEGAN REBECCA ABBY KAYLA BRIANNA MORGAN
SYDNEY TAYLOR HALEY JORDAN PAIGE""",
    ("H", "M"): """SANTIAGO MATEO SEBASTIAN ALEXANDER DANIEL DIEGO JOSE JUAN LUIS CARLOS JESUS MIGUEL ANGEL
ADRIAN GAEL DAVID EMILIANO LEONARDO JORGE ALEJANDRO ANTONIO FERNANDO RICARDO EDUARDO JAVIER FRANCISCO
MANUEL ISAAC JULIAN ADRIEL IKER THIAGO MAXIMILIANO RAFAEL ROBERTO ANDRES EMMANUEL OMAR OSCAR PABLO
SERGIO RAUL ERICK BRYAN KEVIN CHRISTOPHER ANTHONY JONATHAN JOSUE ISMAEL ELIAS AXEL CRISTIAN
ENRIQUE HECTOR IVAN JOEL MARCO ALAN DAMIAN EZEQUIEL""",
    ("H", "F"): """SOFIA CAMILA VALENTINA ISABELLA XIMENA MARIA VICTORIA NATALIA LUCIANA MIA EMMA VALERIA
GENESIS DANIELA GABRIELA ALEJANDRA ANDREA ASHLEY ALYSSA MELANIE ARIANNA JIMENA ESMERALDA GUADALUPE
FERNANDA PAOLA LUCIA ELENA ISABEL ANA CAROLINA MARISOL YESENIA JAZMIN LEILANI SAMANTHA ALEXA AITANA
REGINA RENATA ABRIL ANGELA ADRIANA BRIANNA KIMBERLY STEPHANIE JOCELYN NAYELI ITZEL DULCE""",
    ("B", "M"): """JAYDEN ELIJAH JOSIAH JEREMIAH ISAIAH MICHAEL CHRISTOPHER JAMES JOSHUA ANTHONY MALIK
JAYLEN CAMERON XAVIER DARIUS ANDRE TERRELL DESHAWN JAMAL DEANDRE TYRONE DARNELL KEYSHAWN MARQUIS
TREVON KHALIL AMIR ZION KINGSTON CHANCE CARTER JORDAN BRANDON DEVIN TRAVON DEMETRIUS MARCUS CEDRIC
KENDRICK TREMAINE JAVON RASHAD DAMARION JAYCEON AMARI KAYDEN DEVON""",
    ("B", "F"): """AALIYAH MADISON ZOE NEVAEH KENNEDY BRIANNA JADA AVA TAYLOR IMANI DESTINY KIARA MAKAYLA
JASMINE ARIANA LAILA SKYLAR NIA AMARI HARMONY TRINITY DIAMOND JAYLA KENNEDI ZARIA ALEXIS MORGAN
TANISHA SHANIQUA KEISHA EBONY LATOYA ASIA JANIYA AMIYAH SANAA ESSENCE AUBREE NAOMI SERENITY""",
    ("A", "M"): """ETHAN RYAN DANIEL KEVIN JUSTIN BRANDON ERIC ANDREW JASON ALEX AARON DAVID BRIAN MINH KHANG
THANH DUC HUY BAO KHOA TUAN WEI JUN HAO YI CHEN JI-HOON MIN-JUN SEO-JUN HYUN MIN ARJUN ROHAN ADITYA
ARYAN VIKRAM RAHUL ANISH NEIL RAJ KENJI HIROSHI TOU PAO CHUE""",
    ("A", "F"): """EMILY CHLOE SOPHIA GRACE ANGELA JENNIFER MICHELLE VIVIAN AMY CHRISTINE LINH ANH NGOC THAO
MAI TRANG HUONG VY MEI XIN YING LI JIA SEO-YEON JI-WOO MIN-SEO HYE-JIN SOO-AH PRIYA ANANYA ISHA DIYA
KAVYA SHREYA AANYA NISHA YUKI SAKURA MAI-LING PA MAIV KIA""",
    ("M", "M"): """MOHAMED MOHAMMED MUHAMMAD AHMED ALI OMAR YUSUF ABDULLAHI HASSAN IBRAHIM ABDIRAHMAN
MUSTAFA KHALID HAMZA BILAL YASIN ADAM HUSSEIN ISMAIL AYAN ZAKARIA SAID""",
    ("M", "F"): """FATIMA AISHA MARYAM HAWA AMINA HAMDI ZAINAB SAFIYA LAYLA NIMO SAGAL FARTUN IKRAN HODAN
NASRA SUMAYA KHADIJA YASMIN NOOR HANA""",
    ("E", "M"): """ALEKSANDR DMITRY MAKSIM IVAN SERGEI ARTEM NIKITA MIKHAIL DANIIL ANDREI YURI OLEKSANDR
VLADIMIR BOGDAN TIMUR""",
    ("E", "F"): """ANASTASIA SOFIA MARIA YEKATERINA DARIA POLINA ANNA VIKTORIA ALINA NATALIA TATIANA OLGA
KSENIA YULIA IRINA""",
}
# variant spellings of the same name as different clerks transliterate it
_TRANSLITERATIONS = [
    "MOHAMED MOHAMMED MUHAMMAD MOHAMMAD MUHAMMED", "AHMED AHMAD", "HUSSEIN HUSSAIN HUSAIN", "ABDULLAHI ABDULAHI",
    "YUSUF YOUSEF YOUSUF", "OMAR UMAR", "KHALID KHALED", "MUSTAFA MOSTAFA", "HAMZA HAMZAH", "ISMAIL ISMAEL",
    "AISHA AYESHA AISHAH", "FATIMA FATEMA FATIMAH", "MARYAM MARIAM", "ZAINAB ZEINAB", "SUMAYA SUMAYYA",
    "KHADIJA KHADIJAH", "YASMIN YASMINE JASMINE", "HASSAN HASAN", "ABDI ABDY", "FARAH FARRAH",
    "ZHANG CHANG", "LI LEE", "PARK PAK", "CHOI CHOE", "KIM GIM", "JUNG JEONG CHUNG", "HUYNH HUINH",
    "NGUYEN NGUEN", "XIONG SHIONG", "VANG VAJ", "JI-HOON JIHOON", "MIN-JUN MINJUN", "SEO-JUN SEOJUN",
    "SEO-YEON SEOYEON", "JI-WOO JIWOO", "MIN-SEO MINSEO", "HYE-JIN HYEJIN", "SOO-AH SOOAH", "MAI-LING MAILING",
    "ALEKSANDR ALEXANDR ALEXANDER", "OLEKSANDR OLEXANDR ALEKSANDR", "DMITRY DMITRI DMITRIY", "SERGEI SERGEY",
    "ANDREI ANDREY", "YURI YURIY IURII", "MAKSIM MAXIM", "DANIIL DANIEL", "YEKATERINA EKATERINA",
    "NATALIA NATALYA", "TATIANA TATYANA", "ANASTASIA ANASTASIYA", "YULIA IULIIA JULIA", "KSENIA KSENIYA",
    "VIKTORIA VICTORIA", "DARIA DARYA", "IVANOV IVANOFF", "PETROV PETROFF", "SMIRNOV SMIRNOFF",
    "KOVALENKO KOWALENKO", "SHEVCHENKO SHEVCHENKA", "MELNYK MELNIK", "OLIYNYK OLEINIK", "KUZNETSOV KUZNETSOFF",
    "ZHOU CHOU", "XU HSU", "ZHAO CHAO", "WU WOO", "CHEN CHAN", "HUANG HWANG", "LIU LIEW", "YANG YEUNG",
    "JOSE JOSÉ", "MUÑOZ MUNOZ", "PEÑA PENA", "NUÑEZ NUNEZ",
]
_TRANSLIT: dict[str, tuple[str, ...]] = {}
for _line in _TRANSLITERATIONS:
    _group = tuple(dict.fromkeys(_line.split()))
    for _n in _group:
        if len(_group) > 1:
            _TRANSLIT[_n] = tuple(v for v in _group if v != _n)

_TAIL_PARTS = {
    "W": ("BRAND HOLL WINTER ASH CALD DAL FAIR GOLD HART KIRK LANG MORT NORTH RADE SHEL STAN THORN WEST "
          "BLOOM EBER FENN GROSS HAUS KESS LICHT MARS REINH STRAUB",
          "BERG STEIN SON MAN LEY TON FIELD WOOD WORTH HOLT MORE BY LAND AWAY INGER ER ICH OWSKI SKI HARDT"),
    "H": ("VILLA MONT BAR CAS SAL ARAN BEL CAB ESC GAL LAR MAR OLI PAL QUIN SAN TOR URI ZAM ARR BUS CAL",
          "ANUEVA EZ ADO ERO ILLO AGA ENA ERAS ANO ONES UENO ARES OSA ALES EJO IDA AL ILLA ERA"),
    "B": ("ASH BRAX CAL DORS EDD FORT GRAV HOLL JEFF KNOX LAMB MCCR PRIC ROYS SHEP TILL WHITF",
          "TON WELL INGS ER LEY SON WOOD EN ETT ISON AN"),
    "A": ("NG TR PH NGU HU TH KH QU LU MA SA TA KA NA HA CHA SU",
          "AN UYEN AM ONG INH AU UY ANG ENG ING OTO AKI IMA ARA UKI"),
    "M": ("ABD AL HAS MAH NUR OS SAL WAR YUS FAR GUL IBR",
          "ULLE AME IYE ALI OWE AAN IRE ADI OLE"),
    "E": ("BOND KRAV MEL PAV SAV TKACH VOL ZAY HOR KOV LYS",
          "ENKO CHUK YUK OV EV IN SKY UK ETS"),
}
_GROUP_SHARE = {"W": 0.47, "H": 0.27, "B": 0.15, "A": 0.06, "M": 0.03, "E": 0.02}
_RACE_CODE = {"W": "W", "H": "H", "B": "B", "A": "A", "M": "B", "E": "W"}
_LANGUAGES = {"W": [("ENG", .97), ("GER", .02), ("POL", .01)], "H": [("ENG", .45), ("SPA", .55)],
              "B": [("ENG", .93), ("FRE", .03), ("YOR", .02), ("IBO", .02)],
              "A": [("ENG", .45), ("VIE", .2), ("CHI", .12), ("KOR", .08), ("HMN", .08), ("GUJ", .04), ("HIN", .03)],
              "M": [("SOM", .6), ("ARA", .3), ("ENG", .1)], "E": [("RUS", .5), ("UKR", .35), ("ENG", .15)]}
_CITY_LIST = [c.strip() for c in """COLUMBUS, CLEVELAND, CINCINNATI, TOLEDO, AKRON, DAYTON, PARMA, CANTON,
YOUNGSTOWN, LORAIN, HAMILTON, SPRINGFIELD, KETTERING, ELYRIA, LAKEWOOD, CUYAHOGA FALLS, MIDDLETOWN, EUCLID,
NEWARK, MANSFIELD, MENTOR, BEAVERCREEK, CLEVELAND HEIGHTS, STRONGSVILLE, DUBLIN, FAIRFIELD, FINDLAY, WARREN,
LANCASTER, LIMA, HUBER HEIGHTS, WESTERVILLE, MARION, GROVE CITY, REYNOLDSBURG, DELAWARE, BRUNSWICK,
UPPER ARLINGTON, STOW, NORTH OLMSTED, GAHANNA, WESTLAKE, NORTH ROYALTON, MASSILLON, NORTH RIDGEVILLE, MASON,
FAIRBORN, BOWLING GREEN, GARFIELD HEIGHTS, ATHENS, OXFORD, CHICAGO, DETROIT, PITTSBURGH, INDIANAPOLIS,
LOUISVILLE, NEW YORK, ATLANTA, HOUSTON, LOS ANGELES""".replace("\n", " ").split(",")]
_FOREIGN_CITIES = {"H": ["MEXICO CITY", "GUADALAJARA", "SAN JUAN", "SAN SALVADOR", "GUATEMALA CITY"],
                   "A": ["HANOI", "HO CHI MINH CITY", "SEOUL", "BEIJING", "SHANGHAI", "MUMBAI", "DELHI"],
                   "M": ["MOGADISHU", "HARGEISA", "CAIRO", "NAIROBI", "BAGHDAD"],
                   "E": ["KYIV", "MOSCOW", "KHARKIV", "ODESA", "MINSK"], "B": ["LAGOS", "ACCRA", "PORT-AU-PRINCE"],
                   "W": ["TORONTO", "LONDON"]}

KEYBOARD = {c: n for c, n in zip("QWERTYUIOPASDFGHJKLZXCVBNM",
                                 ["WA", "QES", "WRD", "ETF", "RYG", "TUH", "YIJ", "UOK", "IPL", "OL", "QSZ", "AWDX",
                                  "SEFC", "DRGV", "FTHB", "GYJN", "HUKM", "JIL", "KOP", "ASX", "ZSDC", "XDFV",
                                  "CFGB", "VGHN", "BHJM", "NJK"])}


def _words(text: str) -> list[str]:
    return [w.replace("_", " ") for w in text.replace("DE LA CRUZ", "DE_LA_CRUZ").replace("DE LEON", "DE_LEON").split()]


class _Weighted:
    """Draw from a list with Zipf-like weights (rank r has weight 1/(r+offset)^s)."""

    def __init__(self, items: Sequence[str], s: float = 1.0, offset: float = 1.5,
                 weights: Sequence[float] | None = None) -> None:
        self.items = list(items)
        w = list(weights) if weights is not None else [1.0 / (r + offset) ** s for r in range(len(self.items))]
        self.cum = list(itertools.accumulate(w))

    def draw(self, rng: random.Random) -> str:
        return self.items[bisect.bisect_left(self.cum, rng.random() * self.cum[-1])]


def _tail_names(group: str, n: int, rng: random.Random) -> list[str]:
    """Rare surnames built from the group's syllables (two or three parts)."""
    pre, suf = (p.split() for p in _TAIL_PARTS[group])
    two = sorted({a + b for a in pre for b in suf})
    three = sorted({a + b.lower()[:2].upper() + c for a in pre for b in pre for c in suf if a != b})
    rng.shuffle(two)
    rng.shuffle(three)
    return (two + three)[:n]


_FIRST_TAIL = ("JA JAY KAY KA BRAY MAK NEV A ZA RY DA TY MA LA KE SA RA NY JO AM BRY KEN TRE DE",
               "DEN LEN LYN LEIGH NIYAH LANI SON TON REN LEE RAH DON VEN LIYAH MIR ZIAH RIUS NIQUE DYN")


def _first_tail(rng: random.Random) -> list[str]:
    pre, suf = (p.split() for p in _FIRST_TAIL)
    names = sorted({a + b for a in pre for b in suf})
    rng.shuffle(names)
    return names


# ---------------------------------------------------------------- the population

@dataclass(frozen=True)
class PopulationConfig:
    size: int = 10_000
    seed: int = 1
    twin_rate: float = 0.015  # share of births that are a twin pair
    ssn_rate: float = 0.3  # students whose master record has an SSN
    middle_rate: float = 0.85
    mothers_maiden_rate: float = 0.4
    alias_rate: float = 0.02  # students with a former surname stored as an alias version
    double_surname_rate: float = 0.25  # Hispanic families with two surnames
    tail_share: float = 0.6  # students whose surname comes from the rare-name tail
    first_tail_share: float = 0.12  # students with an uncommon (invented-style) first name
    first_year: int = 2007
    last_year: int = 2020
    districts: int = 60


@dataclass(frozen=True)
class Student:
    student_id: str
    record: StudentRecord  # the current master version
    family: int
    group: str
    address: str
    aliases: tuple[StudentRecord, ...] = ()  # earlier versions (alias history), oldest first
    twin_of: str = ""

    @property
    def versions(self) -> tuple[StudentRecord, ...]:
        return (*self.aliases, self.record)


@dataclass(frozen=True)
class Population:
    config: PopulationConfig
    students: tuple[Student, ...]
    _by_id: dict[str, Student] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {s.student_id: s for s in self.students})

    def __len__(self) -> int:
        return len(self.students)

    def get(self, student_id: str) -> Student:
        return self._by_id[student_id]

    def indexed(self) -> tuple[InMemoryIndex, TermFrequencies]:
        """Every version of every student in an in-memory index, and the name counts of their
        current records: what a matcher over this population needs (tests, benchmarks)."""
        index = InMemoryIndex()
        current = []
        for s in self.students:
            for version in s.versions:
                row = index.add(s.student_id, version)
            current.append(row.record)
        return index, TermFrequencies.from_records(current)


class _Names:
    def __init__(self, config: PopulationConfig, rng: random.Random) -> None:
        self.surnames = {g: _Weighted(_words(t), s=0.75, offset=4.0) for g, t in _SURNAMES.items()}
        self.tails = {g: _Weighted(_tail_names(g, 3000, rng), s=0.5, offset=10.0) for g in _SURNAMES}
        self.first = {k: _Weighted(_words(t), s=0.75, offset=6.0) for k, t in _FIRST.items()}
        self.first_tail = _Weighted(_first_tail(rng), s=0.5, offset=10.0)
        self.groups = _Weighted(list(_GROUP_SHARE), weights=list(_GROUP_SHARE.values()))
        self.config = config

    def surname(self, group: str, rng: random.Random) -> str:
        pool = self.tails if rng.random() < self.config.tail_share else self.surnames
        return pool[group].draw(rng)

    def first_name(self, group: str, gender: str, rng: random.Random, avoid: Sequence[str] = ()) -> str:
        for _ in range(50):
            # some families in every group use the general (W) or Hispanic pools
            g = group if rng.random() < 0.85 else rng.choice("WH")
            if rng.random() < self.config.first_tail_share:
                name = self.first_tail.draw(rng)
            else:
                name = self.first[(g, gender)].draw(rng)
            if name not in avoid and all(_distinct_names(name, a) for a in avoid):
                return name
        return name


def _distinct_names(a: str, b: str) -> bool:
    """Parents give twins and siblings different names (not a nickname or spelling of each other)."""
    return a != b and NICKNAMES.get(a, frozenset((a,))).isdisjoint(NICKNAMES.get(b, frozenset((b,))))


def _weighted_choice(pairs: Sequence[tuple[str, float]], rng: random.Random) -> str:
    x = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def _birth(r: StudentRecord) -> date:
    assert isinstance(r.birth_date, date), "generated records carry real dates"
    return r.birth_date


def _random_ssn(rng: random.Random, used: set[str]) -> str:
    while True:
        area = rng.randint(1, 899)
        if area == 666:
            continue
        ssn = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        if ssn not in used:
            used.add(ssn)
            return ssn


@dataclass(frozen=True)
class _Family:
    """What siblings share: surname, address, school district, mother's maiden name, ..."""

    id: int
    group: str
    surname: str
    address: str
    district: str
    buildings: tuple[str, ...]
    mother: str
    city: str
    language: str


class _Builder:
    """Builds families and children; shared by the population and the 'new student' queries."""

    def __init__(self, config: PopulationConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.names = _Names(config, rng)
        self.ssns: set[str] = set()
        self.ids: set[str] = set()
        self.family_count = 0
        self.start = date(config.first_year, 9, 1)
        self.days = (date(config.last_year, 8, 31) - self.start).days

    def new_id(self) -> str:
        while True:
            letters = "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
            sid = f"{letters}{self.rng.randrange(10**7):07d}"
            if sid not in self.ids:
                self.ids.add(sid)
                return sid

    def family(self) -> _Family:
        rng = self.rng
        group = self.names.groups.draw(rng)
        surname = self.names.surname(group, rng)
        if group == "H" and rng.random() < self.config.double_surname_rate:
            second = self.names.surname("H", rng)
            if second != surname:
                surname = f"{surname} {second}" if rng.random() < 0.6 else f"{surname}-{second}"
        district = rng.randrange(self.config.districts)
        foreign_rate = {"H": .3, "A": .35, "M": .6, "E": .6, "B": .05}.get(group, 0.0)
        foreign = rng.random() < foreign_rate if foreign_rate else False
        self.family_count += 1
        return _Family(
            id=self.family_count, group=group, surname=surname,
            address=f"{rng.randint(100, 9999)} {rng.choice(_CITY_LIST)} ST",
            district=f"{43000 + district * 7:06d}",
            buildings=tuple(f"{district:02d}{b:02d}" for b in range(1 + rng.randrange(12))),
            mother=self.names.surname(group, rng) if rng.random() < self.config.mothers_maiden_rate else "",
            city=rng.choice(_FOREIGN_CITIES[group]) if foreign else rng.choice(_CITY_LIST),
            language=_weighted_choice(_LANGUAGES[group], rng),
        )

    def child(self, fam: _Family, birth: date, gender: str, avoid: Sequence[str] = (),
              with_ssn: bool | None = None) -> StudentRecord:
        rng = self.rng
        group = fam.group
        first = self.names.first_name(group, gender, rng, avoid)
        middle = ""
        if rng.random() < self.config.middle_rate:
            middle = self.names.first_name(group, gender, rng, (first,))
            if rng.random() < 0.06:
                middle = middle[0]
        ssn = ""
        if with_ssn if with_ssn is not None else rng.random() < self.config.ssn_rate:
            ssn = _random_ssn(rng, self.ssns)
        race = _RACE_CODE[group] if rng.random() < 0.96 else "M"
        return StudentRecord(
            first_name=first, middle_name=middle, last_name=fam.surname, birth_date=birth,
            gender=gender, birth_city=fam.city, race_ethnicity=race,
            native_language=fam.language, ssn=ssn, mothers_maiden_name=fam.mother,
            district=fam.district, building=rng.choice(fam.buildings),
        )

    def birth(self) -> date:
        return self.start + timedelta(days=self.rng.randrange(self.days))

    def sibling_birth(self, taken: Sequence[date]) -> date | None:
        for _ in range(20):
            d = self.birth()
            if all(abs((d - t).days) >= 300 for t in taken):
                return d
        return None


def generate_population(size: int = 10_000, seed: int = 1, config: PopulationConfig | None = None) -> Population:
    """``size`` students in families (siblings share surname, address, school; some twins)."""
    config = replace(config or PopulationConfig(), size=size, seed=seed)
    rng = random.Random(f"population:{seed}")
    b = _Builder(config, rng)
    students: list[Student] = []
    while len(students) < size:
        fam = b.family()
        n = _weighted_choice([("1", .45), ("2", .33), ("3", .15), ("4", .07)], rng)
        births: list[date] = []
        names: list[str] = []
        for _ in range(int(n)):
            if len(students) >= size:
                break
            d = b.sibling_birth(births)
            if d is None:
                break
            births.append(d)
            gender = rng.choice("MF")
            rec = b.child(fam, d, gender, names)
            names.append(rec.first_name)
            sid = b.new_id()
            aliases: tuple[StudentRecord, ...] = ()
            if rng.random() < config.alias_rate:
                former = b.names.surname(fam.group, rng)
                aliases = (replace(rec, last_name=former),)
            students.append(Student(sid, rec, fam.id, fam.group, fam.address, aliases))
            if rng.random() < config.twin_rate and len(students) < size:
                g2 = rng.choice("MF")
                rec2 = b.child(fam, d, g2, names)
                names.append(rec2.first_name)
                twin = Student(b.new_id(), rec2, fam.id, fam.group, fam.address,
                               twin_of=sid)
                students[-1] = replace(students[-1], twin_of=twin.student_id)
                students.append(twin)
    return Population(config, tuple(students))


# ---------------------------------------------------------------- re-submissions

#: query kinds: returning students with one error type each, and new students
RETURNING = ("clean", "typo", "phonetic", "nickname", "double_surname", "name_swap", "day_month_swap",
             "birth_date_digit", "missing_middle", "changed_school", "transliteration", "common_name",
             "twin", "sibling", "alias_name", "multiple")
NEW = ("new_student", "new_twin", "new_sibling", "new_common_name")


@dataclass(frozen=True)
class QueryMix:
    """Relative frequency of each query kind (normalised when drawing)."""

    clean: float = 0.20
    typo: float = 0.07
    phonetic: float = 0.04
    nickname: float = 0.05
    double_surname: float = 0.04
    name_swap: float = 0.02
    day_month_swap: float = 0.03
    birth_date_digit: float = 0.04
    missing_middle: float = 0.05
    changed_school: float = 0.07
    transliteration: float = 0.03
    common_name: float = 0.04
    twin: float = 0.02
    sibling: float = 0.03
    alias_name: float = 0.01
    multiple: float = 0.03  # two errors of the kinds above at once
    new_student: float = 0.15
    new_twin: float = 0.01  # one twin of a pair arriving after the other: ~1.5% of new students
    new_sibling: float = 0.03
    new_common_name: float = 0.02
    # background noise on every returning query, whatever its kind
    ssn_omitted: float = 0.5  # the query leaves out an SSN the master record has
    school_moved: float = 0.05
    race_changed: float = 0.02


@dataclass(frozen=True)
class Query:
    record: StudentRecord
    truth: str  # the true student id, or "new"
    kind: str  # one of RETURNING or NEW
    changes: tuple[str, ...] = ()  # what was done to the record, for reading failures


_PHONETIC_RULES = [("PH", "F"), ("F", "PH"), ("CK", "K"), ("C", "K"), ("K", "C"), ("EY", "Y"), ("Y", "IE"),
                   ("IE", "Y"), ("TH", "T"), ("SCH", "SH"), ("Z", "S"), ("S", "Z"), ("EE", "I"), ("I", "Y"),
                   ("Y", "I"), ("MAC", "MC"), ("MC", "MAC"), ("SON", "SEN"), ("SEN", "SON"), ("LL", "L"),
                   ("NN", "N"), ("TT", "T"), ("OU", "U"), ("AI", "AY"), ("EI", "IE"), ("X", "KS"), ("QU", "KW"),
                   ("GH", ""), ("W", "V"), ("J", "G")]


def typo(name: str, rng: random.Random) -> str:
    """One keying slip: neighbouring key, transposition, dropped, extra or doubled letter."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if len(letters) < 3:
        return name
    for _ in range(10):
        i = rng.choice(letters[1:]) if rng.random() < 0.9 else letters[0]
        kind = rng.random()
        c = name[i]
        if kind < 0.3 and c in KEYBOARD:
            out = name[:i] + rng.choice(KEYBOARD[c]) + name[i + 1:]
        elif kind < 0.55 and i + 1 < len(name) and name[i + 1].isalpha() and name[i + 1] != c:
            out = name[:i] + name[i + 1] + c + name[i + 2:]
        elif kind < 0.75:
            out = name[:i] + name[i + 1:]
        elif kind < 0.9:
            out = name[:i] + c + name[i:]
        elif c in KEYBOARD:
            out = name[:i] + rng.choice(KEYBOARD[c]) + name[i:]
        else:
            continue
        if out != name and len(out) >= 2:
            return out
    return name


def phonetic_misspelling(name: str, rng: random.Random) -> str:
    rules = [(a, b) for a, b in _PHONETIC_RULES if a in name[1:] or (a in name and a in ("MAC", "MC"))]
    if not rules:
        return name
    a, b = rng.choice(rules)
    idx = [i for i in range(len(name)) if name.startswith(a, i)]
    i = rng.choice(idx)
    return name[:i] + b + name[i + len(a):]


def _nicknames_of(name: str) -> list[str]:
    return sorted(n for n, canon in NICKNAMES.items() if name in canon and n != name)


class _QueryMaker:
    def __init__(self, pop: Population, mix: QueryMix, rng: random.Random) -> None:
        self.pop, self.mix, self.rng = pop, mix, rng
        self.builder = _Builder(pop.config, rng)
        self.builder.ids = {s.student_id for s in pop.students}
        self.builder.ssns = {s.record.ssn for s in pop.students if s.record.ssn}
        self.families: dict[int, list[Student]] = {}
        for s in pop.students:
            self.families.setdefault(s.family, []).append(s)
        common_first = set(itertools.chain.from_iterable(_words(t)[:8] for t in _FIRST.values()))
        common_last = set(itertools.chain.from_iterable(_words(t)[:8] for t in _SURNAMES.values()))
        self.common_first, self.common_last = sorted(common_first), sorted(common_last)
        self.common = [s for s in pop.students if s.record.first_name in common_first
                       and s.record.last_name in common_last]
        self.twins = [s for s in pop.students if s.twin_of]
        self.siblings = [s for s in pop.students if len(self.families[s.family]) > 1 and not s.twin_of]
        self.aliased = [s for s in pop.students if s.aliases]

    # --- single errors: each returns (record, change) or None when it does not apply
    def err_typo(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        which = _weighted_choice([("first_name", .4), ("last_name", .45), ("middle_name", .15)], self.rng)
        if len(getattr(r, which)) < 3:
            which = "last_name"
        new = typo(getattr(r, which), self.rng)
        return (replace(r, **{which: new}), f"typo {which}: {new}") if new != getattr(r, which) else None

    def err_phonetic(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        for which in self.rng.sample(["first_name", "last_name"], 2):
            new = phonetic_misspelling(getattr(r, which), self.rng)
            if new != getattr(r, which):
                return replace(r, **{which: new}), f"phonetic {which}: {new}"
        return None

    def err_nickname(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        nicks = _nicknames_of(r.first_name)
        if not nicks:
            return None
        new = self.rng.choice(nicks)
        return replace(r, first_name=new), f"nickname: {new}"

    def err_double_surname(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        parts = r.last_name.replace("-", " ").split()
        if len(parts) > 1 and not r.last_name.startswith("DE "):
            new = parts[0] if self.rng.random() < 0.7 else parts[-1]
        else:
            other = r.mothers_maiden_name or self.builder.names.surname("W", self.rng)
            if other == r.last_name:
                return None
            new = f"{r.last_name}-{other}" if self.rng.random() < 0.5 else f"{r.last_name} {other}"
        return replace(r, last_name=new), f"surname: {new}"

    def err_name_swap(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        return replace(r, first_name=r.last_name, last_name=r.first_name), "first/last swapped"

    def err_day_month_swap(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        d = _birth(r)
        if d.day > 12 or d.day == d.month:
            return None
        return replace(r, birth_date=date(d.year, d.day, d.month)), "day/month swapped"

    def err_birth_date_digit(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        d = _birth(r)
        s = d.strftime("%Y%m%d")
        for _ in range(30):
            i = self.rng.choice([3, 4, 5, 6, 7, 7, 6, 3])  # year's last digit, month, day
            new = s[:i] + str(self.rng.randrange(10)) + s[i + 1:]
            try:
                nd = date(int(new[:4]), int(new[4:6]), int(new[6:]))
            except ValueError:
                continue
            if nd != d:
                return replace(r, birth_date=nd), f"birth date digit: {nd}"
        return None

    def err_missing_middle(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        if not r.middle_name:
            return None
        return replace(r, middle_name=self.rng.choice(["", "", "NMN", "*"])), "middle name left out"

    def err_changed_school(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        fam = self.builder.family()
        return replace(r, district=fam.district, building=fam.buildings[0]), "moved district"

    def err_transliteration(self, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        for which in self.rng.sample(["first_name", "last_name"], 2):
            value = getattr(r, which)
            if value in _TRANSLIT:
                new = self.rng.choice(_TRANSLIT[value])
                return replace(r, **{which: new}), f"transliteration {which}: {new}"
        return None

    ERRORS = ("typo", "phonetic", "nickname", "double_surname", "name_swap", "day_month_swap", "birth_date_digit",
              "missing_middle", "changed_school", "transliteration")

    def apply(self, kind: str, r: StudentRecord) -> tuple[StudentRecord, str] | None:
        return getattr(self, f"err_{kind}")(r)

    def background(self, r: StudentRecord, changes: list[str]) -> StudentRecord:
        m, rng = self.mix, self.rng
        if r.ssn and rng.random() < m.ssn_omitted:
            r = replace(r, ssn="")
            changes.append("ssn omitted")
        if rng.random() < m.school_moved:
            moved = self.err_changed_school(r)
            if moved:
                r = moved[0]
                changes.append(moved[1])
        if rng.random() < m.race_changed:
            r = replace(r, race_ethnicity=rng.choice("WHBAM"))
            changes.append("race code changed")
        return r

    def returning(self, kind: str) -> Query | None:
        rng = self.rng
        pool: Sequence[Student] = {
            "common_name": self.common, "twin": self.twins, "sibling": self.siblings, "alias_name": self.aliased,
        }.get(kind, self.pop.students)
        if not pool:
            return None
        s = rng.choice(pool)
        changes: list[str] = []
        r = s.record
        if kind == "transliteration":
            candidates = [x for x in rng.sample(self.pop.students, min(400, len(self.pop.students)))
                          if x.record.first_name in _TRANSLIT or x.record.last_name in _TRANSLIT]
            if not candidates:
                return None
            s = candidates[0]
            r = s.record
        if kind == "alias_name":
            r = replace(r, last_name=s.aliases[0].last_name)
            changes.append(f"former surname: {r.last_name}")
        elif kind in self.ERRORS:
            done = self.apply(kind, r)
            if done is None:
                return None
            r, change = done
            changes.append(change)
        elif kind == "multiple":
            for k in rng.sample(list(self.ERRORS), 4):
                done = self.apply(k, r)
                if done is not None:
                    r = done[0]
                    changes.append(done[1])
                if len(changes) == 2:
                    break
        r = self.background(r, changes)
        return Query(r, s.student_id, kind, tuple(changes))

    def new(self, kind: str) -> Query | None:
        b, rng = self.builder, self.rng
        if kind == "new_student":
            fam = b.family()
            return Query(b.child(fam, b.birth(), rng.choice("MF")), "new", kind)
        if kind == "new_common_name":
            fam = b.family()
            rec = b.child(fam, b.birth(), rng.choice("MF"))
            rec = replace(rec, first_name=rng.choice(self.common_first), last_name=rng.choice(self.common_last))
            return Query(rec, "new", kind, ("common name",))
        s = rng.choice(self.pop.students)
        family = self.families[s.family]
        fam = _Family(id=s.family, group=s.group, surname=s.record.last_name, address=s.address,
                      district=s.record.district, buildings=(s.record.building,),
                      mother=s.record.mothers_maiden_name, city=s.record.birth_city,
                      language=s.record.native_language)
        taken = [f.record.first_name for f in family]
        if kind == "new_twin":
            rec = b.child(fam, _birth(s.record), rng.choice("MF"), taken)
            return Query(rec, "new", kind, (f"new twin of {s.student_id}",))
        d = b.sibling_birth([_birth(f.record) for f in family])
        if d is None:
            return None
        rec = b.child(fam, d, rng.choice("MF"), taken)
        return Query(rec, "new", kind, (f"new sibling of {s.student_id}",))


def generate_queries(population: Population, count: int = 1_000, seed: int = 1,
                     mix: QueryMix | None = None) -> list[Query]:
    """``count`` lookups with known truth, drawn by ``mix`` (reproducible for a seed)."""
    mix = mix or QueryMix()
    rng = random.Random(f"queries:{population.config.seed}:{seed}")
    maker = _QueryMaker(population, mix, rng)
    kinds = [f.name for f in fields(QueryMix) if f.name in RETURNING + NEW]
    weights = [getattr(mix, k) for k in kinds]
    out: list[Query] = []
    attempts = 0
    while len(out) < count and attempts < count * 50:
        attempts += 1
        kind = rng.choices(kinds, weights)[0]
        q = maker.new(kind) if kind in NEW else maker.returning(kind)
        if q is not None:
            out.append(q)
    return out
