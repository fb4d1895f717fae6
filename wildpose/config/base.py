"""The configuration base: frozen pydantic models, YAML files, ``--set`` overrides, one-line errors.

Every configuration of wildpose (the run config of ``track``/``batch``, training recipes, the
detector training settings) is a :class:`ConfigModel`: unknown keys are rejected, values are
checked for type and range, and the first problem becomes one :class:`~wildpose.errors.ConfigError`
line naming the source and the dotted key, e.g.
``camera-trap.yaml: 'pose.padding' must be > 0, got 0``.

Type rules (pydantic's lax mode, tightened where YAML makes it too lax): a ``bool`` must be
``true``/``false``; an ``int`` must be an integer (not 1.0, not ``true``); a float accepts
integers and numeric strings (YAML 1.1 reads ``1e-12`` as a string); a string accepts numbers;
a tuple accepts a list or one scalar. See https://docs.pydantic.dev/latest/concepts/conversion_table/.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from ..errors import ConfigError

M = TypeVar("M", bound="ConfigModel")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "must be a number")
    return value


def _as_list(value: Any) -> Any:
    """One scalar (or a string) stands for a one-item list, as in ``classes: animal``."""
    if isinstance(value, str) or not isinstance(value, Iterable | Mapping):
        return [value]
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return value


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ValueError("must be auto, cpu, cuda or cuda:N")
    return value


Bool = StrictBool  # true/false only
Int = StrictInt  # integers only: 1.0, "1" and true are errors
Float = Annotated[float, BeforeValidator(_not_bool)]  # ints and numeric strings, not booleans
Finite = Annotated[Float, AfterValidator(_finite)]  # no inf or nan
Positive = Annotated[Finite, Field(gt=0)]
NonNegative = Annotated[Finite, Field(ge=0)]
Unit = Annotated[Finite, Field(ge=0, le=1)]  # a score, confidence or IoU threshold
Count = Annotated[Int, Field(ge=0)]
AtLeastOne = Annotated[Int, Field(ge=1)]
AsList = BeforeValidator(_as_list)  # Annotated[tuple[str, ...], AsList]: a scalar is one item
Device = Annotated[str, AfterValidator(_device)]  # syntax only; availability is checked on use


class ConfigModel(pydantic.BaseModel):
    """A frozen, strictly keyed configuration section (attribute access, ``==``, ``replace``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    def replace(self: M, **changes: Any) -> M:
        """A copy with ``changes`` applied, validated like a file (``source`` "replace")."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        return validate(type(self), {**data, **changes}, "replace")


def fail(key: str, why: str, value: Any) -> PydanticCustomError:
    """An error for a cross-field check in a model validator: ``raise fail("end", why, end)``.

    ``key`` is relative to the model that raises it ("" in a field validator); the message
    reads ``'video.end' why, got value``. ``why`` must not contain braces (pydantic formats it
    with the context).
    """
    return PydanticCustomError("wildpose", why, {"key": key, "value": value})


# --------------------------------------------------------------------------------------------
# validation errors -> one line


def validate(cls: type[M], data: Mapping[str, Any] | None, source: str) -> M:
    """``data`` -> ``cls``, or a one-line :class:`ConfigError` ``"SOURCE: 'key' why, got X"``."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"must be a mapping of sections, got {_show(data)}", path=source)
    try:
        return cls.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        _, message = explain(cls, exc)
        raise ConfigError(message, path=source) from None


def validate_layers(
    cls: type[M], data: Mapping[str, Any], layers: Sequence[tuple[str, Mapping[str, Any]]]
) -> M:
    """Like :func:`validate` for ``data`` merged from ``layers`` (``(source, data)``, lowest
    first): an error names the last layer that set the offending key."""
    try:
        return cls.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        key, message = explain(cls, exc)
        raise ConfigError(message, path=blame(layers, key)) from None


def blame(layers: Sequence[tuple[str, Mapping[str, Any]]], key: str) -> str:
    """The source of the last layer that sets ``key`` (or a non-mapping above it)."""
    parts = key.split("[")[0].split(".")
    for source, data in reversed(layers):
        node: Any = data
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
            if i == len(parts) - 1 or not isinstance(node, Mapping):
                return source
    return layers[0][0] if layers else "config"


def explain(cls: type[pydantic.BaseModel], exc: pydantic.ValidationError) -> tuple[str, str]:
    """The dotted key and the message (without the source) of the first error in ``exc``."""
    err = exc.errors(include_url=False)[0]
    key, parent = _dotted(cls, err["loc"])
    ctx = err.get("ctx") or {}
    kind, value = err["type"], err["input"]
    if kind == "wildpose":
        key = ".".join(k for k in (key, ctx["key"]) if k)
        value = ctx["value"]
    if kind == "extra_forbidden":
        known = ", ".join(parent.model_fields) if parent is not None else ""
        return key, f"unknown key '{key}' (known: {known})"
    return key, f"'{key or '.'}' {_why(kind, ctx, err['msg'])}, got {_show(value)}"


_WHY = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _why(kind: str, ctx: Mapping[str, Any], msg: str) -> str:
    if kind in _WHY:
        return _WHY[kind]
    if kind in _BOUNDS:
        name, op = _BOUNDS[kind]
        return f"must be {op} {_number(ctx[name])}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} values"
    if kind == "too_long":
        return f"needs at most {ctx['max_length']} values"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "wildpose":
        return msg
    return msg[:1].lower() + msg[1:]


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _show(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(cls: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> tuple[str, Any]:
    """pydantic's error location -> (``"optim.custom_keys.bias.lr_mult"``, the innermost model).

    Field names are followed through nested models (and ``dict[str, Model]`` keys); pydantic's
    union-member tags (``float``, ``literal['off']``) are dropped, list indices become ``[i]``.
    """
    parts: list[str] = []
    model: Any = cls
    parent: Any = cls
    dict_value: Any = None
    for part in loc:
        if dict_value is not None:  # the key of a dict[str, Model] field
            parts.append(str(part))
            model, dict_value = dict_value, None
        elif model is not None and isinstance(part, str):
            parts.append(part)
            parent = model
            field = model.model_fields.get(part)
            model, dict_value = _nested(field.annotation) if field is not None else (None, None)
        elif isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
    return ".".join(parts), parent


def _nested(tp: Any) -> tuple[Any, Any]:
    """(model, None) for a model-typed field, (None, model) for ``dict[str, model]``."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return tp, None
    if origin is Annotated:
        return _nested(typing.get_args(tp)[0])
    if origin is dict:
        value = typing.get_args(tp)[-1]
        return (None, value) if _nested(value)[0] is not None else (None, None)
    for arg in typing.get_args(tp) if origin in (typing.Union, types.UnionType) else ():
        found = _nested(arg)
        if found != (None, None):
            return found
    return None, None


# --------------------------------------------------------------------------------------------
# plain data: files, overrides, merging, dumping


def parse_overrides(items: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{source}: expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"{source}: bad key {key!r}")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {key!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a UTF-8 file (empty file: ``{}``), with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such config file", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (byte {e.start})", path=path) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML ({str(e).splitlines()[0]})", path=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read ({e.strerror})", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must be a YAML mapping at the top level", path=path)
    return data


def to_dict(cfg: pydantic.BaseModel) -> dict[str, Any]:
    """The config as JSON/YAML-friendly data (lists for tuples): what run records store."""
    return cfg.model_dump(mode="json")
