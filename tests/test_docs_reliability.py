"""docs/reliability.md names the tests that check each guarantee: every one must exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_reliability_md_exists():
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`((?:, `::\w+`)*)", text)
    assert len(named) >= 15
    missing = []
    for path, first, more in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
            continue
        body = file.read_text(encoding="utf-8")
        for test in [first] + re.findall(r"`(::\w+)`", more):
            if test and f"def {test[2:]}(" not in body:
                missing.append(path + test)
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
