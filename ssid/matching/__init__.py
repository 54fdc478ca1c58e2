"""Pure matching engine: standardise, block, score, decide (spec/matching.md).

The database layer implements :class:`CandidateSource` and calls
``Matcher(params, thresholds, source, frequencies).match(StudentRecord(...)) -> Decision``.
No database, event loop, XML or message code is imported here (see .importlinter).
The modules are compiled with mypyc where the project was installed with a C compiler
(``native``: which build runs, and why).
"""

from .native import choose as _choose

_choose()  # before any module it may compile is imported


from .blocking import (Block, BlockingConfig, BlockRequest, CandidateRow, CandidateSource, InMemoryIndex,
                       KeyReport, Narrowing, QueryKey, query_keys, record_keys)
from .compare import FIELD_LEVELS, Level, compare
from .decide import POSSIBLE_TWIN, SSN_CONFLICT, Outcome, ScoredCandidate, Thresholds, confidence, decide
from .engine import Decision, Matcher
from .explain import Explanation
from .standardize import StandardizeConfig, Standardized, StudentRecord, standardize
from .weights import DEFAULT_PARAMETERS, FieldScore, LevelParam, Parameters, TermFrequencies

__all__ = [
    "Block", "BlockingConfig", "BlockRequest", "CandidateRow", "CandidateSource", "InMemoryIndex", "KeyReport",
    "Narrowing", "QueryKey", "query_keys", "record_keys", "FIELD_LEVELS", "Level", "compare", "POSSIBLE_TWIN",
    "SSN_CONFLICT", "Outcome", "ScoredCandidate", "Thresholds", "confidence", "decide", "Decision", "Matcher",
    "Explanation", "StandardizeConfig", "Standardized", "StudentRecord", "standardize", "DEFAULT_PARAMETERS",
    "FieldScore", "LevelParam", "Parameters", "TermFrequencies",
]
