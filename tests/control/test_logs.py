"""Tests for control.logs: sinks, stdlib routing, actor tags and secret masking."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
from loguru import logger
from pydantic import SecretStr

from kalshi_guard.config.schema import AlertSettings, ControlSettings, LedgerSettings, LogSettings, Settings
from kalshi_guard.control.logs import LogHandle, actor_for_thread, register_secret, setup_logging

TOKEN = "tokPLANTED0123456789abcdef"
WEBHOOK = "https://discord.example/api/webhooks/42/hookPLANTEDsecretsecretsecret"
PD_KEY = "pdPLANTEDroutingkey000000000000"
LEDGER = "postgresql+psycopg://guard:pwPLANTEDpw@127.0.0.1:5432/test"
PLANTED = [TOKEN, WEBHOOK, PD_KEY, LEDGER, "pwPLANTEDpw", "hookPLANTEDsecretsecretsecret"]


def settings(tmp_path: Path, **logging_kw: object) -> Settings:
    return Settings(
        state_dir=tmp_path,
        control=ControlSettings(token=SecretStr(TOKEN)),
        alerts=AlertSettings(discord_webhook_url=SecretStr(WEBHOOK), pagerduty_routing_key=SecretStr(PD_KEY)),
        ledger=LedgerSettings(url=SecretStr(LEDGER)),
        logging=LogSettings(**logging_kw),
    )


@pytest.fixture
def stderr() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def handle(tmp_path: Path, stderr: io.StringIO) -> Iterator[LogHandle]:
    h = setup_logging(settings(tmp_path, level="DEBUG"), state_dir=tmp_path, stderr=stderr, env={})
    yield h
    h.close()


def records(h: LogHandle) -> list[dict]:
    return [json.loads(line)["record"] for line in h.log_file.read_text().splitlines()]


def everything(h: LogHandle, stderr: io.StringIO) -> str:
    return stderr.getvalue() + h.log_file.read_text()


class TestSinks:
    def test_json_file_in_logs_dir_with_mode_0600(self, handle, tmp_path):
        """The JSON log is <state>/logs/kalshi-guard.jsonl, mode 0600, one serialized record per line."""
        logger.info("hello {}", "world")
        assert handle.log_file == tmp_path / "logs" / "kalshi-guard.jsonl"
        assert stat.S_IMODE(handle.log_file.stat().st_mode) == 0o600
        (rec,) = records(handle)
        assert rec["message"] == "hello world"
        assert rec["level"]["name"] == "INFO"
        assert rec["extra"]["actor"] == "main"

    def test_stderr_is_readable_and_uncoloured_off_tty(self, handle, stderr):
        """The stderr line carries time, level, actor, message and extra fields, without ANSI colour."""
        logger.bind(actor="guardian", order="o-1").warning("halted")
        line = stderr.getvalue().splitlines()[0]
        assert "| WARNING  | guardian       | halted order='o-1'" in line
        assert "\x1b[" not in stderr.getvalue()

    def test_levels_per_sink(self, tmp_path, stderr):
        """stderr honours logging.level and the file honours logging.file_level."""
        h = setup_logging(settings(tmp_path, level="WARNING", file_level="INFO"), state_dir=tmp_path,
                          stderr=stderr, env={})
        try:
            logger.debug("d")
            logger.info("i")
            logger.warning("w")
            assert [r["message"] for r in records(h)] == ["i", "w"]
            assert "| i" not in stderr.getvalue()
            assert "w" in stderr.getvalue()
        finally:
            h.close()

    def test_journal_priority_prefix(self, tmp_path):
        """When stderr is the journal stream, lines start with a syslog priority instead of the time."""
        with open(tmp_path / "journal", "w+") as stream:
            st = os.fstat(stream.fileno())
            h = setup_logging(settings(tmp_path), state_dir=tmp_path, stderr=stream,
                              env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
            try:
                logger.error("bad")
                logger.info("fine")
            finally:
                h.close()
            stream.seek(0)
            lines = stream.read().splitlines()
        assert lines[0].startswith("<3>ERROR    main: bad")
        assert lines[1].startswith("<6>INFO     main: fine")

    def test_rotation_and_retention(self, tmp_path):
        """The file rotates at the configured size and keeps only `retention` old files."""
        h = setup_logging(settings(tmp_path, rotation="1 KB", retention=2), state_dir=tmp_path, stderr=None,
                          env={})
        try:
            for i in range(60):
                logger.info("line {} {}", i, "x" * 50)
        finally:
            h.close()
        files = sorted(p.name for p in (tmp_path / "logs").iterdir())
        assert "kalshi-guard.jsonl" in files
        assert len(files) == 3  # the live file and two rotated ones
        assert all(stat.S_IMODE((tmp_path / "logs" / f).stat().st_mode) == 0o600 for f in files)

    def test_close_removes_sinks(self, tmp_path, stderr):
        """After close nothing more reaches the file or stderr, and stdlib routing is undone."""
        h = setup_logging(settings(tmp_path), state_dir=tmp_path, stderr=stderr, env={})
        logger.info("before")
        h.close()
        logger.info("after")
        logging.getLogger("pykka").error("after too")
        assert [r["message"] for r in records(h)] == ["before"]
        assert "after" not in stderr.getvalue()


class TestControlCharacters:
    def test_outside_text_cannot_forge_a_line_or_drive_the_terminal(self, handle, stderr):
        """A message, a bound field and a stdlib record carrying CR/LF, a journal priority, ESC, NUL, BEL and a
        Unicode line separator: each record stays one line on stderr, with the characters escaped."""
        evil = "stop\r\n<0>kalshi-guard: FORGED\x1b[31m\x00\x07\u2028tail-MARK"
        logger.warning("reason: {}", evil)
        logger.bind(reason=evil).info("bound")
        logging.getLogger("uvicorn").warning("peer said %s", evil)
        out = stderr.getvalue()
        lines = out.splitlines()
        mine = [line for line in lines if "tail-MARK" in line]  # a thread an earlier test left may log too
        assert len(mine) == 3, out
        assert not any(line.startswith(("<0>", "kalshi-guard: FORGED")) for line in lines)
        for ch in "\r\x1b\x00\x07\u2028":
            assert ch not in out
        assert "stop\\x0d\\x0a<0>kalshi-guard: FORGED\\x1b[31m\\x00\\x07\\u2028tail-MARK" in mine[0]
        ours = [r for r in records(handle) if "tail-MARK" in r["message"]]
        assert [r["message"].count("\n") for r in ours] == [0, 0]


class TestMasking:
    def test_planted_secrets_never_reach_a_sink(self, handle, stderr):
        """Secrets from the settings are masked in messages, extra fields and stdlib records."""
        logger.info("token {} webhook {}", TOKEN, WEBHOOK)
        logger.bind(pd=PD_KEY, nested={"url": LEDGER, "list": [TOKEN]}).info("bound")
        logger.info("pager {key}", key=PD_KEY)
        logging.getLogger("httpx").warning("POST %s failed", WEBHOOK)
        logger.info("just the password pwPLANTEDpw and the hook hookPLANTEDsecretsecretsecret")
        text = everything(handle, stderr)
        assert text.count("**********") >= 8
        for secret in PLANTED:
            assert secret not in text

    def test_exception_chain_is_masked(self, handle, stderr):
        """A logged exception and its cause show masked messages of the same types."""
        try:
            try:
                raise KeyError(TOKEN)
            except KeyError as exc:
                raise RuntimeError(f"connect {LEDGER}") from exc
        except RuntimeError:
            logger.exception("it failed")
        text = everything(handle, stderr)
        for secret in PLANTED:
            assert secret not in text
        assert "KeyError: '**********'" in stderr.getvalue()
        assert "RuntimeError: connect **********" in stderr.getvalue()
        assert records(handle)[-1]["exception"]["type"] == "RuntimeError"

    def test_runtime_and_explicit_secrets(self, tmp_path, stderr):
        """Secrets given to setup_logging or registered later are masked from then on."""
        h = setup_logging(Settings(state_dir=tmp_path), state_dir=tmp_path, secrets=["givenPLANTED99"],
                          stderr=stderr, env={})
        try:
            register_secret("generatedPLANTED42")
            logger.info("given givenPLANTED99 generated generatedPLANTED42")
            assert "PLANTED" not in everything(h, stderr)
        finally:
            h.close()


class Greeter(pykka.ThreadingActor):
    def on_receive(self, message: object) -> str:
        logger.info("got {}", message)
        return "ok"


class Crasher(pykka.ThreadingActor):
    def on_receive(self, message: object) -> None:
        raise ValueError(f"cannot handle {TOKEN}")


class TestActorTags:
    def test_thread_names_map_to_actors(self):
        """pykka thread names lose their counter; the main thread is `main`."""
        assert actor_for_thread("Guardian-12") == "guardian"
        assert actor_for_thread("OrderPlacer-3") == "order_placer"  # one name per actor, as the tree says
        assert actor_for_thread("MainThread") == "main"
        assert actor_for_thread("Thread-3 (serve)") == "serve"
        assert actor_for_thread("control-server") == "control-server"

    def test_actor_thread_and_bound_actor(self, handle):
        """A record from a pykka actor names the actor class; an explicit bind wins."""
        ref = Greeter.start()
        assert ref.ask("hi", timeout=5) == "ok"
        ref.stop()
        logger.bind(actor="alerter").info("bound")
        tags = [(r["message"], r["extra"]["actor"]) for r in records(handle)]
        assert ("got hi", "greeter") in tags
        assert ("bound", "alerter") in tags

    def test_pykka_failure_is_routed_and_masked(self, handle, stderr):
        """pykka's stdlib ERROR for a failed tell reaches loguru, tagged with the actor, secrets masked."""
        ref = Crasher.start()
        ref.tell("boom")
        assert ref.actor_stopped.wait(5)
        rec = [r for r in records(handle) if r["level"]["name"] == "ERROR"][-1]
        assert rec["message"].startswith("Unhandled exception in Crasher")
        assert rec["extra"]["actor"] == "crasher"
        assert rec["exception"]["type"] == "ValueError"
        assert TOKEN not in everything(handle, stderr)

    def test_noisy_libraries_only_from_warning(self, handle):
        """httpx INFO records are dropped while WARNING records pass."""
        logging.getLogger("httpx").info("HTTP Request: GET /x")
        logging.getLogger("httpx").warning("slow")
        messages = [r["message"] for r in records(handle)]
        assert "slow" in messages
        assert "HTTP Request: GET /x" not in messages

    def test_records_from_other_threads(self, handle):
        """A plain thread is tagged with its target name."""
        t = threading.Thread(target=lambda: logger.info("from worker"), name="Thread-99 (worker)")
        t.start()
        t.join(5)
        assert ("from worker", "worker") in [(r["message"], r["extra"]["actor"]) for r in records(handle)]
