"""The HTTP servers' event loop out of file descriptors: accept errors are logged once per interval with a
count, not once per failed accept (a real process that has used up its descriptors)."""

from __future__ import annotations

import queue
import re
import resource
import socket
import subprocess
import sys
import threading
from pathlib import Path

HELPER = Path(__file__).with_name("starved_server.py")
WAIT_S = 30.0


def _low_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


class TestAcceptErrors:
    def test_accept_errors_are_logged_once_per_interval_with_a_count(self) -> None:
        """With every descriptor taken, pending connections make asyncio's accept fail over and over; the
        log gets one line for the first failure and then one line per interval giving the count, and
        nothing from asyncio's per-occurrence handler."""
        proc = subprocess.Popen([sys.executable, str(HELPER), "0.2"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_low_file_limit)
        lines: queue.Queue[str] = queue.Queue()
        seen: list[str] = []
        assert proc.stderr is not None
        assert proc.stdout is not None
        assert proc.stdin is not None
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)  # type: ignore[union-attr]
        reader.start()
        clients: list[socket.socket] = []
        try:
            port = int(proc.stdout.readline().split()[1])
            assert proc.stdout.readline().strip() == "STARVED"
            clients = [socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) for _ in range(20)]
            while not any("more time(s)" in line for line in seen):
                seen.append(lines.get(timeout=WAIT_S))
        finally:
            for sock in clients:
                sock.close()
            proc.stdin.close()
            proc.wait(timeout=WAIT_S)
            reader.join(WAIT_S)
        while not lines.empty():
            seen.append(lines.get_nowait())
        text = "".join(seen)
        assert "out of system resource" not in text
        assert "Traceback" not in text
        firsts = [line for line in seen if "cannot accept connections" in line]
        counts = [int(m.group(1)) for line in seen if (m := re.search(r"accept failed (\d+) more time", line))]
        assert len(firsts) == 1
        assert counts
        assert "EMFILE" in firsts[0]
        assert sum(counts) > len(counts)  # several failures folded into each interval's one line
