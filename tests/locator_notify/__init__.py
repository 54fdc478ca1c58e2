"""Tests of sif_agent.locator.notify (SMTP notifications)."""
