"""Exports, archives and backups (read through search)."""
