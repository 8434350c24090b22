"""Tests for control.tail: formatting, filters, malformed lines and following across rotation."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from loguru import logger

from kalshi_guard.config.schema import LogSettings, Settings
from kalshi_guard.control.logs import LogHandle, setup_logging
from kalshi_guard.control.tail import LEVELS, TailFilter, tail

KG = str(Path(sys.executable).with_name("kalshi-guard"))  # the console script of this venv


class Sink:
    """A text stream that lets a test wait (with a timeout) until the output satisfies a predicate."""

    def __init__(self) -> None:
        self.text = ""
        self.cond = threading.Condition()

    def write(self, s: str) -> int:
        with self.cond:
            self.text += s
            self.cond.notify_all()
        return len(s)

    def flush(self) -> None:
        pass

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.text), timeout)


def start_logging(tmp_path: Path, **kw: object) -> LogHandle:
    return setup_logging(Settings(state_dir=tmp_path, logging=LogSettings(**kw)), state_dir=tmp_path,
                         stderr=None, env={})


@pytest.fixture
def sample_log(tmp_path: Path) -> Path:
    """A real JSON log with records from several actors and levels."""
    h = start_logging(tmp_path)
    logger.bind(actor="guardian").info("gate active")
    logger.bind(actor="placer", order="o-1").debug("sending order")
    logger.bind(actor="guardian").warning("daily loss near limit")
    logger.bind(actor="alerter").error("discord failed")
    try:
        raise ValueError("bad fill")
    except ValueError:
        logger.bind(actor="fill_watcher").exception("cannot book")
    h.close()
    return h.log_file


def run_tail(path: Path, **kw: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = tail(path, out=out, err=err, **kw)
    return code, out.getvalue(), err.getvalue()


class TestOutput:
    def test_aligned_lines_with_fields_and_traceback(self, sample_log):
        """Each record prints time, padded level, padded actor, message and extra fields; tracebacks follow."""
        code, out, _ = run_tail(sample_log)
        assert code == 0
        lines = out.splitlines()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO     guardian       gate active", lines[0])
        assert lines[1].endswith("DEBUG    placer         sending order order='o-1'")
        assert "Traceback (most recent call last):" in out
        assert out.rstrip().endswith("ValueError: bad fill")

    def test_colour_only_when_asked(self, sample_log):
        """ANSI colour appears with color=True and never otherwise."""
        assert "\x1b[" in run_tail(sample_log, color=True)[1]
        assert "\x1b[" not in run_tail(sample_log)[1]

    def test_json_passes_raw_lines(self, sample_log):
        """--json prints the original JSON lines of the matching records."""
        _, out, _ = run_tail(sample_log, raw_json=True, filt=TailFilter(actor="alerter"))
        (line,) = out.splitlines()
        assert json.loads(line)["record"]["message"] == "discord failed"

    def test_missing_file_without_follow(self, tmp_path):
        """A missing log file is one line on stderr and exit 1."""
        code, out, err = run_tail(tmp_path / "none.jsonl")
        assert (code, out) == (1, "")
        assert "no log file" in err


class TestFilters:
    def test_level_minimum(self, sample_log):
        """--level keeps records at or above the level."""
        _, out, _ = run_tail(sample_log, filt=TailFilter(min_level=LEVELS["WARNING"]))
        assert [line.split()[2] for line in out.splitlines() if line[:2] == "20"] == ["WARNING", "ERROR", "ERROR"]

    def test_actor_is_case_insensitive(self, sample_log):
        """--actor keeps only that actor's records, whatever the case."""
        _, out, _ = run_tail(sample_log, filt=TailFilter(actor="GUARDIAN"))
        assert [line.split(None, 4)[4] for line in out.splitlines()] == ["gate active", "daily loss near limit"]

    def test_grep_searches_message_and_fields(self, sample_log):
        """--grep matches the message or the extra fields."""
        _, out, _ = run_tail(sample_log, filt=TailFilter(grep=re.compile(r"o-\d")))
        assert len(out.splitlines()) == 1
        assert "sending order" in out

    def test_last_n_matching(self, sample_log):
        """-n N shows only the last N matching records."""
        _, out, _ = run_tail(sample_log, lines=2, filt=TailFilter(actor="guardian"))
        assert [line.split(None, 4)[4] for line in out.splitlines()] == ["gate active", "daily loss near limit"]
        _, out, _ = run_tail(sample_log, lines=1, filt=TailFilter(actor="guardian"))
        assert out.splitlines()[0].endswith("daily loss near limit")

    def test_malformed_lines_are_counted(self, sample_log):
        """Malformed lines are skipped and counted once on stderr, never a crash."""
        with sample_log.open("a") as fh:
            fh.write("not json\n{\"record\": 5}\n\n[1, 2]\n")
        code, out, err = run_tail(sample_log, lines=100)
        assert code == 0
        assert "cannot book" in out
        assert err == "kalshi-guard tail: skipped 3 malformed line(s)\n"


