"""``hf://`` addresses are validated by wildpose itself."""

from __future__ import annotations

import pytest

from wildpose.errors import ModelError
from wildpose.hub.hf import parse_hf_spec


@pytest.mark.parametrize(
    "spec, repo_id, filename",
    [
        ("hf://org/repo/model.pt", "org/repo", "model.pt"),
        ("hf://my-org/clamp.v2_x/weights/best.pt", "my-org/clamp.v2_x", "weights/best.pt"),
        ("hf://o/r/a..b.pt", "o/r", "a..b.pt"),  # '..' inside a name is not a path step
    ],
)
def test_valid_addresses(spec, repo_id, filename):
    assert parse_hf_spec(spec) == (repo_id, filename)


@pytest.mark.parametrize(
    "spec",
    [
        "hf://org/repo",  # no file
        "hf://org/repo/",  # empty file
        "hf:///etc/passwd/x",  # absolute
        "hf://org//model.pt",  # empty repository
        "hf://org/repo/../../etc/passwd",
        "hf://org/repo/a/./b.pt",
        "hf://org/repo/a/%2e%2e/b.pt",  # encoded '..'
        "hf://../repo/model.pt",
        "hf://org/re po/model.pt",
        "hf://org/repo--x/model.pt",
        "hf://org/repo/a\\b.pt",
        "hf://org/repo/a\nb.pt",
        "hf://" + "o" * 60 + "/" + "r" * 60 + "/m.pt",  # repository id too long
        "https://org/repo/model.pt",
    ],
)
def test_invalid_addresses_are_one_line_errors(spec):
    with pytest.raises(ModelError) as e:
        parse_hf_spec(spec)
    assert "\n" not in str(e.value)
