"""Config loading: YAML file, then ``DAMSELFLY_<COMPONENT>__<KEY>`` environment overrides,
then CLI overrides, validated by a pydantic model. An invalid config is one error that
lists every problem."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from damselfly.core.errors import InvalidArgument

ModelT = TypeVar("ModelT", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    node = target
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def env_overrides(component: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """``DAMSELFLY_DAEMON__STORAGE__DIR=/x`` -> ``{"storage": {"dir": "/x"}}``.

    Values are parsed as YAML scalars or lists, so ``true``, ``8`` and ``[a, b]`` work.
    """
    prefix = f"DAMSELFLY_{component.upper()}__"
    result: dict[str, Any] = {}
    for name, raw in environ.items():
        if name.startswith(prefix):
            path = [part.lower() for part in name[len(prefix) :].split("__") if part]
            if path:
                try:
                    value = yaml.safe_load(raw) if raw else raw
                except yaml.YAMLError as exc:
                    raise InvalidArgument(
                        f"environment variable {name} is not valid YAML: {yaml_problem(exc)}"
                    ) from None
                _set_path(result, path, value)
    return result


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's complaint in one line, with where it was found."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge ``extra`` into a copy of ``base``."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe_errors(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        # A validator's own sentence, without pydantic's "Value error, " before it.
        problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def load_config(
    model: type[ModelT],
    component: str,
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ModelT:
    """Build ``model`` from file, environment and overrides, or raise InvalidArgument."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise InvalidArgument(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise InvalidArgument(f"cannot read config file {path}: {reason}") from None
        except yaml.YAMLError as exc:
            raise InvalidArgument(
                f"config file {path} is not valid YAML: {yaml_problem(exc)}"
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InvalidArgument(f"config file {path} must hold a mapping of keys")
        data = loaded or {}
    data = merge(data, env_overrides(component, os.environ if environ is None else environ))
    data = merge(data, overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        source = f" in {path}" if path else ""
        raise InvalidArgument(
            f"invalid {component} config{source}: {describe_errors(exc)}"
        ) from None
