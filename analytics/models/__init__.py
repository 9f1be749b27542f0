"""The analytics app's models (tenant schema): statistics rollups and alert rules."""
