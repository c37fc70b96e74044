"""Features as of a cutoff: Ibis expressions (one module per family) run on an embedded engine."""
