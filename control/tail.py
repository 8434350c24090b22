"""``kalshi-guard tail``: print (and follow) the JSON log as coloured, aligned, filterable lines.

Reads ``<logs dir>/kalshi-guard.jsonl`` resolved from the configuration like the daemon does
(``--file PATH`` overrides). Shows the last ``-n`` matching lines, then with ``-f`` follows new lines,
across rotation (the file is reopened from its start when its inode changes or it shrinks) until
SIGINT (exit 0). Malformed lines are skipped and counted on stderr at the end. Colour only on a TTY,
never with ``--no-color`` or ``NO_COLOR``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

EX_OK = 0
EX_FAIL = 1
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_COLOURS = {
    "TRACE": "\x1b[2m", "DEBUG": "\x1b[34m", "INFO": "\x1b[1m", "SUCCESS": "\x1b[32m",
    "WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;37;41m",
}
_RESET, _DIM, _CYAN = "\x1b[0m", "\x1b[2m", "\x1b[36m"
ACTOR_WIDTH = 14


@dataclass(frozen=True, slots=True)
class TailFilter:
    """Which records to show: minimum level number, actor name (case-insensitive), regex on the line."""

    min_level: int = 0
    actor: str | None = None
    grep: re.Pattern[str] | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """True if the loguru ``record`` passes every filter."""
        if _level_no(record) < self.min_level:
            return False
        if self.actor is not None and str(_extra(record).get("actor", "")).lower() != self.actor.lower():
            return False
        return self.grep is None or bool(self.grep.search(_plain_line(record)))


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    extra = record.get("extra")
    return extra if isinstance(extra, dict) else {}


def _level_no(record: dict[str, Any]) -> int:
    level = record.get("level") or {}
    no = level.get("no") if isinstance(level, dict) else None
    return int(no) if isinstance(no, int) else LEVELS.get(str(level.get("name", "")), 0)


def parse_line(line: str) -> dict[str, Any] | None:
    """The loguru ``record`` of one serialized log line, or None if the line is not one."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    record = obj.get("record") if isinstance(obj, dict) else None
    if not isinstance(record, dict) or not isinstance(record.get("message"), str):
        return None
    record.setdefault("_text", obj.get("text", ""))
    return record


def _fields(record: dict[str, Any]) -> str:
    return "".join(f" {k}={v!r}" if isinstance(v, str) else f" {k}={v}"
                   for k, v in _extra(record).items() if k != "actor")


def _time(record: dict[str, Any]) -> str:
    t = record.get("time")
    text = str(t.get("repr", "")) if isinstance(t, dict) else str(t or "")
    return text[:23]  # "YYYY-MM-DD HH:MM:SS.mmm"


def _traceback(record: dict[str, Any]) -> str:
    """The formatted traceback loguru appended to ``text`` after the message, if any."""
    if not record.get("exception"):
        return ""
    text, message = str(record.get("_text", "")), record["message"]
    at = text.find(message)
    rest = text[at + len(message):] if at >= 0 else ""
    return rest.strip("\n")


def _plain_line(record: dict[str, Any]) -> str:
    """The uncoloured printed line (what ``--grep`` searches)."""
    level = str((record.get("level") or {}).get("name", "?"))
    actor = str(_extra(record).get("actor", "-"))
    return f"{_time(record)} {level: <8} {actor: <{ACTOR_WIDTH}} {record['message']}{_fields(record)}"


def format_record(record: dict[str, Any], *, color: bool) -> str:
    """One aligned line: time, level, actor, message, extra fields; then the traceback, if any."""
    level = str((record.get("level") or {}).get("name", "?"))
    actor = str(_extra(record).get("actor", "-"))
    tb = _traceback(record)
    if not color:
        line = _plain_line(record)
        return f"{line}\n{tb}" if tb else line
    lc = _COLOURS.get(level, "")
    line = (f"{_DIM}{_time(record)}{_RESET} {lc}{level: <8}{_RESET} {_CYAN}{actor: <{ACTOR_WIDTH}}{_RESET} "
            f"{lc}{record['message']}{_RESET}{_DIM}{_fields(record)}{_RESET}")
    return f"{line}\n{_COLOURS['ERROR']}{tb}{_RESET}" if tb else line


