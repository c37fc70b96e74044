"""Churn and customer-lifetime-value pipeline: who is likely to leave, what they are worth, and why."""

__version__ = "0.1.0"
