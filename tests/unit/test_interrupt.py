"""Ctrl-C stops the command even when it lands in a pyinfra (gevent) thread.

The interrupt is sent while a patched "thread" runs, as paramiko's transport does while pyinfra talks
to hosts. Without the CLI's handler threading prints the KeyboardInterrupt and swallows it: the main
code goes on (a stopped rollout would start its next wave)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts it (not `&`)
    import pyinfra_cli.inventory  # gevent patches threading, as in every pyinfra run
    if sys.argv[1] == "cli":
        from sentinelcam_models.cli import main
        main(["--help"])  # the CLI sets up its handlers on start
    def busy():
        os.kill(os.getpid(), signal.SIGINT)  # lands while this thread runs
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pass
    try:
        t = threading.Thread(target=busy)
        t.start()
        t.join()
    except KeyboardInterrupt:
        print("main interrupted")
        sys.exit(130)
    print("main went on")
    """
)


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60
    )


def test_without_the_handler_a_thread_swallows_the_interrupt():
    """The failure the handler exists for (so the next test can fail)."""
    proc = run("bare")
    assert proc.stdout.strip().splitlines()[-1] == "main went on", proc.stdout + proc.stderr


def test_the_cli_delivers_the_interrupt_to_the_main_code():
    proc = run("cli")
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "main interrupted"


def test_a_command_started_with_sigint_ignored_keeps_ignoring_it():
    """A command run in the background (`&`, nohup) is not the terminal's: Ctrl-C is not for it."""
    script = textwrap.dedent(
        """
        import os, signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from sentinelcam_models.cli import main
        main(["--help"])
        os.kill(os.getpid(), signal.SIGINT)
        print("still here")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("still here"), proc.stderr
