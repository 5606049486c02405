"""Helpers shared by tests/, bench/ and make targets; never imported by the platform itself."""
