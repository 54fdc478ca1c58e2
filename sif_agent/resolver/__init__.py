"""Student Resolver agent (state side)."""
