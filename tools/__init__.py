"""Developer tooling: Azurite control, sample data, local run. Not deployed."""
