"""Console tools."""
