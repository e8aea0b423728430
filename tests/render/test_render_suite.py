"""End to end: a tiny render of the suite, its manifests, labels, splits, levels and guarantees."""
from __future__ import annotations

import json
import os
import shutil

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from render_analysis import audio_key, chroma, lowest_partial_midi, onset_times, read_rows

from mertbench.errors import DataError
from mertbench.render import SIZES, TASK_NAMES, render_suite
from mertbench.render.generators.common import key_name
from mertbench.render.generators.emotion import arousal
from mertbench.render.generators.tags import tags_of
from mertbench.render.synth import PEAK_LIMIT, SAMPLE_RATE
from mertbench.tasks import get_task

pytestmark = pytest.mark.slow
SPLITS = ("train", "valid", "test")


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _all_rows(root, task):
    return {s: read_rows(root, task, s) for s in SPLITS}


def test_every_task_and_the_corpus_are_written_and_load_as_manifest_tasks(tiny_render):
    out, report = tiny_render
    assert sorted(report.planned_tasks) == sorted(TASK_NAMES + ["pretrain"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 0 and summary["size"] == "tiny" and summary["sample_rate"] == SAMPLE_RATE
    assert summary["versions"]["soundfont"]["name"] == "TimGM6mb.sf2"
    for name in TASK_NAMES:
        task = get_task(name)
        assert task.spec.suite == "render" and task.spec.dataset.loader == "manifest"
        ds = task.load(out / name)
        marker = json.loads((out / name / "render.json").read_text())
        assert ds.counts() == marker["counts"] == summary["tasks"][name]["counts"]
        per_class = {"render-key": 24, "render-instrument": 15, "render-genre": 7, "render-performer": 16,
                     "render-technique": 8}.get(name, 1)
        assert ds.counts() == {s: n * per_class for s, n in SIZES["tiny"][name].counts.items()}, name
        for _split, exs in ds.splits.items():
            for ex in exs:
                assert ex.path.is_file(), ex.path
                if task.spec.type == "separation":
                    assert sorted(ex.label) == sorted(task.spec.labels.names)
                    assert all(os.path.isfile(p) for p in ex.label.values())
        if task.spec.labels.vocabulary is not None:  # the spec and the generator agree on classes
            assert ds.vocabulary == task.spec.labels.vocabulary == marker["vocabulary"]
    corpus = [json.loads(line) for line in (out / "pretrain" / "manifest.jsonl").read_text().splitlines()]
    assert len(corpus) == summary["tasks"]["pretrain"]["counts"]["train"] > 0
    assert all((out / "pretrain" / r["audio"]).is_file() for r in corpus)


def test_audio_format_levels_and_stems(tiny_render):
    out, _ = tiny_render
    wavs = sorted(out.rglob("*.wav"))
    assert len(wavs) > 200
    for path in wavs:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16"), path
        y, _ = sf.read(str(path), dtype="float32")
        peak, rms = float(np.abs(y).max()), float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert peak <= PEAK_LIMIT + 1e-4, (path, peak)  # never clipped
        # never silent: the softest clips (velocity-25 notes of slow-attack pads) peak near -40 dBFS
        assert peak > 10 ** (-50 / 20) and rms > 10 ** (-65 / 20), (path, rms, peak)
    for row in (r for rows in _all_rows(out, "render-separation").values() for r in rows):
        mix, _ = sf.read(str(out / "render-separation" / row["audio"]), dtype="int16")
        stems = [sf.read(str(out / "render-separation" / p), dtype="int16")[0].astype(np.int32)
                 for p in row["label"].values()]
        assert np.array_equal(np.sum(stems, axis=0), mix.astype(np.int32))


def test_no_piece_or_preset_in_two_splits(tiny_render):
    out, _ = tiny_render
    eval_pieces = set()
    for name in TASK_NAMES:
        rows = _all_rows(out, name)
        for field in ("piece", "program"):
            if field == "program" and name not in ("render-pitch", "render-instrument", "render-technique"):
                continue
            sets = {s: {r[field] for r in rows[s] if field in r} for s in SPLITS}
            if not any(sets.values()):
                continue
            assert not (sets["train"] & sets["valid"]), (name, field)
            assert not (sets["train"] & sets["test"]), (name, field)
            assert not (sets["valid"] & sets["test"]), (name, field)
        eval_pieces |= {r["piece"] for s in ("valid", "test") for r in rows[s] if "piece" in r}
    corpus = {json.loads(line)["piece"] for line in (out / "pretrain" / "manifest.jsonl").read_text().splitlines()}
    assert corpus and not (corpus & eval_pieces)


def test_pitch_labels_match_the_measured_fundamental(tiny_render):
    out, _ = tiny_render
    rows = [r for rows in _all_rows(out, "render-pitch").values() for r in rows]
    assert len(rows) >= 12
    for r in rows:
        y, sr = sf.read(str(out / "render-pitch" / r["audio"]), dtype="float32")
        assert lowest_partial_midi(y, sr, 0.2, 1.2) == pytest.approx(int(r["label"]), abs=0.5), r


def test_key_labels_follow_the_audio(tiny_render):
    out, _ = tiny_render
    scores, pairs = [], {}
    for _split, rows in _all_rows(out, "render-key").items():
        for r in rows:
            y, sr = sf.read(str(out / "render-key" / r["audio"]), dtype="float32")
            scores.append(mir_eval.key.weighted_score(r["label"], key_name(*audio_key(y, sr))))
            pairs.setdefault(r["piece"], []).append((r, y))
    # A plain chroma key finder agrees with the labels as it does on real music; shuffled labels
    # would score about 0.1.
    assert np.mean(scores) >= 0.6, np.mean(scores)
    # Two renders of one chorale: the chroma moves by exactly the transposition interval.
    shifts_ok = shifts = 0
    for clips in pairs.values():
        for (ra, ya), (rb, yb) in zip(clips, clips[1:]):
            if ra["excerpt"] != rb["excerpt"]:
                continue
            ca, cb = chroma(ya, SAMPLE_RATE), chroma(yb, SAMPLE_RATE)
            ca, cb = ca / np.linalg.norm(ca), cb / np.linalg.norm(cb)
            best = int(np.argmax([np.dot(np.roll(ca, k), cb) for k in range(12)]))
            shifts += 1
            shifts_ok += best == (rb["transpose"] - ra["transpose"]) % 12
    assert shifts >= 5 and shifts_ok / shifts >= 0.8, (shifts_ok, shifts)


def test_beat_labels_coincide_with_onsets(tiny_render):
    out, _ = tiny_render
    hits = control = total = 0
    for rows in _all_rows(out, "render-beat").values():
        for r in rows:
            y, sr = sf.read(str(out / "render-beat" / r["audio"]), dtype="float32")
            on = onset_times(y, sr)
            beats = np.asarray(r["label"])
            assert np.all(np.diff(beats) > 60 / 200) and beats[0] >= 0 and beats[-1] < r["duration"]
            assert set(r["downbeats"]) <= set(r["label"])
            shifted = beats + np.median(np.diff(beats)) / 4  # a quarter of a beat late
            hits += int((np.abs(beats[:, None] - on[None, :]).min(axis=1) < 0.05).sum())
            control += int((np.abs(shifted[:, None] - on[None, :]).min(axis=1) < 0.05).sum())
            total += len(beats)
    assert hits / total >= 0.8 and control / total <= 0.4, (hits / total, control / total)


def test_labels_follow_their_definitions(tiny_render):
    out, _ = tiny_render
    emo = [r for rows in _all_rows(out, "render-emotion").values() for r in rows]
    for r in emo:
        assert r["label"][0] == pytest.approx(arousal(r["bpm"], r["velocity"]), abs=1e-5)
        assert r["label"][1] == pytest.approx(np.clip(0.5 * (1 if r["mode"] == "major" else -1)
                                                      + 0.5 * (r["mean_pitch"] - 64) / 16, -1, 1), abs=1e-3)
    # the register really follows the drawn transposition (no instrument-range re-centring)
    assert np.corrcoef([r["transpose"] for r in emo], [r["mean_pitch"] for r in emo])[0, 1] > 0.7
    for r in (r for rows in _all_rows(out, "render-tags").values() for r in rows):
        drums = "drums" in r["label"]
        assert r["label"] == tags_of(r["programs"], drums, r["bpm"], r["mode"], r["onsets_per_s"])
    for r in (r for rows in _all_rows(out, "render-instrument").values() for r in rows):
        assert r["label"] == r["family"]


def test_same_seed_renders_identical_files_and_rerun_does_nothing(tiny_render, tmp_path, piece_cache):
    out, _ = tiny_render
    other = tmp_path / "again"
    render_suite(other, size="tiny", seed=0, workers=2, cache_dir=piece_cache, progress=False)
    files = _files(out)
    assert files == _files(other)
    for rel in files:
        assert (out / rel).read_bytes() == (other / rel).read_bytes(), rel
    stamps = {rel: (other / rel).stat().st_mtime_ns for rel in files if rel != "summary.json"}
    again = render_suite(other, size="tiny", seed=0, workers=2, cache_dir=tmp_path / "no-cache-needed",
                         progress=False)
    assert again.rendered_items == 0 and again.planned_tasks == []
    assert sorted(again.skipped_tasks) == sorted(TASK_NAMES + ["pretrain"])
    assert not (tmp_path / "no-cache-needed").exists()  # a no-op run does not even parse the corpus
    assert {rel: (other / rel).stat().st_mtime_ns for rel in stamps} == stamps


def test_other_seed_changes_content(tiny_render, tmp_path, piece_cache):
    out, _ = tiny_render
    other = tmp_path / "seed1"
    render_suite(other, size="tiny", seed=1, workers=1, cache_dir=piece_cache, progress=False,
                 tasks=["render-pitch"])
    a = (out / "render-pitch" / "train.jsonl").read_text()
    b = (other / "render-pitch" / "train.jsonl").read_text()
    assert a != b


def test_interrupted_render_leaves_no_partial_files_and_resumes(tiny_render, tmp_path, piece_cache, monkeypatch):
    import mertbench.render.runner as runner

    out, _ = tiny_render
    work = tmp_path / "resume"
    tasks = ["render-pitch", "render-separation"]
    real = runner.ensure_item
    calls = {"n": 0}

    def flaky(job):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt  # as if Ctrl-C arrived in the middle of the render
        return real(job)

    monkeypatch.setattr(runner, "ensure_item", flaky)
    with pytest.raises(KeyboardInterrupt):
        render_suite(work, size="tiny", seed=0, workers=1, cache_dir=piece_cache, progress=False, tasks=tasks)
    # Longest items go first: the 7 separation tracks finished (that task is complete and in place),
    # then one pitch note; render-pitch has no folder under its final name yet.
    n_sep = len(read_rows(out, "render-separation", "train") + read_rows(out, "render-separation", "valid")
                + read_rows(out, "render-separation", "test"))
    assert n_sep == 7
    assert get_task("render-separation").load(work / "render-separation").counts() == \
        get_task("render-separation").load(out / "render-separation").counts()
    assert not (work / "render-pitch").exists()
    with pytest.raises(DataError, match="mertbench data render"):
        get_task("render-pitch").load(work / "render-pitch")
    partial = sorted(p for p in (work / ".partial" / "render-pitch").rglob("*") if p.is_file())
    assert len(partial) == 1 and not partial[0].name.startswith(".")  # one whole file, no temporary one
    assert sf.info(str(partial[0])).frames == 2 * SAMPLE_RATE
    monkeypatch.setattr(runner, "ensure_item", real)
    (work / ".partial" / "render-pitch" / "audio" / "train" / ".junk.wav.tmp-x.wav").write_bytes(b"half")
    report = render_suite(work, size="tiny", seed=0, workers=1, cache_dir=piece_cache, progress=False, tasks=tasks)
    assert report.skipped_tasks == ["render-separation"] and report.planned_tasks == ["render-pitch"]
    assert report.reused_items == 1 and report.pruned_files == 1
    for name in tasks:
        for rel in _files(out / name):
            assert (out / name / rel).read_bytes() == (work / name / rel).read_bytes(), rel
    assert not (work / ".partial").exists()

def test_stale_task_is_rerendered_and_old_files_removed(tiny_render, tmp_path, piece_cache):
    out, _ = tiny_render
    work = tmp_path / "stale"
    shutil.copytree(out / "render-instrument", work / "render-instrument")
    marker = json.loads((work / "render-instrument" / "render.json").read_text())
    marker["plan_hash"] = "outdated"
    (work / "render-instrument" / "render.json").write_text(json.dumps(marker))
    (work / "render-instrument" / "audio" / "train" / "old_deadbeef.wav").write_bytes(b"RIFF")
    report = render_suite(work, size="tiny", seed=0, workers=1, cache_dir=piece_cache, progress=False,
                          tasks=["render-instrument"])
    assert report.rendered_items == 0 and report.reused_items > 0 and report.pruned_files == 1
    assert _files(work / "render-instrument") == _files(out / "render-instrument")
