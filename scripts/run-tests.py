#!/usr/bin/env python3
"""Runs `swift test` under a watchdog, so a test run can never outlast CI.

Usage: scripts/run-tests.py [--limit SECONDS] [SWIFT TEST ARGUMENTS...]

- The whole run has a time limit (CLIPD_TEST_LIMIT seconds, default 720). Past it the
  watchdog names every test still running and for how long (from Swift Testing's event
  stream), ends `swift test` and everything it started, and exits 124.
- It is a child subreaper: a process a test started and left behind ends up its child
  rather than init's, and is ended (and named) when the run is over, so nothing the
  tests started outlives `make test`.
- At the end it prints how long the run took against its limit.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
POLL_SECONDS = 1.0
GRACE_SECONDS = 5.0


def minutes(seconds):
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


class EventStream:
    """Follows Swift Testing's JSON event stream: which tests started, which ended."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.names = {}
        self.started = {}

    def read(self):
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                data = stream.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self.take(line)

    def take(self, line):
        try:
            record = json.loads(line)
        except ValueError:
            return
        payload = record.get("payload", {})
        if record.get("kind") == "test":
            if payload.get("kind") == "function":
                self.names[payload["id"]] = payload["id"].split("/", 1)[0] + "/" + payload.get("name", "?")
        elif record.get("kind") == "event":
            test = payload.get("testID")
            # The event's own time (the same clock as time.monotonic): the stream is written
            # in batches, so the time it is read says little.
            at = payload.get("instant", {}).get("absolute", time.monotonic())
            if test not in self.names:
                return
            if payload.get("kind") == "testStarted":
                self.started.setdefault(test, at)
            elif payload.get("kind") == "testEnded":
                self.started.pop(test, None)

    def running(self):
        now = time.monotonic()
        return sorted(((now - at, self.names[test]) for test, at in self.started.items()), reverse=True)


def processes():
    """Every process's parent and state, by pid."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), fields[0].decode())
        except (OSError, IndexError, ValueError):
            continue
    return table


def descendants():
    """Every live process whose chain of parents leads to this one (zombies are reaped, not
    counted)."""
    table = processes()
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier and pid not in mine}
        mine |= frontier
    return {pid for pid in mine if table[pid][1] != "Z"}


def reap_orphans(keep):
    """Reaps the dead processes handed to this subreaper, except `keep` (waited for
    elsewhere)."""
    me = os.getpid()
    for pid, (parent, state) in processes().items():
        if parent == me and state == "Z" and pid != keep:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()[:160]
    except OSError:
        return "?"


def end_all(reason):
    """Ends every descendant (SIGTERM, then SIGKILL) and reaps them; names what was left."""
    left = descendants()
    if not left:
        return
    if reason:
        for pid in sorted(left):
            print(f"watchdog: {reason}: {pid} {command_line(pid)}", file=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in descendants():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and descendants():
            reap()
            time.sleep(0.1)
    reap()


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main():
    arguments = sys.argv[1:]
    limit = float(os.environ.get("CLIPD_TEST_LIMIT", "720"))
    if arguments[:1] == ["--limit"]:
        limit, arguments = float(arguments[1]), arguments[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("watchdog: cannot become a subreaper; processes left behind go to init", file=sys.stderr)
    directory = tempfile.mkdtemp(prefix="clipd-watchdog-")
    events = EventStream(os.path.join(directory, "events.jsonl"))
    command = [os.environ.get("SWIFT", "swift"), "test"] + arguments + ["--event-stream-output-path", events.path, "--event-stream-version", "0"]
    started = time.monotonic()
    child = subprocess.Popen(command, start_new_session=True)

    def interrupted(number, _frame):
        print(f"watchdog: signal {number}: ending the test run", file=sys.stderr)
        end_all(None)
        sys.exit(128 + number)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    status = None
    while status is None:
        try:
            status = child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        events.read()
        reap_orphans(child.pid)
        if status is None and time.monotonic() - started > limit:
            print(f"\nwatchdog: the test run passed its limit of {minutes(limit)} and is being stopped.", file=sys.stderr)
            running = events.running()
            for elapsed, name in running:
                print(f"watchdog: still running: {name} (for {minutes(elapsed)})", file=sys.stderr)
            if not running:
                print("watchdog: no test was running (stuck before, between or after tests)", file=sys.stderr)
            end_all(None)
            status = 124
            break
    events.read()
    end_all("left running by the tests, now ended")
    print(f"watchdog: swift test took {minutes(time.monotonic() - started)} (limit {minutes(limit)})", file=sys.stderr)
    try:
        os.remove(events.path)
        os.rmdir(directory)
    except OSError:
        pass
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
