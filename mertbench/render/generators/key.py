"""render-key (like GiantSteps key): Bach chorales transposed to all 24 keys.

Label rule (exact, documented in docs/render.md): the piece's key is read from its key signature
and the lowest note of its final chord (major tonic or relative-minor tonic; a Dorian-notated
minor chorale, whose final lies a whole tone above the signature's major tonic, is read as minor),
and accepted only if the Krumhansl-Kessler key-finding of the whole piece agrees. The clip is
the opening (even uses) or the close (odd uses) of the chorale, also checked with the key
profile (the piece key must be one of the excerpt's two best-matching keys, which tolerates the
relative-key ambiguity of short excerpts but rejects modulating ones); it is transposed by
``target - tonic`` semitones (in -6..+5), so the label is the target key. Classes are balanced:
within each mode, every clip goes to the least-used tonic.
"""
from __future__ import annotations

from collections import Counter

from mertbench.render import instruments as gm
from mertbench.render.corpus import Piece, major_tonic
from mertbench.render.generators.common import (
    KEY_VOCABULARY,
    arrange,
    best_key,
    key_name,
    key_ranking,
    pitch_class_profile,
    qpm_to_bpm,
    span_for,
    window,
)
from mertbench.render.library import SPLITS, Rotation
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES
from mertbench.render.timing import constant

NAME = "render-key"
GAIN = 2.5


def chorale_key(piece: Piece) -> tuple[int, str] | None:
    """``(tonic, mode)`` of a chorale by the rule in the module docstring, or None."""
    if piece.sharps is None:
        return None
    if piece.mode is not None and piece.tonic is not None:
        cand = (piece.tonic, piece.mode)
    else:
        notes = [n for p in piece.parts for n in p]
        last = max(n[0] for n in notes)
        bass = int(min(n[2] for n in notes if n[0] <= last + 1e-9 < n[0] + n[1] + 1e-9)) % 12
        if bass != (major_tonic(piece.sharps) + 2) % 12:
            return None
        cand = (bass, "minor")
    if best_key(pitch_class_profile([n for p in piece.parts for n in p])) != cand:
        return None
    return cand


def _supports(piece: Piece, start: float, span: float, tonic: int, mode: str) -> bool:
    """The piece key is one of the two best-matching keys of the excerpt's pitch content."""
    ql = [n for p in piece.parts for n in window(p, start, start + span)]
    return (tonic, mode) in key_ranking(pitch_class_profile(ql))[:2]


def _excerpt(piece: Piece, use: int, span_ql: float) -> float:
    """Start of the opening (even ``use``) or closing (odd) excerpt."""
    if use % 2 == 0 or piece.duration_ql <= span_ql:
        return 0.0
    starts = [float(m[0]) for m in piece.measures if float(m[0]) + span_ql <= piece.duration_ql + 1e-6]
    return starts[-1] if starts else 0.0


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], vocabulary=list(KEY_VOCABULARY))
    for split in SPLITS:
        per_mode = 12 * size.counts[split]
        for mode in ("major", "minor"):
            n_pieces = -(-per_mode // size.reuse)
            rotation = Rotation(ctx.library.pieces("chorale", split, lambda p, m=mode: (k := chorale_key(p)) is not None
                                                   and k[1] == m), n_pieces, f"{NAME} ({split}, {mode})")
            if len(rotation.active) < n_pieces:
                plan.skipped[f"chorale/{split}/{mode}: {len(rotation.active)} of {n_pieces} wanted pieces exist "
                             "(reused more often)"] += 1
            used: Counter = Counter()
            made = attempts = 0
            while made < per_mode and rotation and attempts < 20 * per_mode + 100:
                use, piece = rotation.next()
                attempts += 1
                tonic, _ = chorale_key(piece)  # type: ignore[misc]
                rng = ctx.rng(NAME, split, mode, made, attempts)
                bpm = qpm_to_bpm(float(rng.uniform(60, 100)), piece.beat_ql)
                span = span_for(bpm, piece.beat_ql, size.clip_s)
                start = _excerpt(piece, use, span)
                if not _supports(piece, start, span, tonic, mode):
                    start = _excerpt(piece, use + 1, span)
                    if not _supports(piece, start, span, tonic, mode):
                        plan.skipped["excerpt does not support the piece key (redrawn)"] += 1
                        rotation.failed(piece)
                        continue
                least = min(used[t] for t in range(12))
                choices = [t for t in range(12) if used[t] == least]
                target = int(choices[int(rng.integers(len(choices)))])
                used[target] += 1
                shift = (target - tonic) % 12
                shift = shift - 12 if shift > 5 else shift
                tmap = constant(start, piece.beat_ql, bpm)
                parts = list(range(min(len(piece.parts), 4)))
                if rng.random() < 0.5:  # one instrument for the whole chorale
                    programs = [int(rng.choice(gm.ENSEMBLE_POOL))] * len(parts)
                else:
                    programs = [int(rng.choice(gm.ENSEMBLE_POOL)) for _ in parts]
                tracks = arrange(piece, parts, programs, tmap, size.clip_s, start, span, None, rng,
                                 transpose=shift, velocity=float(rng.uniform(60, 100)))
                label = key_name(target, mode)
                plan.items.append(Item(
                    uid=f"{mode}{made:04d}-{_slug(piece.key)}", split=split,
                    score=Score(size.clip_s, tracks), gain=GAIN, label=label,
                    meta={"piece": piece.key, "source": piece.source, "original_key": key_name(tonic, mode),
                          "transpose": shift, "bpm": round(bpm, 3), "programs": programs,
                          "excerpt": "opening" if start == 0.0 else "close"}))
                made += 1
            if rotation.retired:
                plan.skipped[f"chorale/{split}/{mode}: pieces replaced after 3 unusable excerpts"] += rotation.retired
            if made < per_mode:
                plan.skipped[f"{split}/{mode}: clips missing (no usable excerpt)"] += per_mode - made
    plan.items.sort(key=lambda i: (i.split, i.uid))
    return plan


def _slug(key: str) -> str:
    return gm.slug(key.split("/")[-1].rsplit(".", 1)[0])
