"""Frozen-feature extraction into an on-disk, resumable, memory-mapped cache.

``extract_features(model, task)`` runs the encoder over every split with the task's windowing and
stores every hidden-state layer: the time-mean of each window for clip-level tasks (``[rows, L, D]``,
rows = windows) or every frame for frame-level tasks (beat, separation; rows = frames). See
:mod:`mertbench.extract.cache` for the layout and the key, :mod:`mertbench.extract.windowing` for the
audio preparation and ``docs/probing.md`` for the user guide.
"""
from mertbench.extract.cache import FeatureCache, SplitFeatures
from mertbench.extract.runner import Extraction, ExtractOptions, extract_features, feature_level
from mertbench.extract.windowing import Windowing, prepare_example, windowing_for

__all__ = ["ExtractOptions", "Extraction", "FeatureCache", "SplitFeatures", "Windowing", "extract_features",
           "feature_level", "prepare_example", "windowing_for"]
