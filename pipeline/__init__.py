"""Churn and customer-lifetime-value pipeline: who is likely to leave, what they are worth, and why."""

__version__ = "0.5.0"  # keep in step with pyproject.toml and CHANGELOG.md
