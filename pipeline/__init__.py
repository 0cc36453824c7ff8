"""fixproof: prove that a Go security fix really shipped."""

__version__ = "0.1.0"
