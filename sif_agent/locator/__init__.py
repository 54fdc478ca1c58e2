"""Student Locator agent (ITC side)."""
