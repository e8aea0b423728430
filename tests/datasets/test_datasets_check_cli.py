"""`mertbench data check` on tiny copies of all 14 tasks: counts, classes, damaged files named."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
from fake_copies import FAKE_BUILDERS, corrupt
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.datasets import split_lists
from mertbench.tasks import get_task

CLASSES = {"gtzan-genre": 10, "gtzan-beat": None, "mtt-tagging": 50, "gs-key": 24, "emo": None,
           "nsynth-instrument": 11, "nsynth-pitch": 128, "vocalset-technique": 10, "vocalset-singer": 20,
           "mtg-instrument": 3, "mtg-moodtheme": 3, "mtg-genre": 3, "mtg-top50": 3, "musdb-separation": None}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(split_lists, "_download", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")))


def _run(*args: str):
    res = CliRunner().invoke(app, ["data", "check", *args])
    return res, res.stdout


@pytest.mark.parametrize("task", sorted(FAKE_BUILDERS))
def test_check_healthy_and_damaged_copy(tmp_path, task):
    fc = FAKE_BUILDERS[task](tmp_path)
    res, out = _run(task, "--root", str(tmp_path), "--json")
    assert res.exit_code == 0, out
    report = json.loads(out)  # exactly one JSON object
    assert set(report) >= {"task", "root", "splits", "num_classes", "problems"}
    assert report["task"] == task and report["root"] == str(tmp_path)
    expected = dict(get_task(task).load(tmp_path).counts())
    assert report["splits"] == expected
    for split, n in fc.counts.items():
        if not task.startswith("vocalset-singer"):
            assert report["splits"][split] == n
    assert report["num_classes"] == CLASSES[task]
    assert report["usable"] is True and not [p for p in report["problems"] if p["severity"] == "error"]

    ds = get_task(task).load(tmp_path)
    deleted = Path(ds.splits["train"][0].path)
    broken = Path(ds.splits["test"][0].path)
    if task == "musdb-separation":
        deleted = Path(ds.splits["train"][0].label["vocals"])
    deleted.unlink()
    corrupt(broken)
    res, out = _run(task, "--root", str(tmp_path), "--json", "--full")
    assert res.exit_code == 1, out
    report = json.loads(out)
    assert report["usable"] is False
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    named = {p["file"] for p in errors}
    assert str(deleted) in named, errors
    assert str(broken) in named, errors


def test_known_defects_reported_not_fatal(tmp_path):
    FAKE_BUILDERS["mtt-tagging"](tmp_path / "mtt")
    res, out = _run("mtt-tagging", "--root", str(tmp_path / "mtt"), "--json", "--full")
    report = json.loads(out)
    assert res.exit_code == 0
    infos = [p for p in report["problems"] if p["severity"] == "info"]
    assert any("35644" in p["message"] and p["file"].endswith("norine_braun-now_and_zen-08-gently-117-146.mp3") for p in infos)
    assert sum(report["skipped"].values()) == 1

    from fake_copies import make_gtzan

    make_gtzan(tmp_path / "gtzan", layout="kaggle", corrupt_jazz=True)
    res, out = _run("gtzan-genre", "--root", str(tmp_path / "gtzan"), "--json", "--full")
    report = json.loads(out)
    assert res.exit_code == 0 and any("jazz.00054" in p["message"] for p in report["problems"] if p["severity"] == "info")


def test_wrong_split_list_and_text_output(tmp_path):
    from fake_copies import make_gtzan

    make_gtzan(tmp_path)
    (tmp_path / "valid_filtered.txt").write_text("blues/blues.00000.wav\nnot a path\n")
    res, out = _run("gtzan-genre", "--root", str(tmp_path))
    assert res.exit_code == 1
    assert "valid_filtered.txt" in out and "line 2: 'not a path'" in out and "NOT usable" in out
    assert "train" in out and "classes: 10" in out


def test_missing_root_and_unknown_task_json(tmp_path):
    res, out = _run("emo", "--root", str(tmp_path / "nowhere"), "--json")
    report = json.loads(out)
    assert res.exit_code == 1 and report["splits"] == {} and "dataset folder not found" in report["problems"][0]["message"]
    res, out = _run("no-such-task", "--json")
    assert res.exit_code == 1 and "unknown task" in json.loads(out)["problems"][0]["message"]


def test_specs_are_complete():
    import csv

    from mertbench.metrics import get_metric

    header = next(csv.reader(open(Path(__file__).resolve().parents[2] / "baselines" / "mert_table1.csv")))[1:] \
        if (Path(__file__).resolve().parents[2] / "baselines" / "mert_table1.csv").exists() else None
    columns = []
    for name in FAKE_BUILDERS:
        spec = get_task(name).spec
        assert spec.suite == "official" and spec.version >= 1
        assert spec.probe.lr_grid == [5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2]
        for m in spec.metrics:
            reg = get_metric(m.function)
            assert (reg.direction, reg.scale) == (m.direction, m.scale), (name, m.name)
        columns += list(spec.report_columns.values())
    expected = ["mtt_roc", "mtt_ap", "gs_key_refined_acc", "gtzan_genre_acc", "gtzan_beat_f1", "emo_r2_valence",
                "emo_r2_arousal", "nsynth_instrument_acc", "nsynth_pitch_acc", "vocalset_technique_acc",
                "vocalset_singer_acc", "mtg_instrument_roc", "mtg_instrument_ap", "mtg_moodtheme_roc", "mtg_moodtheme_ap",
                "mtg_genre_roc", "mtg_genre_ap", "mtg_top50_roc", "mtg_top50_ap", "musdb_sdr_vocals", "musdb_sdr_drums",
                "musdb_sdr_bass", "musdb_sdr_other"]
    assert sorted(columns) == sorted(expected)
    if header is not None:
        assert sorted(header) == sorted(expected)


def test_published_md5_checked_with_full(tmp_path):
    from fake_copies import make_giantsteps

    fc = make_giantsteps(tmp_path)
    audio = fc.files["test_audio"]
    audio.write_bytes(audio.read_bytes() + b"\x00" * 16)  # still decodes, but not the published file
    res, out = _run("gs-key", "--root", str(tmp_path), "--json")
    assert res.exit_code == 0  # checksums are only verified with --full
    res, out = _run("gs-key", "--root", str(tmp_path), "--json", "--full")
    errors = [p for p in json.loads(out)["problems"] if p["severity"] == "error"]
    assert res.exit_code == 1 and errors[0]["file"] == str(audio) and "checksum mismatch" in errors[0]["message"]


def test_tasks_command_lists_official_tasks_and_data(tmp_path, monkeypatch):
    from fake_copies import make_emo

    monkeypatch.setenv("MERTBENCH_DATA", str(tmp_path))
    make_emo(tmp_path / "EMO")
    res = CliRunner().invoke(app, ["tasks", "--suite", "official", "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)["tasks"]}
    assert sorted(rows) == sorted(FAKE_BUILDERS)
    assert rows["emo"]["data_found"] is True and rows["gtzan-genre"]["data_found"] is False
    assert rows["emo"]["counts"] == {"train": 504, "valid": 115, "test": 125}
    res, out = _run("emo", "--json")  # default root: $MERTBENCH_DATA/EMO
    assert res.exit_code == 0 and json.loads(out)["splits"] == {"train": 4, "valid": 2, "test": 3}
