"""A second example API, shaped unlike the demo: a lending library (see README.md)."""
