#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and types into it, for tests of interactive behaviour.

usage: pty_run.py TIMEOUT OUTFILE -- CMD ARGS... with stdin lines of the form
    wait TEXT      wait until TEXT has appeared in the output (counting from the last wait)
    sleep SECONDS
    send TEXT      type TEXT (\\n and \\x04 escapes understood)
    interrupt      send SIGINT to the terminal's foreground process group, as Ctrl-C does (typing
                   \\x03 does the same, but the terminal then also discards its pending output,
                   which makes what the test reads depend on timing)
Exits with the command's exit status, or 124 when TIMEOUT seconds pass first.
Writes everything the command printed to OUTFILE.
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    timeout = float(sys.argv[1])
    outfile = sys.argv[2]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    actions = [line.rstrip("\n").split(" ", 1) for line in sys.stdin if line.strip()]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    deadline = time.time() + timeout
    out = b""
    seen = 0

    status = None

    def pump(wait):
        """Reads what the terminal has; returns False once the command has exited and its
        output is drained. A read can fail for a moment while the terminal discards its
        output queue (Ctrl-C does that), so only the exit status ends the session."""
        nonlocal out, status
        r, _, _ = select.select([fd], [], [], wait)
        data = b""
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            out += data
        if not data and status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        return not (status is not None and not data)

    alive = True
    for act in actions:
        verb, arg = act[0], (act[1] if len(act) > 1 else "")
        if verb == "wait":
            needle = arg.encode()
            while alive and needle not in out[seen:] and time.time() < deadline:
                alive = pump(0.05)
            seen = out.find(needle, seen) + len(needle) if needle in out[seen:] else len(out)
        elif verb == "sleep":
            end = time.time() + float(arg)
            while alive and time.time() < end:
                alive = pump(0.05)
        elif verb == "interrupt":
            os.killpg(os.tcgetpgrp(fd), signal.SIGINT)
        elif verb == "send":
            os.write(fd, arg.encode().decode("unicode_escape").encode("latin-1"))
    while alive and time.time() < deadline:
        alive = pump(0.05)
    with open(outfile, "wb") as f:
        f.write(out)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.exit(124)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
