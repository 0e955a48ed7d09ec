"""`job TASKNAME`: a client of the running sentinel, apart from the loaders (and PyYAML) the
services need, so that a job costs a process little more than Python's start (the unit and
fleet tests start one per job)."""

import json
import os
import socket
import sys

from .places import SOCKET_PATH


def job_client(task):
    """Send a task name to the running sentinel; print its JSON result line."""
    timeout = float(os.environ.get("SENTINELCAM_STANDIN_JOB_TIMEOUT") or 60)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(SOCKET_PATH)
            s.sendall(task.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        except OSError as e:
            print(
                f"sentinelcam-standin: job: no sentinel answers on {SOCKET_PATH}: "
                f"{e.strerror or e}",
                file=sys.stderr,
            )
            return 2
    try:
        result = json.loads(data.decode())
    except ValueError:
        print(f"sentinelcam-standin: job: the sentinel gave no result for {task}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    if not result.get("ok"):
        print(f"sentinelcam-standin: job {task} failed: {result.get('error')}", file=sys.stderr)
        return 1
    return 0


def main(argv):
    """``sentinelcam-standin job TASKNAME``; anything else is the full command line's."""
    if len(argv) == 3 and argv[1] == "job":
        return job_client(argv[2])
    from .commands import main as commands_main  # noqa: PLC0415 - the loaders, only for them

    return commands_main(argv)
