"""NYSIIS phonetic code, written here so blocking keys never change with a library upgrade.

NYSIIS (New York State Identification and Intelligence System, Taft 1970) was designed for
names and keeps more letters than Soundex, so blocks stay smaller. The code is a pure function
of its ASCII upper-case input: the same name gives the same key on every machine and version,
which matters because the keys are stored as indexed columns.
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("AEIOU")


@lru_cache(maxsize=65536)
def nysiis(name: str) -> str:
    """The NYSIIS code of ``name`` (letters only are used; '' for no letters), untruncated."""
    s = "".join(ch for ch in name.upper() if "A" <= ch <= "Z")
    if not s:
        return ""
    # 1. prefixes
    if s.startswith("MAC"):
        s = "MCC" + s[3:]
    elif s.startswith("KN"):
        s = "NN" + s[2:]
    elif s.startswith("K"):
        s = "C" + s[1:]
    elif s.startswith(("PH", "PF")):
        s = "FF" + s[2:]
    elif s.startswith("SCH"):
        s = "SSS" + s[3:]
    # 2. suffixes
    if s.endswith(("EE", "IE")):
        s = s[:-2] + "Y"
    elif s.endswith(("DT", "RT", "RD", "NT", "ND")):
        s = s[:-2] + "D"
    # 3. the first letter is kept; 4. the rest is translated
    key = [s[0]]
    n = len(s)
    i = 1
    while i < n:
        ch = s[i]
        nxt = s[i + 1] if i + 1 < n else ""
        if ch == "E" and nxt == "V":
            out = "AF"
            i += 1
        elif ch in _VOWELS:
            out = "A"
        elif ch == "Q":
            out = "G"
        elif ch == "Z":
            out = "S"
        elif ch == "M":
            out = "N"
        elif ch == "K":
            out = "N" if nxt == "N" else "C"
        elif ch == "S" and s[i + 1:i + 3] == "CH":
            out = "SSS"
            i += 2
        elif ch == "P" and nxt == "H":
            out = "FF"
            i += 1
        elif ch == "H" and (s[i - 1] not in _VOWELS or (nxt and nxt not in _VOWELS) or not nxt):
            out = key[-1]  # the previous (translated) letter: H is silent here
        elif ch == "W" and s[i - 1] in _VOWELS:
            out = key[-1]
        else:
            out = ch
        for c in out:
            if c != key[-1]:
                key.append(c)
        i += 1
    code = "".join(key)
    # 5. trailing S, 6. AY -> Y, 7. trailing A
    if len(code) > 1 and code.endswith("S"):
        code = code[:-1]
    if code.endswith("AY"):
        code = code[:-2] + "Y"
    if len(code) > 1 and code.endswith("A"):
        code = code[:-1]
    return code


_SPELLING = (("PH", "F"), ("X", "CS"), ("K", "C"), ("Y", "I"), ("Z", "S"))


@lru_cache(maxsize=65536)
def spelling_key(name: str) -> str:
    """One spelling for the common variant spellings of a name: PH→F, X→CS, K→C, Y→I, Z→S
    after the first letter, doubled letters collapsed, a final IE as I. SOFIA/SOPHIA,
    MARKUS/MARCUS, OLYVIA/OLIVIA, MELANY/MELANIE agree; LILY/LILA, EMMA/EMMY, ISABEL/ISABELLA
    (different names, possibly twins) do not. Unlike NYSIIS, vowels are kept."""
    s = "".join(ch for ch in name.upper() if "A" <= ch <= "Z")
    if len(s) < 2:
        return s
    rest = s[1:]
    for a, b in _SPELLING:
        rest = rest.replace(a, b)
    s = s[0] + rest
    s = "".join(ch for i, ch in enumerate(s) if i == 0 or ch != s[i - 1])
    return s[:-1] if s.endswith("IE") else s


@lru_cache(maxsize=1 << 16)
def phonetic(text: str) -> str:
    """Phonetic code of a (possibly multi-token) name: tokens joined, then NYSIIS."""
    return nysiis(text.replace(" ", "").replace("-", "").replace("'", ""))
