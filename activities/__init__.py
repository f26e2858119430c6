"""Activity functions: the workflow steps that touch storage; each one idempotent."""
