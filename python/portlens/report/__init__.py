"""Reports: read results, never engine internals."""
