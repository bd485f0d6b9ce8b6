"""HTTP API handlers, one module per area."""
