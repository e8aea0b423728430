"""Units of the rendered suite: tempo maps, key rule, measure runs, splits, MIDI/synthesis, MusicXML reader."""
from __future__ import annotations

import numpy as np
import pytest
from render_analysis import lowest_partial_midi

from mertbench.render.corpus import Candidate, Piece, key_from_final, parse_candidate
from mertbench.render.library import SPLIT_PATTERN, PieceLibrary
from mertbench.render.score import Score, Track
from mertbench.render.synth import SAMPLE_RATE, render, render_stems, synthesize
from mertbench.render.timing import TICKS_PER_SECOND, constant, quantize, ramp, step

# ---- timing ------------------------------------------------------------------------------------

def test_constant_tempo_map_times():
    tm = constant(start_ql=4.0, beat_ql=1.0, bpm=120.0, lead_s=0.25)
    assert tm.time(4.0) == pytest.approx(0.25)
    assert tm.time(5.5) == pytest.approx(0.25 + 0.75)
    assert tm.beats_until(2.0) == pytest.approx([0.25, 0.75, 1.25, 1.75])


def test_ramp_and_step_beats_are_sums_of_beat_periods():
    tm = ramp(0.0, 1.5, 60.0, 120.0, n_beats=4)  # dotted-quarter beats
    periods = np.diff([tm.beat_time(b) for b in range(7)])
    assert periods == pytest.approx([60 / 60, 60 / 75, 60 / 90, 60 / 105, 60 / 120, 60 / 120])
    assert tm.time(1.5 * 2 + 0.75) == pytest.approx(tm.beat_time(2) + 0.5 * 60 / 90)
    st = step(0.0, 1.0, 100.0, 150.0, at_beat=3)
    assert np.diff([st.beat_time(b) for b in range(6)]) == pytest.approx([0.6, 0.6, 0.6, 0.4, 0.4])
    # labels sit on the MIDI tick grid
    for t in st.beats_until(3.0):
        assert t * TICKS_PER_SECOND == pytest.approx(round(t * TICKS_PER_SECOND), abs=1e-3)
    assert quantize(0.00030) == pytest.approx(1 / TICKS_PER_SECOND)


# ---- corpus facts ------------------------------------------------------------------------------

def test_key_rule_from_signature_and_final_bass():
    # G major signature (1 sharp); final chord over G -> G major; over E -> E minor; over A -> modal
    chord = lambda bass: [[[0.0, 4.0, 67]], [[0.0, 4.0, 62]], [[0.0, 4.0, bass]]]  # noqa: E731
    assert key_from_final(chord(43), 1) == (7, "major")
    assert key_from_final(chord(40), 1) == (4, "minor")
    assert key_from_final(chord(45), 1) == (None, None)
    assert key_from_final(chord(43), None) == (None, None)


def test_regular_runs_skip_pickups_and_short_bars():
    p = Piece("x", "folk", "", [[[0.0, 1.0, 60]]], measures=[[0, 1], [1, 4], [5, 4], [9, 3.5], [12.5, 4], [16.5, 4]],
              meter=["4/4", 1.0, 4.0], sharps=0, tonic=0, mode="major", duration_ql=20.5)
    assert p.regular_runs() == [(1, 9), (12.5, 20.5)]


def test_split_assignment_is_seeded_disjoint_and_in_proportion():
    lib = PieceLibrary(seed=3, cache_dir=None)
    splits = {s: {c.key for c in lib.candidates("chorale", s)} for s in ("train", "valid", "test")}
    assert not (splits["train"] & splits["valid"]) and not (splits["train"] & splits["test"])
    assert not (splits["valid"] & splits["test"])
    n = sum(len(v) for v in splits.values())
    assert n == len(lib.order("chorale"))
    assert len(splits["train"]) / n == pytest.approx(SPLIT_PATTERN.count("train") / 10, abs=0.02)
    again = PieceLibrary(seed=3, cache_dir=None)
    assert [c.key for c in again.order("chorale")] == [c.key for c in lib.order("chorale")]
    other = PieceLibrary(seed=4, cache_dir=None)
    assert [c.key for c in other.order("chorale")] != [c.key for c in lib.order("chorale")]


