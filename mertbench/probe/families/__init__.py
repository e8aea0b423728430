"""Probe task families (one module per family); see :mod:`mertbench.probe.registry`."""
