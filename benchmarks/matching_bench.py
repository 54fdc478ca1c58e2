"""Matching quality and lookup latency on a seeded synthetic population (issue #6).

    .venv/bin/python benchmarks/matching_bench.py [--students 100000] [--queries 5000] [--seed 1] [--write]

Builds a population with ssid.population, indexes every version (alias) of every student in
the in-memory candidate source, then runs re-submissions with known truth through
ssid.matching.Matcher (default parameters and thresholds). Per query kind it reports, for the
automatic decisions: pairwise precision, recall and F1 (a true pair is a returning student and
its ID; a predicted pair is an automatic MATCH), the potential-match rate, whether the true
student was among the potential matches, the false-match rate (automatic matches to a wrong
student, or of a new student, per query) and the latency of one lookup (standardise, block,
score, decide) at p50 and p99. --write records the tables in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssid.matching import (DEFAULT_PARAMETERS, InMemoryIndex, Matcher, Outcome, TermFrequencies,  # noqa: E402
                           Thresholds)
from ssid.population import NEW, RETURNING, Query, generate_population, generate_queries  # noqa: E402

import results  # noqa: E402  (benchmarks/results.py)


@dataclass
class Tally:
    n: int = 0
    true_pairs: int = 0  # returning students
    tp: int = 0  # automatic match to the right student
    fp: int = 0  # automatic match to a wrong student (or of a new student)
    potential: int = 0
    potential_with_truth: int = 0
    no_match: int = 0
    truncated: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, q: Query, outcome: Outcome, student_id: str | None, returned: list[str], incomplete: bool,
            seconds: float) -> None:
        self.n += 1
        self.latencies.append(seconds)
        self.truncated += incomplete
        if q.truth != "new":
            self.true_pairs += 1
        if outcome == Outcome.MATCH:
            if student_id == q.truth:
                self.tp += 1
            else:
                self.fp += 1
        elif outcome == Outcome.POTENTIAL:
            self.potential += 1
            self.potential_with_truth += q.truth in returned
        else:
            self.no_match += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.true_pairs if self.true_pairs else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r else None

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else 0.0


def run(students: int, queries: int, seed: int, thresholds: Thresholds = Thresholds(),
        verbose: bool = False) -> tuple[dict[str, Tally], dict[str, float]]:
    t0 = time.perf_counter()
    pop = generate_population(students, seed=seed)
    qs = generate_queries(pop, queries, seed=seed + 1000)
    t1 = time.perf_counter()
    index = InMemoryIndex()
    current = []
    for s in pop.students:
        for version in s.versions:
            row = index.add(s.student_id, version)
        current.append(row.record)
    freqs = TermFrequencies.from_records(current)
    t2 = time.perf_counter()
    matcher = Matcher(DEFAULT_PARAMETERS, thresholds, index, freqs)
    tallies: dict[str, Tally] = defaultdict(Tally)
    candidates = []
    for q in qs:
        start = time.perf_counter()
        d = matcher.match(q.record)
        took = time.perf_counter() - start
        returned = [c.student_id for c in d.candidates]
        for t in (tallies[q.kind], tallies["all returning" if q.truth != "new" else "all new"], tallies["all"]):
            t.add(q, d.outcome, d.student_id, returned, d.explanation.incomplete, took)
        candidates.append(d.explanation.candidates_scored)
        if verbose and ((d.outcome == Outcome.MATCH and d.student_id != q.truth)
                        or (q.truth != "new" and d.outcome != Outcome.MATCH and q.kind in ("clean",))):
            best = d.explanation.candidates[0] if d.explanation.candidates else None
            print(f"  {q.kind:16} truth={q.truth} got {d.outcome} {d.student_id} {q.changes} "
                  f"best={best.student_id if best else None} w={best.weight if best else 0:.1f} {d.reason}")
            if q.truth != "new":
                s = pop.get(q.truth)
                print(f"      query {q.record}\n      truth {s.record}")
    t3 = time.perf_counter()
    info = {"generate_s": t1 - t0, "index_s": t2 - t1, "match_s": t3 - t2,
            "candidates_mean": statistics.fmean(candidates), "candidates_max": max(candidates),
            "index_keys": len(index.block_sizes()), "largest_block": max(index.block_sizes().values())}
    return dict(tallies), info


def fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(tallies: dict[str, Tally]) -> list[str]:
    order = [*RETURNING, "all returning", *NEW, "all new", "all"]
    lines = ["| query kind | n | precision | recall (auto) | F1 | potential rate | truth in potentials | "
             "no match | false matches | false-match rate | p50 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind in order:
        t = tallies.get(kind)
        if t is None:
            continue
        bold = "**" if kind.startswith("all") else ""
        lines.append(
            f"| {bold}{kind}{bold} | {t.n:,} | {fmt(t.precision)} | {fmt(t.recall)} | {fmt(t.f1)} | "
            f"{t.potential / t.n:.1%} | {t.potential_with_truth}/{t.potential} | {t.no_match / t.n:.1%} | "
            f"{t.fp} | {t.fp / t.n:.2%} | {t.percentile(.5):.2f} | {t.percentile(.99):.2f} |")
    return lines


def targets(tallies: dict[str, Tally]) -> str:
    """The issue's per-kind targets: precision >= 0.999, >= 98% automatic, <= 3% potential."""
    kinds = [k for k in RETURNING if k in tallies]
    low_p = [k for k in kinds if (tallies[k].precision or 1.0) < 0.999]
    low_r = [f"{k} {tallies[k].recall:.1%}" for k in kinds if (tallies[k].recall or 0) < 0.98]
    high_pot = [f"{k} {tallies[k].potential / tallies[k].n:.1%}" for k in kinds
                if tallies[k].potential / tallies[k].n > 0.03]
    def verdict(missed: list[str]) -> str:
        return "met by every kind" if not missed else "missed by " + ", ".join(missed)

    return (f"Issue targets per kind of returning lookup: automatic-match precision ≥ 0.999 {verdict(low_p)}; "
            f"≥ 98% matched automatically {verdict(low_r)}; potential-match rate ≤ 3% {verdict(high_pot)}. "
            "The misses are first-name errors on records that cannot be told from a twin (same birth date and "
            "surname, no full middle name or SSN to confirm) and lookups with two errors at once: they go to review "
            "with the true student listed, by design (a false match is the costlier error).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", default="100000", help="population size; several comma-separated sizes run in turn")
    ap.add_argument("--queries", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="print every false match and missed clean match")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    runs = []
    for size in (int(x) for x in str(args.students).split(",")):
        tallies, info = run(size, args.queries, args.seed, verbose=args.verbose)
        lines = table(tallies)
        print(f"{size:,} students, {args.queries:,} lookups")
        print("\n".join(lines))
        print({k: round(v, 2) for k, v in info.items()})
        runs.append((size, tallies, info, lines))
    if args.write:
        write(args, runs)


