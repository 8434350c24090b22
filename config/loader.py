"""Load the effective settings: built-in defaults ← TOML file ← environment ← systemd credentials.

Layers, later wins:

1. the schema's defaults (``config.schema``);
2. the TOML file: ``--config PATH``, or the shipped ``config/default.toml`` (paper mode) when none is given;
   relative ``state_dir`` / ``exchange.private_key_file`` in a file are relative to the file's directory;
3. the environment: ``KALSHI_GUARD_MODE``, ``KALSHI_GUARD_STATE_DIR`` and ``KALSHI_GUARD_<SECTION>__<KEY>``
   (e.g. ``KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS=25``), parsed by the schema like file values. An empty
   value is ignored (systemd ``Environment=X=`` idiom); any other unknown ``KALSHI_GUARD_*`` name is an
   error, except ``KALSHI_GUARD_TEST_*`` (reserved for the test-suite);
4. systemd credentials, only when ``$CREDENTIALS_DIRECTORY`` is set (see :data:`CREDENTIALS`).

Every problem found is collected and raised together as one :class:`actors.errors.ConfigError` with
one line each: ``"<key.path>: <value> — <what is allowed>"``. Secret values are never shown: a secret
field's value is printed as ``'**********'``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

from kalshi_guard.config.schema import Settings
from kalshi_guard.config.semantics import MASK as MASK  # re-exported: the mask the CLI prints
from kalshi_guard.config.semantics import semantic_problems, show_value
from kalshi_guard.core.errors import ConfigError

ENV_PREFIX = "KALSHI_GUARD_"
ENV_IGNORED_PREFIXES = ("KALSHI_GUARD_TEST_",)
DEFAULT_CONFIG = Path(__file__).with_name("default.toml")

#: credential file name in ``$CREDENTIALS_DIRECTORY`` → settings key it fills.
CREDENTIALS: dict[str, tuple[str, str]] = {
    "kalshi-private-key": ("exchange", "private_key_file"),  # the path of the file, not its contents
    "control-token": ("control", "token"),
    "discord-webhook-url": ("alerts", "discord_webhook_url"),
    "pagerduty-routing-key": ("alerts", "pagerduty_routing_key"),
    "alert-webhook-url": ("alerts", "webhook_url"),
    "ledger-url": ("ledger", "url"),
}
_PATH_CREDENTIALS = {"kalshi-private-key"}
_FILE_RELATIVE = {("state_dir",), ("exchange", "private_key_file")}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class inside an annotation (``X``, ``X | None``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (tuple, list, dict, set, frozenset):
        return None  # a collection of models is one leaf (compared whole)
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_secret_annotation(annotation: Any) -> bool:
    """True if the annotation is ``SecretStr`` or an optional of it."""
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _walk_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, annotation) of every leaf field of a settings model, depth first."""
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from _walk_fields(sub, (*prefix, name))
        else:
            yield (*prefix, name), field.annotation


#: dotted paths of every secret field in the schema ("control.token", …).
SECRET_PATHS: frozenset[str] = frozenset(
    ".".join(p) for p, ann in _walk_fields(Settings) if _is_secret_annotation(ann)
)


def secret_values(settings: Settings) -> list[str]:
    """The plain values of every ``SecretStr`` set in ``settings`` (for log masking); never fails."""
    found: list[str] = []

    def walk(obj: BaseModel) -> None:
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if isinstance(value, BaseModel):
                walk(value)
            elif isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())

    walk(settings)
    return found


