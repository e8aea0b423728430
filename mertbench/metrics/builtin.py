"""Imports every metric module so that their ``@register_metric`` decorators run.

Registered here (see each module for the exact definition and reference library):

- :mod:`mertbench.metrics.tagging`: ``roc_auc_macro``, ``ap_macro`` (sklearn, macro over tags).
- :mod:`mertbench.metrics.regression`: ``r2`` (sklearn ``r2_score``, per dimension or averaged).
- :mod:`mertbench.metrics.key`: ``key_weighted_score``, ``key_accuracy`` (mir_eval.key) and the
  GiantSteps song-level ensembling helpers.
- :mod:`mertbench.metrics.beat`: ``beat_f_measure`` (MARBLE, pooled), ``beat_f_measure_mir_eval``
  and :func:`~mertbench.metrics.beat.dbn_decode` (madmom-equivalent DBN beat decoder).
- :mod:`mertbench.metrics.separation`: ``sdr_global`` (MARBLE/MDX) and ``sdr_museval`` (BSSEval v4).

``accuracy`` lives in :mod:`mertbench.metrics` itself.
"""
from mertbench.metrics import beat, key, regression, separation, tagging  # noqa: F401

__all__ = ["beat", "key", "regression", "separation", "tagging"]
