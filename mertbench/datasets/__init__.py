"""Loaders for the official dataset layouts (one module per dataset)."""