def _is_secret_path(loc: tuple[Any, ...]) -> bool:
    """True if ``loc`` is a secret field or a section/prefix containing one (fail closed)."""
    dotted = ".".join(str(p) for p in loc)
    return any(s == dotted or s.startswith(dotted + ".") or dotted.startswith(s + ".") for s in SECRET_PATHS)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at section path ``loc`` accepts."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _what_is_allowed(err: Mapping[str, Any]) -> str:
    """Turn one pydantic error into the 'what is allowed' part of a problem line."""
    typ, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "int_type": "must be an integer", "int_parsing": "must be an integer",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number", "float_parsing": "must be a number",
        "decimal_type": "must be a decimal number (e.g. \"12.50\")",
        "decimal_parsing": "must be a decimal number (e.g. \"12.50\")",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false", "bool_parsing": "must be true or false",
        "string_type": "must be a string", "path_type": "must be a path (a string)",
        "model_type": "must be a table ([section] with keys)",
        "model_attributes_type": "must be a table ([section] with keys)",
        "dict_type": "must be a table ([section] with keys)",
    }
    if typ in simple:
        return simple[typ]
    bounds = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}
    if typ in bounds:
        sign, key = bounds[typ]
        return f"must be {sign} {ctx.get(key)}"
    if typ == "enum":
        return f"must be one of {ctx.get('expected')}"
    if typ == "string_pattern_mismatch":
        m = re.fullmatch(r"\^\((.*)\)\$", str(ctx.get("pattern", "")))
        return f"must be one of {', '.join(m.group(1).split('|'))}" if m else f"must match {ctx.get('pattern')}"
    if typ == "decimal_max_places":
        return f"must have at most {ctx.get('decimal_places')} decimal places"
    if typ in ("decimal_max_digits", "decimal_whole_digits"):
        return f"has too many digits ({err['msg'].lower()})"
    if typ == "value_error":  # our own validators' reasons, without pydantic's prefix
        return str(ctx.get("error", err.get("msg", "invalid value")))
    return str(err.get("msg", "invalid value"))