@pytest.mark.parametrize("relpath", ["bach/bwv10.7.mxl", "bach/bwv267.mxl", "monteverdi/madrigal.3.1.mxl",
                                     "trecento/PMFC_01-Virtutibus laudabilis.xml"])
def test_fast_musicxml_reader_equals_music21(relpath):
    source = {"bach": "chorale", "monteverdi": "madrigal", "trecento": "trecento"}[relpath.split("/")[0]]
    cand = Candidate(source, relpath)
    fast = parse_candidate(cand)
    slow = parse_candidate(cand, use_fast_xml=False)
    assert "error" not in fast, fast
    for field in ("parts", "measures", "meter", "sharps", "tonic", "mode", "duration_ql"):
        assert fast[field] == slow[field], field


def test_parse_failure_is_reported_not_raised(tmp_path, monkeypatch):
    import mertbench.render.corpus as corpus

    monkeypatch.setattr(corpus, "corpus_root", lambda: tmp_path)
    (tmp_path / "bach").mkdir()
    (tmp_path / "bach" / "bwv0.mxl").write_bytes(b"not a zip")
    out = parse_candidate(Candidate("chorale", "bach/bwv0.mxl"))
    assert out["key"] == "bach/bwv0.mxl" and "parse error" in out["error"]


# ---- MIDI and synthesis --------------------------------------------------------------------------

def test_clip_length_rate_and_determinism():
    score = Score(1.5, [Track(0, [[0.1, 1.0, 60, 90], [0.5, 1.4, 64, 80]])])
    a, b = render(score, 3.0), render(score, 3.0)
    assert a.audio.shape == (int(1.5 * SAMPLE_RATE),) and a.audio.dtype == np.float32
    assert np.array_equal(a.audio, b.audio)
    assert a.peak < 0.98 and a.rms > 1e-3


def test_note_onset_and_release_timing():
    y = synthesize(Score(2.0, [Track(0, [[0.5, 1.0, 69, 100]])]))
    env = np.abs(y)
    first = np.argmax(env > 1e-3) / SAMPLE_RATE
    assert 0.5 <= first < 0.52  # attack starts at the note-on
    assert np.abs(y[: int(0.49 * SAMPLE_RATE)]).max() < 1e-4  # silence before it
    assert np.abs(y[int(1.2 * SAMPLE_RATE):]).max() > 1e-4  # release is not cut at the note-off


def test_pitch_bend_range_is_set_before_clip_time_zero():
    # RPN 0 = 12 semitones, full upward bend at t=0: a C4 key sounds as C5
    bent = Track(73, [[0.0, 1.5, 60, 100]], bends=[[0.0, 8191]], bend_range=12)
    y = synthesize(Score(1.5, [bent]))
    assert lowest_partial_midi(y, SAMPLE_RATE, 0.3, 1.2) == pytest.approx(72.0, abs=0.3)
    plain = synthesize(Score(1.5, [Track(73, [[0.0, 1.5, 60, 100]])]))
    assert lowest_partial_midi(plain, SAMPLE_RATE, 0.3, 1.2) == pytest.approx(60.0, abs=0.3)


def test_mixture_is_exact_sum_of_stems():
    stems = {"a": Score(1.0, [Track(0, [[0.0, 0.8, 60, 127]])]),
             "b": Score(1.0, [Track(33, [[0.0, 0.8, 36, 127]])]),
             "c": Score(1.0, [Track(0, [[0.0, 0.1, 36, 120]], drum=True)])}
    pcm, mix, limited = render_stems(stems, gain=40.0)  # gain far too high: the common scale kicks in
    assert limited
    total = np.sum([p.astype(np.int32) for p in pcm.values()], axis=0)
    assert np.array_equal(total, mix.astype(np.int32))
    assert np.abs(mix.astype(np.int32)).max() <= 32767 * 0.98 + 3
