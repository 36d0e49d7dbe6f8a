"""`genrebench ui`: MLflow's UI on this project's store, as a server genrebench owns and stops with itself.

In order: the port is checked first (a busy one is a one-line error within a second, nothing started); `mlflow ui`
starts in its own process group (`children.OwnedGroup`); its `/health` is polled and the URL printed only once it
answers (`--open` then opens a browser); then genrebench waits. SIGTERM, SIGINT or SIGHUP stops the whole server
(exit 0 after Ctrl-C, 128 + the signal otherwise); a server that ends on its own ends genrebench with its code and
a line saying so.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from genrebench.children import (
    OwnedGroup,
    Stopped,
    exit_code,
    free_port,
    ignore_stop_signals,
    port_problem,
    stop_on_signals,
)
from genrebench.errors import UserError
from genrebench.store_urls import redact_uri

# MLflow imports and migrates the store before it listens: seconds, more on a large or remote store.
HEALTH_TIMEOUT = 120.0
_POLL = 0.25
# MLflow's server imports a Starlette module its maintainers deprecated, and every server process says so at start:
# lines the user can do nothing about. Only that message is silenced; the user's own PYTHONWARNINGS come after it,
# so they still decide (the last matching filter wins).
QUIET_SERVER_WARNINGS = "ignore:starlette.middleware.wsgi is deprecated"


def server_env() -> dict[str, str]:
    """The environment `mlflow ui` runs in: ours, less the deprecation lines above."""
    own = os.environ.get("PYTHONWARNINGS")
    return {**os.environ, "PYTHONWARNINGS": ",".join(filter(None, [QUIET_SERVER_WARNINGS, own]))}


def check_port(host: str, port: int) -> None:
    """A one-line error, with a free port to try, when `host:port` cannot be listened on."""
    if not 1 <= port <= 65535:  # 0 would let the server pick one, whose URL nobody could then be told
        raise UserError(f"--port {port}: must be 1 to 65535")
    problem = port_problem(host, port)
    if problem is None:
        return
    if problem == "in use":
        other = free_port(host, port + 1)
        hint = f" (try --port {other})" if other else ""
        raise UserError(f"port {port} on {host} is in use{hint}")
    raise UserError(f"cannot listen on {host}:{port}: {problem}")


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1.0) as resp:  # noqa: S310 - our own local server
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(server: OwnedGroup, url: str, timeout: float = HEALTH_TIMEOUT) -> int | None:
    """None once `url/health` answers; the server's exit code if it ends first. A server that neither answers nor
    ends within `timeout` is an error (the caller stops it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return server.proc.returncode
        if _answers(url):
            return None
        time.sleep(_POLL)
    raise UserError(f"mlflow ui did not answer at {url}/health within {timeout:.0f} s; stopped it")


def serve(uri: str, host: str, port: int, open_browser: bool = False,
          say: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> int:
    """Run the UI until it is told to stop or ends; the exit code genrebench should end with."""
    check_port(host, port)
    url = url_of(host, port)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    with stop_on_signals():
        server = OwnedGroup(cmd, env=server_env())
        try:
            code = wait_healthy(server, url)
            answered = code is None
            if answered:
                say(f"mlflow ui on {redact_uri(uri)} at {url}  (Ctrl-C stops it)")
                if open_browser:
                    import webbrowser

                    webbrowser.open(url)
                code = server.proc.wait()
        except Stopped as stop:
            ignore_stop_signals()  # a second Ctrl-C must not cut the group's stop short
            server.stop()
            return stop.exit_code
        except BaseException:
            ignore_stop_signals()
            server.stop()
            raise
        # It ended by itself: whatever it left of its group goes too, and the user is told.
        server.stop()
        when = "after serving" if answered else f"before it answered at {url}"
        warn(f"mlflow ui ended on its own {when}, exit code {exit_code(code)}")
        return exit_code(code)
