"""The trainer honours the signals ftgen forwards, whatever ftgen itself inherited."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# ftgen started the way a non-interactive shell starts a background job (`nohup ftgen run ... &`, a CI step):
# SIGINT ignored. The trainer stands in as a Python loop that only stops on KeyboardInterrupt.
DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from generator.run import runner

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trainer = "import time\\nprint('ready', flush=True)\\nwhile True:\\n    time.sleep(0.05)\\n"

    def on_line(line, bar):
        if line.strip() == "ready":
            os.kill(os.getpid(), signal.SIGINT)  # as `ftgen stop` / Ctrl-C reach ftgen

    out = runner.stream([sys.executable, "-c", trainer], cwd=None, env=dict(os.environ),
                        log_path=Path(sys.argv[1]), on_line=on_line, grace=30)
    print(json.dumps({"code": out.exit_code, "signal": out.signal}))
    """
)


def test_forwarded_sigint_stops_a_trainer_even_when_ftgen_inherited_it_ignored(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "train.log")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["signal"] == "SIGINT"
    # KeyboardInterrupt in the trainer (Python then exits through SIGINT: -2), not the SIGKILL (-9) that ends
    # the grace period of a trainer that ignored it
    assert result["code"] == -2, result
    assert "KeyboardInterrupt" in (tmp_path / "train.log").read_text()


# `ftgen stop` may signal ftgen as soon as run.json names the trainer (on_spawn), or even while the trainer is
# being started: ftgen must pass the signal on, not die of it (the default action would end it without a record).
EARLY = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys
    from pathlib import Path
    from generator.run import runner

    trainer = "import time\\nwhile True:\\n    time.sleep(0.05)\\n"
    if sys.argv[2] == "while-starting":
        real = subprocess.Popen

        def popen(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives before the child exists
            return real(*args, **kwargs)

        runner.subprocess.Popen = popen
        on_spawn = None
    else:
        on_spawn = lambda pid: os.kill(os.getpid(), signal.SIGTERM)  # the moment run.json names the child

    out = runner.stream([sys.executable, "-c", trainer], cwd=None, env=dict(os.environ),
                        log_path=Path(sys.argv[1]), on_spawn=on_spawn, grace=30)
    print(json.dumps({"code": out.exit_code, "signal": out.signal}))
    """
)


@pytest.mark.parametrize("when", ["while-starting", "when-named"])
def test_a_signal_that_comes_as_the_trainer_starts_is_passed_on(tmp_path, when):
    proc = subprocess.run(
        [sys.executable, "-c", EARLY, str(tmp_path / "train.log"), when],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"ftgen died of the signal ({proc.returncode}): {proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": -15, "signal": "SIGTERM"}, result
