"""The deformation vocabulary as data: shipped families, strict schema, hashes."""
from __future__ import annotations

import copy

import pytest
import yaml

from mertbench.deform import get_deformation, list_deformations, load_families, parse_family
from mertbench.deform import ops as deform_ops
from mertbench.deform.deformation import Deformation
from mertbench.errors import SpecError
from mertbench.paths import resource_dir

FAMILY = {
    "family": "gain", "version": 1, "description": "x", "kind": "gain",
    "labels": {"types": {t: "keep" for t in ("multiclass", "multilabel", "regression", "key", "beat", "separation")}},
    "deformations": [{"name": "gain-3db", "params": {"gain_db": 3}}],
}


def test_shipped_vocabulary_has_the_issue_21_deformations():
    names = {d.name for d in list_deformations()}
    for name in ["identity", "white-noise-20db", "white-noise-10db", "white-noise-0db", "pink-noise-20db",
                 "pink-noise-10db", "pink-noise-0db", "stem-drums-10db", "gain-minus-12db", "lowpass-4khz",
                 "highpass-500hz", "phone-band", "mp3-64kbps", "mp3-32kbps", "vorbis-64kbps", "room-reverb",
                 "time-stretch-0.9", "time-stretch-1.1", "pitch-shift-minus-2", "pitch-shift-minus-1",
                 "pitch-shift-plus-1", "pitch-shift-plus-2"]:
        assert name in names
    assert resource_dir("deformations").name == "deformations"
    phone = get_deformation("phone-band").params
    assert (phone.type, phone.low_hz, phone.high_hz) == ("bandpass", 300, 3400)
    assert all(d.family.family == p.stem for d in list_deformations()
               for p in [resource_dir("deformations") / f"{d.family.family}.yaml"])


def test_unknown_name_suggests_close_matches():
    with pytest.raises(Exception, match="mp3-64kbps"):
        get_deformation("mp3-64kbs")


@pytest.mark.parametrize("where, key", [((), "colour"), (("deformations", 0), "sed"),
                                        (("deformations", 0, "params"), "gain"), (("labels",), "task")])
def test_unknown_key_is_an_error_naming_the_field(where, key):
    data = copy.deepcopy(FAMILY)
    node = data
    for w in where:
        node = node[w]
    node[key] = 1
    with pytest.raises(SpecError, match=rf"field .*{key}.*unknown key"):
        parse_family(data, "test.yaml")


def test_every_task_type_needs_a_rule_and_invalid_needs_a_reason():
    data = copy.deepcopy(FAMILY)
    del data["labels"]["types"]["beat"]
    with pytest.raises(SpecError, match="missing.*beat"):
        parse_family(data)
    data = copy.deepcopy(FAMILY)
    data["labels"]["types"]["beat"] = "invalid"
    with pytest.raises(SpecError, match="needs a reason"):
        parse_family(data)
    data = copy.deepcopy(FAMILY)
    data["labels"]["types"]["key"] = "transpose_key"  # not a transform a gain can declare
    with pytest.raises(SpecError, match="transpose_key.*not defined for kind 'gain'"):
        parse_family(data)


def test_params_are_checked_against_the_kind():
    data = copy.deepcopy(FAMILY)
    data["kind"] = "codec"
    data["deformations"] = [{"name": "ogg-70", "params": {"format": "ogg", "bitrate_kbps": 70}}]
    with pytest.raises(SpecError, match="Vorbis bit rate"):
        parse_family(data)
    data["kind"] = "filter"
    data["deformations"] = [{"name": "bp", "params": {"type": "bandpass", "cutoff_hz": 300}}]
    with pytest.raises(SpecError, match="low_hz and high_hz"):
        parse_family(data)


def _one(data) -> Deformation:
    fam = parse_family(data)
    return Deformation(fam.deformations[0], fam)


def test_hash_covers_what_changes_the_audio(monkeypatch):
    base = _one(FAMILY).hash
    changed = copy.deepcopy(FAMILY)
    changed["deformations"][0]["params"]["gain_db"] = 4
    assert _one(changed).hash != base
    changed = copy.deepcopy(FAMILY)
    changed["deformations"][0]["seed"] = 1
    assert _one(changed).hash != base
    changed = copy.deepcopy(FAMILY)
    changed["deformations"][0]["version"] = 2
    assert _one(changed).hash != base
    renamed = copy.deepcopy(FAMILY)
    renamed["deformations"][0]["name"] = "louder"
    renamed["deformations"][0]["description"] = "another text"
    assert _one(renamed).hash == base  # the name changes no audio
    monkeypatch.setattr(deform_ops, "library_versions", lambda kind: {"numpy": "0.0.0"})
    assert _one(FAMILY).hash != base  # nor does a library upgrade go unnoticed


def test_provenance_names_the_library_and_its_version():
    import pedalboard
    import scipy

    prov = get_deformation("mp3-32kbps").provenance()
    assert prov["libraries"] == {"pedalboard": pedalboard.__version__}
    assert prov["hash"] == get_deformation("mp3-32kbps").hash and prov["family"] == "codec"
    assert get_deformation("phone-band").provenance()["libraries"] == {"scipy": scipy.__version__}


def test_duplicate_names_across_families_are_errors(tmp_path):
    for fam in ("gain", "other"):
        data = copy.deepcopy(FAMILY)
        data["family"] = fam
        (tmp_path / f"{fam}.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="gain-3db.*both"):
        load_families(tmp_path)


def test_family_must_match_its_file_name(tmp_path):
    (tmp_path / "misnamed.yaml").write_text(yaml.safe_dump(FAMILY))
    with pytest.raises(SpecError, match="must equal the file name"):
        load_families(tmp_path)


def test_docs_list_every_family_and_the_rules():
    from pathlib import Path

    from mertbench.deform.spec import RULES_OF_KIND

    text = (Path(__file__).resolve().parents[2] / "docs" / "robustness.md").read_text(encoding="utf-8")
    for fam in load_families():
        assert f"| {fam.family} " in text, fam.family
    for rule in set().union(*RULES_OF_KIND.values()) | {"keep", "invalid"}:
        assert f"| `{rule}` |" in text, rule
