"""Piece selection: a seeded order of every corpus piece, its split, and lazy parallel parsing.

Splits are assigned per piece, once, for the whole suite: each source's candidates are put in a
seeded random order and the piece at rank ``r`` goes to ``SPLIT_PATTERN[r % 10]`` (6 train,
2 valid, 2 test in every 10). Every task therefore uses a piece in the same split, so no piece
is in two splits of one task, nor in a valid/test split of one task and the train split of
another; the pretraining corpus uses train pieces only.

Tasks ask for pieces of one source and split that satisfy a predicate, in order; pieces are
parsed on demand, a batch at a time, by the worker pool (and cached on disk by
:func:`mertbench.render.corpus.load_or_parse`).
"""
from __future__ import annotations

import zlib
from collections import Counter, deque
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from mertbench.errors import DataError
from mertbench.render.corpus import SOURCES, Candidate, Piece, list_candidates, load_or_parse

SPLITS = ("train", "valid", "test")
#: Split of the piece at rank r (mod 10) in its source's seeded order.
SPLIT_PATTERN = ("train", "train", "valid", "train", "test", "train", "train", "valid", "train", "test")

Mapper = Callable[[Callable[[Candidate], dict], list[Candidate]], Iterable[dict]]


def stable_int(text: str) -> int:
    """A platform-independent 32-bit integer for a string (CRC-32)."""
    return zlib.crc32(text.encode("utf-8"))


class PieceLibrary:
    """Seeded piece order, split assignment and on-demand parsing.

    Args:
        seed: the render seed.
        cache_dir: where parsed pieces are cached (None: no cache).
        mapper: ``mapper(fn, candidates)`` -> results in order (e.g. a pool's ``imap``).
        on_parsed: called with the number of candidates parsed after each batch (progress).
    """

    def __init__(self, seed: int, cache_dir: Path | None, mapper: Mapper | None = None,
                 on_parsed: Callable[[int], None] | None = None) -> None:
        self.seed = seed
        self.cache_dir = cache_dir
        self.mapper: Mapper = mapper or (lambda fn, items: map(fn, items))
        self.on_parsed = on_parsed
        self._order: dict[str, list[Candidate]] = {}
        self._parsed: dict[str, Piece | str] = {}
        #: parse failures per source and reason (each candidate counted once)
        self.failures: dict[str, Counter] = {}
        #: the task being planned; failures it meets are counted for it in :attr:`task_failures`
        self.current_task: str | None = None
        #: task -> "source: reason" -> candidates it skipped (deterministic per task)
        self.task_failures: dict[str, Counter] = {}
        self._seen: set[tuple[str, str]] = set()
        self._ahead: deque[Candidate] = deque()  # prefetched candidates, in submission order
        self._ahead_keys: set[str] = set()
        self._ahead_results: Iterator[dict] | None = None

    # ---- order and splits ----------------------------------------------------------------
    def order(self, source: str) -> list[Candidate]:
        """Candidates of ``source`` in the seeded order."""
        if source not in self._order:
            if source not in SOURCES:
                raise KeyError(f"unknown corpus source {source!r}; known: {sorted(SOURCES)}")
            cands = list_candidates(source)
            if not cands:
                raise DataError(f"music21 corpus: no files found for source {source!r} "
                                f"({', '.join(SOURCES[source].patterns)}); reinstall music21 with its corpus")
            perm = np.random.default_rng([self.seed, stable_int(source)]).permutation(len(cands))
            self._order[source] = [cands[i] for i in perm]
        return self._order[source]

    def split_of_rank(self, rank: int) -> str:
        return SPLIT_PATTERN[rank % len(SPLIT_PATTERN)]

    def split_of(self, source: str, key: str) -> str:
        """Split of a piece (by its candidate key)."""
        for r, c in enumerate(self.order(source)):
            if c.key == key:
                return self.split_of_rank(r)
        raise KeyError(key)

    def candidates(self, source: str, split: str) -> list[Candidate]:
        return [c for r, c in enumerate(self.order(source)) if self.split_of_rank(r) == split]

    # ---- parsing ---------------------------------------------------------------------------
    def _store(self, cand: Candidate, data: dict) -> None:
        if "error" in data:
            self._parsed[cand.key] = data["error"]
            self.failures.setdefault(cand.source, Counter())[data["error"]] += 1
        else:
            self._parsed[cand.key] = Piece.from_json(data)

    def prefetch(self, counts: dict[str, int]) -> None:
        """Start parsing the first ``counts[source]`` candidates of each source in the background.

        With a pool mapper (``imap``) the workers parse ahead while planning consumes results in
        order; results are identical to on-demand parsing (only the timing changes).
        """
        cands = [c for source, n in counts.items() for c in self.order(source)[:n] if c.key not in self._parsed]
        if not cands:
            return
        self._drain_ahead(None)  # finish any earlier prefetch first
        self._ahead = deque(cands)
        self._ahead_keys = {c.key for c in cands}
        self._ahead_results = iter(self.mapper(partial(load_or_parse, cache_dir=self.cache_dir), cands))

    def _drain_ahead(self, wanted: set[str] | None) -> int:
        """Consume prefetched results until every key in ``wanted`` is stored (None: all)."""
        n = 0
        while self._ahead and (wanted is None or wanted):
            cand = self._ahead.popleft()
            self._ahead_keys.discard(cand.key)
            assert self._ahead_results is not None
            self._store(cand, next(self._ahead_results))
            n += 1
            if wanted is not None:
                wanted.discard(cand.key)
        if not self._ahead:
            self._ahead_results = None
        return n

    def _parse(self, cands: list[Candidate]) -> None:
        todo = [c for c in cands if c.key not in self._parsed]
        if not todo:
            return
        done = self._drain_ahead({c.key for c in todo} & self._ahead_keys) if self._ahead else 0
        rest = [c for c in todo if c.key not in self._parsed]
        if rest:
            for cand, data in zip(rest, self.mapper(partial(load_or_parse, cache_dir=self.cache_dir), rest)):
                self._store(cand, data)
        if self.on_parsed:
            self.on_parsed(done + len(rest))

    def parsed_count(self) -> int:
        return len(self._parsed)

    def pieces(self, source: str, split: str, predicate: Callable[[Piece], bool] | None = None,
               batch: int = 12) -> Iterator[Piece]:
        """Pieces of ``source`` in ``split`` satisfying ``predicate``, in seeded order.

        Parses ``batch`` candidates at a time in parallel. Finite: ends when the source is
        exhausted (see :func:`cycle`).
        """
        cands = self.candidates(source, split)
        for i in range(0, len(cands), batch):
            chunk = cands[i:i + batch]
            self._parse(chunk)
            for c in chunk:
                p = self._parsed[c.key]
                if isinstance(p, Piece):
                    if predicate is None or predicate(p):
                        yield p
                elif self.current_task is not None and (self.current_task, c.key) not in self._seen:
                    self._seen.add((self.current_task, c.key))
                    self.task_failures.setdefault(self.current_task, Counter())[f"{source}: {p}"] += 1

    def take(self, source: str, split: str, n: int, predicate: Callable[[Piece], bool] | None = None,
             batch: int | None = None) -> list[Piece]:
        """The first ``n`` pieces of :meth:`pieces` (fewer if the source runs out)."""
        out: list[Piece] = []
        if n <= 0:
            return out
        for p in self.pieces(source, split, predicate, batch or max(2, min(32, int(n * 1.5) + 1))):
            out.append(p)
            if len(out) >= n:
                break
        return out


