"""Logic that spans collections."""
