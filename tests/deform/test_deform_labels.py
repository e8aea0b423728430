"""Label-aware deformations: beat times, keys, MIDI pitch, separation stems, invalid pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import find_peaks

from mertbench.deform import (
    DeformationInvalid,
    apply_to_example,
    check_valid,
    get_deformation,
    list_deformations,
    transform_label,
    transpose_key,
)
from mertbench.metrics.key import KEY_VOCABULARY
from mertbench.tasks.data import Example

SR = 24000


def _clicks(beats: np.ndarray, seconds: float) -> np.ndarray:
    x = np.zeros(int(seconds * SR), np.float32)
    for t in beats:
        i = int(round(t * SR))
        x[i:i + 48] = np.hanning(48)
    return x


def _onsets(y: np.ndarray) -> np.ndarray:
    """Click onsets: peaks of the envelope, walked back to where it first rises above 10 % of the peak."""
    env = np.abs(y)
    peaks, _ = find_peaks(env, height=0.3 * env.max(), distance=int(0.2 * SR))
    out = []
    for p in peaks:
        k = p
        while k > 0 and env[k - 1] > 0.1 * env[p]:
            k -= 1
        out.append(k / SR)
    return np.array(out)


@pytest.mark.parametrize("name, rate", [("time-stretch-0.9", 0.9), ("time-stretch-1.1", 1.1)])
def test_time_stretch_scales_beats_like_the_audio(name, rate):
    d = get_deformation(name)
    beats = np.arange(0.5, 7.6, 0.5) + 0.013  # off the sample grid of the window hops
    ex = Example(id="beat/1", path=Path("unused.wav"), label=beats.tolist(), meta={"downbeats": beats[::4].tolist()})
    out = apply_to_example(d, ex, ("render-beat", "beat"), _clicks(beats, 8.0), SR)
    assert abs(len(out.audio) - 8.0 * SR / rate) < SR * 0.01
    expected = beats / rate
    assert np.allclose(out.label, expected) and np.allclose(out.meta["downbeats"], expected[::4])
    found = _onsets(out.audio)
    assert len(found) == len(beats)
    assert np.abs(found - np.array(out.label)).max() < 0.004  # within 4 ms of the transformed labels
    assert np.abs(found - beats).max() > 0.1  # (and not where they were)


def test_time_stretch_labels_of_an_excerpt_keep_its_start():
    d = get_deformation("time-stretch-1.1")
    label, meta = transform_label(d, ("gtzan-beat", "beat"), [10.0, 11.1], {"tempo": 100.0}, start_s=10.0)
    assert label == pytest.approx([10.0, 11.0]) and meta["tempo"] == pytest.approx(110.0)


def test_key_labels_transpose_round_the_octave():
    assert transpose_key("A major", 2) == "B major"
    assert transpose_key("B major", 1) == "C major"
    assert transpose_key("C minor", -1) == "B minor"
    assert transpose_key("f# minor", 2) == "Ab minor"
    assert all(transpose_key(k, 12) == k for k in KEY_VOCABULARY)
    d = get_deformation("pitch-shift-plus-2")
    for task in (("gs-key", "key"), ("render-key", "key")):
        assert transform_label(d, task, "A major")[0] == "B major"
        assert transform_label(d, task, "Bb minor")[0] == "C minor"
    assert transform_label(get_deformation("pitch-shift-minus-1"), ("gs-key", "key"), "C major")[0] == "B major"


def test_pitch_shift_moves_audio_and_midi_label_together(sine):
    d = get_deformation("pitch-shift-plus-2")
    ex = Example(id="note/69", path=Path("x.wav"), label="69")
    out = apply_to_example(d, ex, ("render-pitch", "multiclass"), sine(440.0, 2.0, SR), SR)
    assert out.label == "71"
    n = len(out.audio)
    spec = np.abs(np.fft.rfft(out.audio * np.hanning(n), 8 * n))
    peak = np.fft.rfftfreq(8 * n, 1 / SR)[np.argmax(spec)]
    assert abs(peak - 493.88) < 2.0
    assert 440.0 * 2 ** ((int(out.label) - 69) / 12) == pytest.approx(493.88, abs=0.01)
    assert transform_label(get_deformation("pitch-shift-minus-2"), ("nsynth-pitch", "multiclass"), "60")[0] == "58"


def test_midi_pitch_pushed_out_of_range_is_an_invalid_example():
    with pytest.raises(DeformationInvalid, match="outside the 128 classes"):
        transform_label(get_deformation("pitch-shift-plus-2"), ("nsynth-pitch", "multiclass"), "127")
    with pytest.raises(DeformationInvalid, match="outside"):
        transform_label(get_deformation("pitch-shift-minus-1"), ("render-pitch", "multiclass"), "0")


def test_labels_that_do_not_move_are_kept():
    assert transform_label(get_deformation("pitch-shift-plus-2"), ("gtzan-genre", "multiclass"), "blues")[0] == "blues"
    beats = [0.5, 1.0]
    assert transform_label(get_deformation("pitch-shift-plus-2"), ("gtzan-beat", "beat"), beats)[0] == beats
    assert transform_label(get_deformation("time-stretch-0.9"), ("gs-key", "key"), "A minor")[0] == "A minor"


@pytest.mark.parametrize("name, task, reason", [
    ("pitch-shift-plus-1", ("render-emotion", "regression"), "valence"),
    ("time-stretch-1.1", ("emo", "regression"), "arousal"),
    ("time-stretch-0.9", ("render-tags", "multilabel"), "fast/slow"),
    ("time-stretch-0.9", ("mtt-tagging", "multilabel"), "fast/slow"),
    ("stem-drums-10db", ("musdb-separation", "separation"), "target class"),
])
def test_invalid_pairs_are_reported_with_a_reason(name, task, reason):
    d = get_deformation(name)
    valid, why = check_valid(d, task)
    assert not valid and reason in why and d.name in why and task[0] in why
    ex = Example(id="e", path=Path("x.wav"), label=[0.1, 0.2])
    with pytest.raises(DeformationInvalid, match=reason) as info:
        apply_to_example(d, ex, task, np.ones(SR, np.float32), SR, noise=np.ones(SR, np.float32))
    assert reason in info.value.reason


def test_fractional_pitch_shift_is_invalid_for_pitch_labels_only():
    from mertbench.deform.deformation import Deformation

    base = get_deformation("pitch-shift-plus-1")
    d = Deformation(base.spec.model_copy(update={"params": {"semitones": 0.5}}), base.family)
    for task in (("gs-key", "key"), ("render-pitch", "multiclass")):
        valid, why = check_valid(d, task)
        assert not valid and "semitone grid" in why
    assert check_valid(d, ("gtzan-genre", "multiclass"))[0]


def test_every_shipped_task_gets_a_verdict_for_every_deformation():
    from mertbench.tasks.registry import list_tasks

    tasks = list_tasks()
    assert len(tasks) >= 20
    verdicts = {(d.name, t.name): check_valid(d, t) for d in list_deformations() for t in tasks}
    assert all(isinstance(why, str) and why for _, why in verdicts.values())
    assert verdicts[("pitch-shift-plus-2", "gs-key")][0] and "transpose_key" in verdicts[("pitch-shift-plus-2", "gs-key")][1]
    assert "transpose_midi" in verdicts[("pitch-shift-plus-2", "nsynth-pitch")][1]
    assert not verdicts[("pitch-shift-plus-2", "render-emotion")][0]
    assert "scale_times" in verdicts[("time-stretch-0.9", "gtzan-beat")][1]


def _stems(tmp_path: Path) -> tuple[Example, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(1)
    stems = {name: (0.1 * rng.standard_normal(SR)).astype(np.float32) for name in ("vocals", "drums")}
    paths = {}
    for name, s in stems.items():
        paths[name] = str(tmp_path / f"{name}.wav")
        sf.write(paths[name], s, SR, subtype="FLOAT")
    mix = (stems["vocals"] + stems["drums"]).astype(np.float32)
    return Example(id="song", path=tmp_path / "mix.wav", label=paths), stems, mix


def test_separation_stems_are_deformed_like_the_mixture(tmp_path):
    ex, stems, mix = _stems(tmp_path)
    task = ("render-separation", "separation")
    for name in ("gain-minus-12db", "phone-band", "room-reverb"):
        d = get_deformation(name)
        out = apply_to_example(d, ex, task, mix, SR)  # stems read from the label's paths
        assert set(out.label) == {"vocals", "drums"}
        for stem, audio in stems.items():
            assert np.array_equal(out.label[stem], d.apply(audio, SR))
        # linear deformations: the deformed stems still sum to the deformed mixture
        assert np.allclose(out.label["vocals"] + out.label["drums"], out.audio, atol=1e-5)
    stretched = apply_to_example(get_deformation("time-stretch-1.1"), ex, task, mix, SR, stems=stems)
    assert all(len(s) == len(stretched.audio) for s in stretched.label.values())


def test_separation_targets_stay_clean_under_noise_and_codecs(tmp_path):
    ex, _, mix = _stems(tmp_path)
    task = ("render-separation", "separation")
    for name in ("white-noise-10db", "mp3-64kbps"):
        out = apply_to_example(get_deformation(name), ex, task, mix, SR)
        assert out.label == ex.label and not np.array_equal(out.audio, mix)
        assert "clean stems" in out.reason


def test_apply_to_example_records_provenance_and_is_reproducible():
    d = get_deformation("pink-noise-10db")
    x = np.sin(np.arange(SR) / 10).astype(np.float32)
    a = apply_to_example(d, Example(id="a", path=Path("a"), label="x"), ("gtzan-genre", "multiclass"), x, SR)
    b = apply_to_example(d, Example(id="a", path=Path("a"), label="x"), ("gtzan-genre", "multiclass"), x, SR)
    c = apply_to_example(d, Example(id="b", path=Path("b"), label="x"), ("gtzan-genre", "multiclass"), x, SR)
    assert a.audio.tobytes() == b.audio.tobytes() and not np.array_equal(a.audio, c.audio)
    assert a.provenance["hash"] == d.hash and a.provenance["example_seed"] != c.provenance["example_seed"]
    assert a.provenance["libraries"].keys() == {"numpy"}
