"""A member's rights under PIPL: a copy of their data, and its erasure, on request."""
