"""A newcomer's first hour, scripted: a fresh copy of the repository, the README's `make paper`, then every
command of the README's "Your first hour" block in order, each doing what its comment says.

The commands are read from README.md itself, so the README cannot drift from what works. The harness only
isolates the run: ``HOME`` is a temporary directory (so ``~/.local/state/kalshi-guard`` is fresh), the two
ports come from ``KALSHI_GUARD_CONTROL__PORT`` / ``KALSHI_GUARD_SIMULATOR__PORT`` (``localhost:8787`` in a
command is read as that port), and the copy reuses the already-built ``.venv`` (linked, with the copy's
``pyproject.toml`` dated before it so ``make`` does not rebuild it). ``tail -f`` is followed until it
prints and then stopped with Ctrl-C, as a person would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# README words a command's comment may promise; each promised word must appear in what it prints
PROMISES = ("FILLED", "CANCELED", "NO_LIQUIDITY_AT_LIMIT", "ACTIVE", "HALTED")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                                 reason="needs make and git")]


def readme_block(title: str) -> list[tuple[str, str]]:
    """``(command, comment)`` for each line of the first ```sh block after the heading ``title``."""
    text = (REPO / "README.md").read_text()
    after = text[text.index(title):]
    block = after[after.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    out = []
    for line in block.splitlines():
        command, _, comment = line.partition("   #") if "   #" in line else line.partition(" # ")
        if command.strip():
            out.append((command.strip(), comment.strip()))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_copy(dest: Path) -> Path:
    """The repository's tracked files copied to ``dest`` (as a clone would have them), ``.venv`` linked."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    venv = Path(sys.prefix)
    (dest / ".venv").symlink_to(venv)
    built = (venv / "bin" / "kalshi-guard").stat().st_mtime
    os.utime(dest / "pyproject.toml", (built - 60, built - 60))  # the venv is up to date: make keeps it
    return dest


class Newcomer:
    """The shell a newcomer types into: the environment, the variables set so far, the outputs."""

    def __init__(self, root: Path, control_port: int) -> None:
        self.root = root
        self.port = control_port
        self.vars: dict[str, str] = {}
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_GUARD_", "XDG_", "STATE_DIR",
                                                                        "LOGS_DIR", "CREDENTIALS_DIR"))}
        (root.parent / "home").mkdir(exist_ok=True)
        self.env = {**base, "HOME": str(root.parent / "home"), "KALSHI_GUARD_CONTROL__PORT": str(control_port),
                    "KALSHI_GUARD_SIMULATOR__PORT": str(free_port())}

    def line(self, command: str) -> str:
        return command.replace("localhost:8787", f"localhost:{self.port}")

    def run(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assign = re.match(r"^([A-Z_]+)=(.*)$", command)
        script = f"{command}\nprintf %s \"${assign.group(1)}\"" if assign else self.line(command)
        done = subprocess.run(["bash", "-c", script], cwd=self.root, env={**self.env, **self.vars},
                              capture_output=True, text=True, timeout=timeout, check=False)
        if assign:
            assert done.returncode == 0, done.stderr
            self.vars[assign.group(1)] = done.stdout
        return done

    def follow(self, command: str, timeout: float = 20) -> tuple[int, str]:
        """Start a following command, read until it printed a line, then Ctrl-C it."""
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.root, env={**self.env, **self.vars},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first: list[str] = []
        got = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for out in proc.stdout:
                first.append(out)
                got.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        got.wait(timeout)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        reader.join(5)
        return code, "".join(first)


def _wait_ready(sock: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        sock.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            if b"READY=1" in sock.recv(65536):
                return
        except TimeoutError:
            continue
    pytest.fail(f"`make paper` did not become ready; its output:\n{log.read_text(errors='replace')[-3000:]}")


def check(command: str, comment: str, done: Any, shell: Newcomer) -> None:
    """What the README says about ``command`` holds for its output ``done``."""
    out = done.stdout
    for word in PROMISES:
        if re.search(rf"\b{word}\b", comment):
            assert word in out, f"README says {command!r} gives {word}; it printed:\n{out}\n{done.stderr}"
    if " order buy " in command and "CANCELED" in comment:
        assert done.returncode == 1
        assert "best yes ask was" in out
    elif " order buy " in command:
        assert done.returncode == 0, out + done.stderr
    else:
        assert done.returncode == 0, f"{command!r} failed:\n{out}\n{done.stderr}"
    if command.endswith(" markets"):
        assert "KXSIMCPI-26DEC-T30" in out
        assert "YES ASK" in out
    if command.endswith("order list"):
        no = next(line for line in out.splitlines() if "buy no" in line)
        assert Decimal(no.split()[7]) == Decimal(shell.vars["NO"]), "a NO order is listed at its NO price"
    if command.startswith("curl "):
        import json

        assert len(json.loads(out)["orders"]) == 3


def test_the_readme_first_hour_on_a_fresh_copy(tmp_path: Path) -> None:
    """`make paper`, then each first-hour command in README order does what its comment says; Ctrl-C stops."""
    assert ("make paper", "set up .venv and run the daemon in PAPER mode against the embedded Kalshi "
            "simulator (SQLite)") in readme_block("## Two commands")
    steps = readme_block("### Your first hour")
    assert len(steps) >= 10
    copy = fresh_copy(tmp_path / "kalshi-guard")
    shell = Newcomer(copy, free_port())
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    log = tmp_path / "make-paper.log"
    with open(log, "wb") as out:
        paper = subprocess.Popen(["make", "paper"], cwd=copy, env={**shell.env, "NOTIFY_SOCKET": str(notify)},
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(sock, paper, log)
        pause, deadline = threading.Event(), time.monotonic() + 15
        while "READY: PAPER gate=ACTIVE" not in log.read_text(errors="replace"):  # "ready when it logs READY"
            assert time.monotonic() < deadline, f"no READY line in the output:\n{log.read_text()[-2000:]}"
            pause.wait(0.05)
        assert "pip install" not in log.read_text(), "make rebuilt the venv instead of reusing it"
        for command, comment in steps:
            if command.endswith(" -f"):
                code, printed = shell.follow(command)
                assert code in (0, 130), f"{command!r} exited {code} on Ctrl-C"
                assert printed.strip(), f"{command!r} printed nothing"
                continue
            done = shell.run(command)
            if not re.match(r"^[A-Z_]+=", command):
                check(command, comment, done, shell)
    finally:
        os.killpg(paper.pid, signal.SIGINT)  # Ctrl-C in the terminal running `make paper`
        try:
            paper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(paper.pid, signal.SIGKILL)
            paper.wait(timeout=10)
        sock.close()
    after = shell.run(".venv/bin/kalshi-guard status")
    assert after.returncode == 1, "Ctrl-C stopped the daemon: nothing answers any more"
    assert "does not answer" in after.stderr
