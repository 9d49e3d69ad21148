"""The one config base class: pydantic models loadable from YAML, overridable from the CLI.

Every config in credo (environments, trainer, credit modules, judges) subclasses `Config`, so that
- a wrong key or value is a one-line `ConfigError` naming it (never a traceback),
- `Config.from_yaml(path, overrides=["lr=1e-3", "credit.spa.alpha=0.5"])` works the same everywhere,
- each field's `description` is its one-line doc: `credo config` lists every field with it, and
  docs/config.md is generated from the same listing (`credo config --markdown > docs/config.md`).
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A config key or value is wrong; the message is one line that names it."""


def _one_line(err: ValidationError, source: str, cls: type[BaseModel]) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "<root>"
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    got = first.get("input")
    got_txt = "" if first["type"] == "extra_forbidden" or isinstance(got, dict) else f", got {got!r}"
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    if first["type"] == "extra_forbidden":
        msg += _did_you_mean(cls, [str(p) for p in first["loc"]])
    if first["type"] == "value_error" and not first["loc"]:  # a model validator's own sentence: say it as it is
        return f"{source}: {first['ctx']['error']}{extra}"
    if first["type"] == "value_error" and isinstance(got, dict):  # a nested config's validator: where, then its own
        return f"{source}: {where}: {first['ctx']['error']}{extra}"
    return f"{source}: {where}: {msg}{got_txt}{extra}"


def _did_you_mean(cls: type[BaseModel], loc: list[str]) -> str:
    """' (did you mean 'lora_r'?)' when a known key of the same config is close to the unknown one."""
    for part in loc[:-1]:  # walk down nested configs; a plain dict field has no known keys
        field = cls.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return ""
        cls = field.annotation
    close = difflib.get_close_matches(loc[-1], list(cls.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(annotation: Any) -> str:
    """A field's type as a user types it: 'int | None', 'choose | generate'."""
    if typing.get_origin(annotation) is Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def field_rows(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) of every field of a config, nested configs expanded in place:
    the keys are exactly what YAML files and KEY=VALUE overrides take."""
    rows = []
    for name, field in cls.model_fields.items():
        key = f"{prefix}{name}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            rows += field_rows(field.annotation, f"{key}.")
            continue
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((key, _type_name(field.annotation), default, field.description or ""))
    return rows


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"a.b=3"` -> (["a", "b"], 3); the value is parsed as YAML so numbers, bools and lists work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def merge_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `KEY=VALUE` overrides (dotted keys reach nested configs) to a plain dict, returning a new one."""
    out = dict(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
    return out


class Config(BaseModel):
    """Base for every credo config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    @classmethod
    def build(cls: type[C], data: dict[str, Any] | None = None, overrides: list[str] | None = None,
              source: str = "config") -> C:
        """Validate `data` plus `overrides`; raises `ConfigError` with a one-line reason."""
        merged = merge_overrides(data or {}, overrides or [])
        try:
            return cls.model_validate(merged)
        except ValidationError as err:
            raise ConfigError(_one_line(err, source, cls)) from None

    @classmethod
    def from_yaml(cls: type[C], path: str | Path | None, overrides: list[str] | None = None) -> C:
        """Load a YAML file (or nothing, for the defaults) and apply `KEY=VALUE` overrides."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(Path(path).read_text())
            except FileNotFoundError:
                raise ConfigError(f"{path}: no such config file") from None
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                where = f" line {mark.line + 1}" if mark else ""
                raise ConfigError(f"{path}:{where} is not valid YAML") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
            data = loaded or {}
        return cls.build(data, overrides, source=str(path) if path else "config")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Dump the resolved config; written to `path` when given (runs keep it as `config.yaml`)."""
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text