def cycle(pieces: list[Piece], what: str) -> Iterator[tuple[int, Piece]]:
    """Endless ``(use_count, piece)`` over ``pieces`` (round-robin); errors if there are none."""
    if not pieces:
        raise DataError(f"no usable piece found in the music21 corpus for {what}; "
                        "check that music21 and its corpus are installed")
    k = 0
    while True:
        yield k // len(pieces), pieces[k % len(pieces)]
        k += 1


class Rotation:
    """Round-robin over ``n`` pieces from a lazy piece iterator, replacing pieces that keep failing.

    ``next()`` gives ``(use, piece)`` (``use``: how often this piece was handed out before);
    ``failed(piece)`` counts a failure, and after ``max_failures`` the piece leaves the rotation
    and the next piece of the iterator (if any) takes its place.
    """

    def __init__(self, pieces: Iterator[Piece], n: int, what: str, max_failures: int = 3) -> None:
        self._source = pieces
        self._what = what
        self._max = max_failures
        self.active: list[Piece] = []
        self.retired = 0
        self._uses: Counter = Counter()
        self._fails: Counter = Counter()
        self._k = 0
        for _ in range(max(1, n)):
            if not self._add():
                break

    def _add(self) -> bool:
        piece = next(self._source, None)
        if piece is None:
            return False
        self.active.append(piece)
        return True

    def __bool__(self) -> bool:
        return bool(self.active)

    def next(self) -> tuple[int, Piece]:
        if not self.active:
            raise DataError(f"no usable piece left in the music21 corpus for {self._what}")
        piece = self.active[self._k % len(self.active)]
        self._k += 1
        use = self._uses[piece.key]
        self._uses[piece.key] += 1
        return use, piece

    def failed(self, piece: Piece) -> None:
        self._fails[piece.key] += 1
        if self._fails[piece.key] >= self._max and piece in self.active:
            self.active.remove(piece)
            self.retired += 1
            self._add()
