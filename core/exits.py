"""Process exit codes every entry point shares (sysexits.h where one fits).

0 success, 1 failure, 2 usage, 70 internal error, 78 configuration error (EX_CONFIG: systemd's unit
does not restart on it, ``RestartPreventExitStatus=78``).
"""

from __future__ import annotations

EX_OK = 0
EX_FAIL = 1
EX_USAGE = 2
EX_SOFTWARE = 70
EX_CONFIG = 78