def write(args: argparse.Namespace, runs: list[tuple[int, dict[str, Tally], dict[str, float], list[str]]]) -> None:
    t = Thresholds()
    cmd = (f".venv/bin/python benchmarks/matching_bench.py --students {args.students} --queries {args.queries} "
           f"--seed {args.seed} --write")
    out = [
        "## Student matching engine (issue #6)", "",
        f"Machine: {results.machine()}.  ",
        f"Command: `{cmd}` ({time.strftime('%Y-%m-%d')}). One process, one core; in-memory candidate source "
        f"(`ssid.matching.InMemoryIndex`), so latency is standardise + block + score + decide + explanation, "
        f"without a database.", "",
        f"Synthetic students from `ssid.population` (seed {args.seed}: families, twins, siblings, alias history, "
        f"US name frequency skew) and {args.queries:,} lookups with known truth per population. Parameters "
        f"`{DEFAULT_PARAMETERS.version}` (hand-set defaults, not fitted to this data); thresholds T_match "
        f"{t.match:g} ({t.match_inexact_birth_date:g} when birth dates differ), T_review {t.review:g}, margin "
        f"{t.margin:g}, K {t.max_candidates}.",
        "",
        "Precision and recall are pairwise over automatic decisions: a predicted pair is an automatic MATCH, a true "
        "pair a returning student and its ID; potentials count as not matched. The false-match rate is wrong "
        "automatic matches per lookup (for new students: any automatic match).",
    ]
    for size, tallies, info, lines in runs:
        allr, alln, every = tallies["all returning"], tallies["all new"], tallies["all"]
        out += [
            "", f"### {size:,} students", "",
            f"Index: {info['index_keys']:,.0f} keys, largest block {info['largest_block']:.0f} rows; candidates "
            f"scored per lookup: mean {info['candidates_mean']:.1f}, max {info['candidates_max']:.0f}.", "",
            *lines, "",
            f"Returning students matched automatically: {fmt(allr.recall, 3)} (precision {fmt(allr.precision, 4)}); "
            f"new students matched automatically: {alln.fp} of {alln.n}; potential-match rate "
            f"{every.potential / every.n:.1%}; lookup p50 {every.percentile(.5):.2f} ms, "
            f"p99 {every.percentile(.99):.2f} ms.", "",
            targets(tallies),
        ]
    results.update_section("matching", out)


if __name__ == "__main__":
    main()
