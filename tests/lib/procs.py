"""The one way the tests stop a process they started: by its own Popen
(never by name), with a signal, then SIGKILL if it is still running after
the timeout, and always reaped."""

import signal
import subprocess


def stop(proc, sig=signal.SIGTERM, timeout=15):
    """Stops proc (a Popen, or None) and returns its exit status (None for None)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
