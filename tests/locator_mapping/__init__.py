"""Tests of the Student Locator's field mapping and code translation."""
