"""The package version (imported by provenance and the reports without importing the package's API)."""
__version__ = "0.1.0"
