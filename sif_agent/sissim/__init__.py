"""A simulated district SIS (`slf sis-sim`): publishes students, records the state IDs sent back.

For tests, the demonstration and vendors' comparisons. It sits on the agent runtime like
the locator and resolver; nothing in the runtime imports it.
"""

from .agent import OBJECTS, STYLES, Planned, SisSimulator, plan, sim_settings
from .store import RESULT_COLUMNS, Result, Results, ResultsFileError, read_results, results_csv
from .students import COLUMNS, Student, StudentFileError, generate, parse_csv, parse_csv_with, read_csv, to_csv, write_csv

__all__ = [
    "COLUMNS", "OBJECTS", "RESULT_COLUMNS", "STYLES", "Planned", "Result", "Results", "ResultsFileError",
    "SisSimulator", "Student", "StudentFileError", "generate", "parse_csv", "plan", "read_csv",
    "read_results", "results_csv", "sim_settings", "to_csv", "write_csv",
]