class _Follower:
    """Reads complete lines from a log file, reopening it when it is rotated or truncated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: IO[str] | None = None
        self.inode: int | None = None
        self.partial = ""

    def open(self, *, from_start: bool = True) -> bool:
        try:
            fh = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            return False
        if self.fh is not None:
            self.fh.close()
        self.fh, self.inode, self.partial = fh, os.fstat(fh.fileno()).st_ino, ""
        if not from_start:
            fh.seek(0, os.SEEK_END)
        return True

    def lines(self) -> Iterator[str]:
        """Complete lines available now; a trailing partial line is kept for the next call."""
        if self.fh is None:
            return
        while True:
            chunk = self.fh.readline()
            if not chunk:
                return
            if not chunk.endswith("\n"):
                self.partial += chunk
                return
            line, self.partial = self.partial + chunk, ""
            yield line.rstrip("\n")

    def rotated(self) -> bool:
        """True if the path now names another file, or the file shrank below our position."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if self.fh is None:
            return True
        return st.st_ino != self.inode or st.st_size < self.fh.tell()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def tail(
    path: Path, *, out: TextIO, err: TextIO, filt: TailFilter = TailFilter(), lines: int = 20,
    follow: bool = False, raw_json: bool = False, color: bool = False,
    stop: threading.Event | None = None, poll_s: float = 0.2,
) -> int:
    """Print the last ``lines`` matching records of ``path``, then follow it if asked, until ``stop``.

    Returns 0; 1 if the file does not exist and ``follow`` is off. Never raises for malformed lines
    (they are counted and reported on ``err`` at the end).
    """
    stop = stop if stop is not None else threading.Event()
    bad = 0

    def emit(line: str) -> bool:
        nonlocal bad
        if not line.strip():
            return False
        record = parse_line(line)
        if record is None:
            bad += 1
            return False
        if not filt.matches(record):
            return False
        out.write((line if raw_json else format_record(record, color=color)) + "\n")
        return True

    follower = _Follower(path)
    try:
        if not follower.open():
            if not follow:
                print(f"kalshi-guard tail: no log file at {path}", file=err)
                return EX_FAIL
        else:
            last: deque[str] = deque(maxlen=max(lines, 0))
            for line in follower.lines():
                record = parse_line(line) if line.strip() else None
                if record is None:
                    bad += bool(line.strip())
                elif filt.matches(record):
                    last.append(line)
            for line in last:
                emit(line)
            out.flush()
        while follow and not stop.is_set():
            wrote = False
            for line in follower.lines():
                wrote |= emit(line)
            if follower.rotated():
                for line in follower.lines():  # drain what the old file still holds
                    wrote |= emit(line)
                follower.open(from_start=True)
                continue
            if wrote:
                out.flush()
            stop.wait(poll_s)
    finally:
        follower.close()
        if bad:
            print(f"kalshi-guard tail: skipped {bad} malformed line(s)", file=err)
    return EX_OK


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``tail`` (see the module docstring)."""
    p = subparsers.add_parser(name, parents=[common], help="show and follow the JSON log", description=__doc__)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="show the last N lines first (20)")
    p.add_argument("--level", type=str.upper, choices=list(LEVELS), help="minimum level")
    p.add_argument("--actor", help="only lines of this actor (case-insensitive)")
    p.add_argument("--grep", metavar="REGEX", help="only lines matching this regular expression")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    p.add_argument("--no-color", action="store_true", help="never colour")
    p.add_argument("--file", metavar="PATH", help="read this file instead of the configured log")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.file:
        path = Path(args.file)
    else:
        from kalshi_guard.config.loader import load_settings
        from kalshi_guard.config.paths import resolve_log_file

        path = resolve_log_file(load_settings(Path(args.config) if args.config else None))
    try:
        grep = re.compile(args.grep) if args.grep else None
    except re.error as exc:
        print(f"kalshi-guard tail: --grep {args.grep!r}: {exc}", file=sys.stderr)
        return 2
    filt = TailFilter(min_level=LEVELS.get(args.level or "", 0), actor=args.actor, grep=grep)
    color = not args.no_color and not args.json and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    try:
        return tail(path, out=sys.stdout, err=sys.stderr, filt=filt, lines=args.lines, follow=args.follow,
                    raw_json=args.json, color=color)
    except KeyboardInterrupt:
        return EX_OK
    except BrokenPipeError:
        return EX_OK
