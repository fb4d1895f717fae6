"""The configuration base: YAML files, --set parsing, merging, error locations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest

from wildpose.config import ConfigModel, merge, parse_overrides, read_yaml, validate
from wildpose.config.base import AsList, Bool, Count, Float, Int
from wildpose.errors import ConfigError


class Rule(ConfigModel):
    weight: Float = 1.0


class Section(ConfigModel):
    count: Count = 0
    flag: Bool = False
    names: Annotated[tuple[str, ...], AsList] = ()
    pairs: tuple[tuple[Int, Int], ...] = ()
    rules: dict[str, Rule] | None = None


class Top(ConfigModel):
    section: Section = Section()


def message(data: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        validate(Top, data, "f.yaml")
    text = str(exc.value)
    assert "\n" not in text and text.startswith("f.yaml: ")
    return text[len("f.yaml: ") :]


def test_error_locations_are_dotted_keys() -> None:
    assert message({"section": {"count": -1}}) == "'section.count' must be >= 0, got -1"
    assert message({"section": {"pairs": [[0, 1], [1, 2, 3]]}}).startswith(
        "'section.pairs[1]' needs at most 2 values"
    )
    assert message({"section": {"pairs": [[0, "x"]]}}).startswith("'section.pairs[0][1]' must")
    assert message({"section": {"rules": {"a.b": {"weight": "x"}}}}) == (
        "'section.rules.a.b.weight' must be a number, got 'x'"
    )
    assert message({"section": {"rules": {"a": {"w": 1}}}}) == (
        "unknown key 'section.rules.a.w' (known: weight)"
    )
    assert message({"sectoin": {}}) == "unknown key 'sectoin' (known: section)"
    assert (
        message({"section": {"flag": "yes"}}) == "'section.flag' must be true or false, got 'yes'"
    )


def test_long_values_are_cut() -> None:
    text = message({"section": {"count": "x" * 500}})
    assert len(text) < 120 and text.endswith("...")


def test_validate_rejects_non_mappings() -> None:
    with pytest.raises(ConfigError, match="f.yaml: must be a mapping"):
        validate(Top, [1, 2], "f.yaml")  # type: ignore[arg-type]
    assert validate(Top, None, "f.yaml") == Top()


def test_parse_overrides() -> None:
    assert parse_overrides(["a.b=1", "a.c=[x, y]", "d=1e-3", "e=", "f=: bad"]) == {
        "a": {"b": 1, "c": ["x", "y"]},
        "d": "1e-3",  # YAML 1.1; numeric fields accept it
        "e": "",
        "f": ": bad",  # not YAML: the raw text
    }
    for bad, what in (("nokey", "key=value"), ("a..b=1", "bad key")):
        with pytest.raises(ConfigError, match=what):
            parse_overrides([bad])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_overrides(["a=1", "a.b=2"])


def test_merge_is_recursive_and_does_not_mutate() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge(base, {"a": {"b": 5}, "e": 6}) == {"a": {"b": 5, "c": 2}, "d": 3, "e": 6}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge(base, {"a": 1}) == {"a": 1, "d": 3}


def test_read_yaml_errors_are_one_line(tmp_path: Path) -> None:
    cases = {
        "absent.yaml": (None, "no such config file"),
        "bad.yaml": (b"a: [unclosed\n", "not valid YAML"),
        "latin1.yaml": ("name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
        "list.yaml": (b"- 1\n- 2\n", "must be a YAML mapping"),
    }
    for name, (content, what) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ConfigError, match=what) as exc:
            read_yaml(path)
        assert "\n" not in str(exc.value) and str(path) in str(exc.value)
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}
    (tmp_path / "ok.yaml").write_text("name: café\n", encoding="utf-8")
    assert read_yaml(tmp_path / "ok.yaml") == {"name": "café"}
