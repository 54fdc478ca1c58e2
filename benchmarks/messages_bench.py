"""Message-layer throughput: parse, validate, read and build for two typical messages.

    .venv/bin/python benchmarks/messages_bench.py [--seconds 2] [--write]

Messages: a typical StudentLocator SIF_Request (SIF_Example form, full demographics)
and a 20-candidate Ambiguous SIF_Response. Each operation runs in a loop on one core
(this process is single-threaded) for about --seconds; we report messages per second
and microseconds per message (best of three runs). --write rewrites the message-layer
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import lxml
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messages import Response, build, parse, parse_xml  # noqa: E402
from messages.samples import Samples  # noqa: E402
from messages.validate import check  # noqa: E402

import results  # noqa: E402  (benchmarks/results.py)

TARGET = 2000  # validated messages per second on one core (issue #2)


def messages() -> dict[str, bytes]:
    s = Samples("2.0r1")
    request = s.request_studentlocator_example()
    base = s.response_studentlocator_ambiguous()
    candidates = tuple(
        replace(s.candidate(f"AB{1000000 + i:07d}", str(95 - i), name, f"2017-04-{(i % 27) + 1:02d}"),
                local_id=f"{100200 + i}")
        for i, name in enumerate(["Amara", "Amarah", "Amira", "Ammara", "Mara"] * 4)
    )
    response: Response = replace(base, objects=candidates)
    return {"StudentLocator request": build(request), "20-candidate Ambiguous response": build(response)}


def rate(fn, data, seconds: float) -> float:
    """Messages per second: best of three runs of ~seconds/3 each."""
    best = 0.0
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(50):
                fn(data)
            n += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def operations(data: bytes):
    root = parse_xml(data)
    message = parse(data)
    return {
        "hardened parse (bytes → tree)": (lambda d: parse_xml(d), data),
        "validate (tree, strict XSD)": (lambda r: check(r), root),
        "full parse (bytes → validated typed message)": (lambda d: parse(d), data),
        "full parse, lenient": (lambda d: parse(d, lenient=True), data),
        "build (typed message → bytes)": (lambda m: build(m), message),
        "round trip (build + full parse)": (lambda m: parse(build(m)), message),
    }


def machine() -> str:
    return (f"{results.machine()}; lxml {lxml.__version__} "
            f"(libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    rows = []
    for label, data in messages().items():
        for op, (fn, arg) in operations(data).items():
            r = rate(fn, arg, args.seconds)
            rows.append((label, len(data), op, r))
            print(f"{label:34} {len(data):6d} B  {op:46} {r:10,.0f}/s  {1e6 / r:8.1f} µs")
    if args.write:
        write(rows)


def write(rows) -> None:
    lines = ["## Message layer (issue #2)", "",
             f"Machine: {machine()}.  ",
             f"Command: `.venv/bin/python benchmarks/messages_bench.py --write` "
             f"({time.strftime('%Y-%m-%d')}). One process, one core.", "",
             "| message | bytes | operation | messages/s | µs/message |",
             "| --- | ---: | --- | ---: | ---: |"]
    for label, size, op, r in rows:
        lines.append(f"| {label} | {size:,} | {op} | {r:,.0f} | {1e6 / r:.1f} |")
    full = [r for label, size, op, r in rows if op.startswith("full parse (")]
    lines += ["", f"Target: at least {TARGET:,} validated messages per second on one core. "
              f"Full validated parse reaches {min(full):,.0f}/s for the larger message "
              f"({min(full) / TARGET:.1f}× the target) and {max(full):,.0f}/s for the request "
              f"({max(full) / TARGET:.1f}×)."]
    results.update_section("messages", lines)


if __name__ == "__main__":
    main()