def _problems_from_validation(exc: ValidationError, sources: Mapping[tuple[str, ...], str]) -> list[str]:
    """One line per pydantic error, naming the key path, the (masked) value and what is allowed."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(str(p) for p in err["loc"])
        dotted = ".".join(loc) or "(top level)"
        origin = sources.get(loc)
        suffix = f" (from {origin})" if origin else ""
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(loc[:-1]))
            lines.append(f"{dotted}: unknown key (allowed: {allowed}){suffix}")
            continue
        value = show_value(err.get("input"), secret=_is_secret_path(loc))
        lines.append(f"{dotted}: {value} — {_what_is_allowed(err)}{suffix}")
    return lines


def _read_toml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Parse a TOML file; returns (data, problems). Never raises for I/O or syntax errors."""
    label = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, [f"--config: {label!r} does not exist (give an existing TOML file, or omit --config "
                    "for the built-in paper-mode default)"]
    except IsADirectoryError:
        return {}, [f"--config: {label!r} is a directory (a TOML file is required)"]
    except OSError as exc:
        return {}, [f"--config: {label!r} cannot be read ({exc.strerror or type(exc).__name__})"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, [f"{label}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8"]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if m:
            return {}, [f"{label} line {m.group(1)}: malformed TOML: {msg[: m.start()]} (column {m.group(2)})"]
        return {}, [f"{label}: malformed TOML: {msg}"]


def _set(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    """Set a nested key, creating tables; leaves a non-table in the way for the schema to report."""
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return
        node = child
    node[keys[-1]] = value


def _env_layer(data: dict[str, Any], env: Mapping[str, str], sources: dict[tuple[str, ...], str]) -> list[str]:
    """Apply ``KALSHI_GUARD_*`` variables onto ``data``; returns problems with unusable names."""
    problems = []
    sections = {n for n, f in Settings.model_fields.items() if _model_of(f.annotation) is not None}
    scalars = set(Settings.model_fields) - sections
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_IGNORED_PREFIXES):
            continue
        value = env[name]
        if value == "":
            continue
        parts = tuple(p.lower() for p in name[len(ENV_PREFIX):].split("__"))
        if any(not p for p in parts):
            problems.append(f"environment {name}: malformed name (use KALSHI_GUARD_<SECTION>__<KEY>)")
            continue
        if len(parts) == 1 and parts[0] in sections:
            problems.append(f"environment {name}: a section cannot be set whole "
                            f"(use {name}__<KEY>, keys: {', '.join(_allowed_keys(parts))})")
            continue
        if parts[0] not in sections and not (len(parts) == 1 and parts[0] in scalars):
            allowed = ", ".join([*(ENV_PREFIX + s.upper() for s in sorted(scalars)),
                                 *(f"{ENV_PREFIX}{s.upper()}__<KEY>" for s in sorted(sections))])
            problems.append(f"environment {name}: unknown setting (allowed: {allowed})")
            continue
        _set(data, parts, value)
        sources[parts] = name
    return problems


def _credentials_layer(
    data: dict[str, Any], env: Mapping[str, str], sources: dict[tuple[str, ...], str]
) -> list[str]:
    """Apply systemd credentials from ``$CREDENTIALS_DIRECTORY``; returns problems (never the contents)."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return []
    base = Path(directory)
    if not base.is_dir():
        return [f"CREDENTIALS_DIRECTORY: {directory!r} is not a directory"]
    problems = []
    for cred, keys in CREDENTIALS.items():
        path = base / cred
        if not path.exists():
            continue
        label = f"credential {cred!r} ({'.'.join(keys)})"
        if cred in _PATH_CREDENTIALS:
            _set(data, keys, str(path))
        else:
            try:
                value = path.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError:
                problems.append(f"{label}: not UTF-8 text")
                continue
            except OSError as exc:
                problems.append(f"{label}: cannot be read ({exc.strerror or type(exc).__name__})")
                continue
            if not value:
                problems.append(f"{label}: the file is empty")
                continue
            _set(data, keys, value)
        sources[keys] = f"credential {cred}"
    return problems


def _resolve_relative(s: Settings, base: Path, sources: Mapping[tuple[str, ...], str]) -> Settings:
    """Make file-given relative paths relative to the config file's directory; expand ``~``."""
    def fix(value: Path | None, keys: tuple[str, ...]) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.is_absolute() and keys not in sources:
            value = base / value
        return value

    state = fix(s.state_dir, ("state_dir",))
    key = fix(s.exchange.private_key_file, ("exchange", "private_key_file"))
    return s.model_copy(update={"state_dir": state,
                                "exchange": s.exchange.model_copy(update={"private_key_file": key})})


def load_settings(path: Path | None = None, *, env: Mapping[str, str] = os.environ) -> Settings:
    """Load and validate the effective settings from every layer (see the module docstring).

    Raises ConfigError listing every problem (one line each, secrets masked) when any layer is
    unreadable or malformed, a value is out of range, a key is unknown, or a cross-check fails.
    """
    file = Path(path) if path is not None else DEFAULT_CONFIG
    data, problems = _read_toml(file)
    sources: dict[tuple[str, ...], str] = {}
    problems += _env_layer(data, env, sources)
    problems += _credentials_layer(data, env, sources)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems + _problems_from_validation(exc, sources)) from None
    if problems:
        raise ConfigError(problems)
    settings = _resolve_relative(settings, file.resolve().parent, sources)
    problems = semantic_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def validate_reload(path: Path | None, *, env: Mapping[str, str] = os.environ) -> Settings:
    """Load settings for a SIGHUP reload with the same loader (and the same rules).

    Raises ConfigError; the caller keeps its current settings and reports the problems. Only
    ``limits`` take effect on reload; :func:`reload_changes` lists what changed.
    """
    return load_settings(path, env=env)


def reload_changes(old: Settings, new: Settings) -> list[str]:
    """Dotted paths of every leaf setting whose value differs (secrets compared by value, never shown).

    Paths starting with ``limits.`` take effect on a SIGHUP reload; the others need a restart.
    """
    changed: list[str] = []
    for keys, _ann in _walk_fields(Settings):
        a: Any = old
        b: Any = new
        for k in keys:  # an optional section that is unset on one side reads as None below it
            a, b = getattr(a, k, None), getattr(b, k, None)
        if isinstance(a, SecretStr) or isinstance(b, SecretStr):
            a = a.get_secret_value() if isinstance(a, SecretStr) else a
            b = b.get_secret_value() if isinstance(b, SecretStr) else b
        if a != b:
            changed.append(".".join(keys))
    return changed
