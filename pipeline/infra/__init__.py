"""The infrastructure layer: where artefacts live and how they are written, locks, threads, tracking, faults.

Nothing here knows about churn or value; the domain modules and the stages use it.
"""