class TestFollow:
    def follow(self, path: Path, **kw: object) -> tuple[Sink, Sink, threading.Event, threading.Thread]:
        out, err, stop = Sink(), Sink(), threading.Event()
        kwargs = {"out": out, "err": err, "follow": True, "stop": stop, "poll_s": 0.01} | kw
        thread = threading.Thread(target=tail, args=(path,), kwargs=kwargs, name="tail")
        thread.start()
        return out, err, stop, thread

    def test_follows_across_loguru_rotation(self, tmp_path):
        """Following prints every new record in order while loguru rotates the file several times."""
        h = start_logging(tmp_path, rotation="1 KB", retention=100)
        logger.info("start")
        out, _err, stop, thread = self.follow(h.log_file, lines=1)
        try:
            for i in range(30):
                logger.info("msg {} {}", i, "x" * 60)
                assert out.wait_for(lambda text, i=i: f"msg {i} " in text), f"msg {i} not shown"
        finally:
            stop.set()
            thread.join(10)
            h.close()
        shown = re.findall(r"msg (\d+) ", out.text)
        assert shown == [str(i) for i in range(30)]
        assert len(list((tmp_path / "logs").iterdir())) >= 4  # it really rotated

    def test_follows_a_truncated_file(self, sample_log):
        """A file truncated in place is read again from its start."""
        out, _err, stop, thread = self.follow(sample_log, lines=100)
        try:
            assert out.wait_for(lambda text: "cannot book" in text)
            line = json.dumps({"text": "", "record": {"message": "after truncation", "level": {"name": "INFO",
                                                                                                "no": 20}}})
            sample_log.write_text(line + "\n")
            assert out.wait_for(lambda text: "after truncation" in text)
        finally:
            stop.set()
            thread.join(10)

    def test_waits_for_the_file_to_appear(self, tmp_path):
        """Following a log that does not exist yet prints it once it is created."""
        path = tmp_path / "logs" / "kalshi-guard.jsonl"
        out, _err, stop, thread = self.follow(path)
        try:
            h = start_logging(tmp_path)
            logger.info("first line")
            h.close()
            assert out.wait_for(lambda text: "first line" in text)
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()


class TestCommand:
    def test_cli_filters(self, sample_log, tmp_path):
        """`kalshi-guard tail --file F --no-color --level error` prints the error records only."""
        result = subprocess.run([KG, "tail", "--file", str(sample_log), "--no-color", "--level", "error"],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        assert [line.split(None, 4)[3] for line in result.stdout.splitlines() if line[:2] == "20"] == [
            "alerter", "fill_watcher"]

    def test_sigint_stops_follow_with_exit_0(self, sample_log):
        """SIGINT ends `tail -f` with exit 0 and no traceback."""
        proc = subprocess.Popen([KG, "tail", "-f", "-n", "1", "--no-color", "--file", str(sample_log)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()  # blocks until the initial output is flushed
            assert "cannot book" in first
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0
        assert "Traceback" not in err
