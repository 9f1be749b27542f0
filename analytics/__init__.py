"""Statistics, rollups and alert rules (read through search)."""
