"""Tracking and storage URLs: parsing, redaction, the default store, and checks that fail in seconds.

A bad URL is one line naming the (redacted) URL.
Without them a typo'd scheme surfaces as a deep MLflow or SQLAlchemy traceback, a missing database driver as
an ImportError, and an unreachable server as minutes of silent HTTP or connection retries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from genrebench.errors import UserError

# Database schemes MLflow's tracking store accepts; Optuna takes any SQLAlchemy database (`postgresql+psycopg2`
# counts as postgresql).
MLFLOW_DATABASE_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql"})
DATABASE_SCHEMES = MLFLOW_DATABASE_SCHEMES | {"oracle"}
SERVER_SCHEMES = frozenset({"http", "https"})
# MLflow's hosted stores: opened by MLflow's own clients, with credentials from their own config.
HOSTED_SCHEMES = frozenset({"databricks", "databricks-uc", "uc"})
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}
# Long enough for a server across a WAN, short enough that a wrong host or port is reported promptly.
PROBE_SECONDS = 3.0
TRACKING_SCHEMES = MLFLOW_DATABASE_SCHEMES | SERVER_SCHEMES | HOSTED_SCHEMES
# The default MLflow store, relative to the working directory: a SQLite file with artifacts beside it.
DEFAULT_STORE = Path("mlruns") / "mlflow.db"
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "secret", "key", "credential")


def check_store_url(url: str, what: str, schemes: Collection[str], example: str) -> None:
    """Raise a one-line UserError when `url` cannot work: unsupported scheme, no host, missing database driver,
    or a host that refuses or does not answer a TCP connection. `what` names the option in the message."""
    shown = redact_uri(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # e.g. a non-numeric port
        raise UserError(f"{what} {shown!r} is not a valid URL ({exc})") from exc
    base = base_scheme(url)
    if base not in schemes:
        raise UserError(f"{what} {shown!r}: unsupported scheme {parts.scheme + '://' if parts.scheme else 'none'} "
                        f"(use {example})")
    if base not in DEFAULT_PORTS:  # sqlite and the hosted schemes (databricks, ...) have no host to probe here
        return
    if not parts.hostname:
        raise UserError(f"{what} {shown!r} names no host (use {example})")
    if base in DATABASE_SCHEMES:
        _check_driver(url, what, shown)
    if not _behind_proxy(parts.scheme, parts.hostname):
        _probe(parts.hostname, port or DEFAULT_PORTS[base], what, shown)


def base_scheme(url: str) -> str:
    """The database or server kind of a URL, without the driver: `postgresql+psycopg://...` -> `postgresql`."""
    return urlsplit(url).scheme.split("+", 1)[0].lower()


def _check_driver(url: str, what: str, shown: str) -> None:
    """SQLAlchemy imports the database driver only when it first connects; fail before any work instead."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise UserError(f"{what} {shown!r} is not a valid database URL ({exc})") from exc
    except ImportError as exc:
        raise UserError(f"{what} {shown!r}: its database driver is not installed ({exc})") from exc


def _behind_proxy(scheme: str, host: str) -> bool:
    """True when HTTP traffic to `host` goes through a proxy: a direct probe would then prove nothing."""
    return scheme in SERVER_SCHEMES and scheme in getproxies() and not proxy_bypass(host)


def _probe(host: str, port: int, what: str, shown: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise UserError(f"{what} {shown!r}: cannot reach {host}:{port} ({reason})") from exc


def ensure_db_folder(db: Path, what: str, hint: str) -> None:
    """Create the folder of a SQLite file; a folder that cannot hold it is a UserError naming the folder.

    Checked up front because SQLite only says "unable to open database file", deep inside MLflow or Optuna.
    """
    folder = db.parent
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what}: {folder} is a file, not a folder, so {db.name} cannot be created there ({hint})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{what}: cannot create folder {exc.filename or folder} ({exc.strerror or exc}; {hint})") \
            from exc
    if not db.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what}: folder {folder} is not writable, so {db.name} cannot be created ({hint})")


def redact_uri(uri: str) -> str:
    """`uri` safe to show or log: the password of `user:password@host` and secret query values become `***`."""
    parts = urlsplit(uri)
    out = uri
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, sep, _ = userinfo.partition(":")
        # A lone userinfo can itself be a token (https://TOKEN@host), so it is hidden too.
        out = out.replace(parts.netloc, f"{user}:***@{host}" if sep else f"***@{host}", 1)
    if parts.query:
        # Raw pairs, not parse_qsl: a decoded value would no longer match its %-encoded form in the URI.
        pairs = [p.partition("=") for p in parts.query.split("&")]
        hidden = "&".join(f"{k}{sep}***" if v and any(s in k.lower() for s in _SECRET_QUERY_KEYS) else f"{k}{sep}{v}"
                          for k, sep, v in pairs)
        out = out.replace(f"?{parts.query}", f"?{hidden}", 1)
    return out


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative paths resolve from the cwd, as SQLAlchemy does)."""
    if not uri.startswith("sqlite://"):
        return None
    rest = uri[len("sqlite://"):].split("?", 1)[0]
    path = rest[1:] if rest.startswith("/") else rest
    if not path or path == ":memory:":
        return None
    return Path(path).resolve()


def resolve_tracking_uri(uri: str | None = None, must_exist: bool = False) -> str:
    """`uri`, else `MLFLOW_TRACKING_URI`, else `sqlite:///<abs>/mlruns/mlflow.db`; a sqlite store's folder
    is created. A plain `.db` path becomes a sqlite URI; a plain folder (the old file store) is refused.

    `must_exist` is for commands that only read (runs, report, predict --run): a missing sqlite store is then a
    UserError ("no store at PATH") instead of a new empty one.
    """
    uri = _given_tracking_uri(uri)
    local = _plain_path(uri)
    if local is not None:
        if local.suffix not in (".db", ".sqlite", ".sqlite3"):
            raise UserError(f"tracking uri {redact_uri(uri)!r} is a folder (the old file store, which MLflow 3 "
                            f"refuses); use sqlite:///{DEFAULT_STORE} or http://host:port")
        uri = f"sqlite:///{local.resolve()}"
    check_store_url(uri, "tracking uri", TRACKING_SCHEMES, f"sqlite:///{DEFAULT_STORE}, http://host:port or "
                    "postgresql://user@host/db")
    db = sqlite_path(uri)
    if db is not None and must_exist and not db.is_file():
        raise UserError(f"no store at {db}{relative_sqlite_hint(uri)} (pass --tracking-uri or set "
                        "MLFLOW_TRACKING_URI, or run an experiment first)")
    if db is not None:
        ensure_db_folder(db, "tracking store", "pass --tracking-uri or set MLFLOW_TRACKING_URI")
    return uri


def _given_tracking_uri(uri: str | None) -> str:
    """`uri`, else $MLFLOW_TRACKING_URI, else the default store's sqlite URI (absolute), as written: unchecked."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE.resolve()}"


def _plain_path(uri: str) -> Path | None:
    """The path of a tracking URI that is a plain path or `file://` URL (the store is then that file), else None."""
    scheme = urlsplit(uri).scheme
    if not scheme or scheme == "file" or len(scheme) == 1:  # one letter: a Windows drive, still a path
        return Path(uri.removeprefix("file://"))
    return None


def relative_sqlite_hint(uri: str) -> str:
    """`; did you mean sqlite:////tmp/x.db?` when `sqlite:///tmp/x.db` names a relative path whose first folder
    does not exist under the working directory but does exist from the root: three slashes are relative."""
    rest = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
    if not rest or rest.startswith("/"):
        return ""
    first = Path(rest).parts[0]
    if Path(first).exists() or not (Path("/") / first).is_dir():
        return ""
    return f"; sqlite:/// with three slashes is relative to {Path.cwd()}: did you mean sqlite:////{rest}?"


def check_store_writable(uri: str) -> None:
    """For commands that write runs: a sqlite store (resolved `uri`) that exists but cannot be written is a
    UserError now, not "attempt to write a readonly database" when the first run is created, or a failed
    artifact upload after training. Checked: the .db file, its folder (SQLite writes its journal beside
    it) and the artifact folder beside it. Servers and databases say so themselves, promptly."""
    db = sqlite_path(uri)
    if db is None:
        return
    hint = "pass --tracking-uri or set MLFLOW_TRACKING_URI"
    artifacts = db.parent / "artifacts"
    for path, what in ((db, "is read-only"), (db.parent, "is a folder that is not writable"),
                       (artifacts, "(its artifact folder) is not writable")):
        if path.exists() and not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
            raise UserError(f"tracking store {db}: {path} {what}, so runs cannot be recorded ({hint})")


def describe_store(uri: str | None = None) -> str:
    """The line a command that writes runs prints once on stderr: `tracking store: sqlite:////abs/mlflow.db`.

    `uri` as given (None: `MLFLOW_TRACKING_URI`, else the default), before `resolve_tracking_uri` creates
    any folder, so that a `sqlite:///tmp/x.db` meant as /tmp gets its hint. A sqlite store is shown with its
    absolute path, any other URL redacted; nothing is checked or created here.
    """
    uri = _given_tracking_uri(uri)
    local = _plain_path(uri)
    db = local.resolve() if local is not None else sqlite_path(uri)
    hint = relative_sqlite_hint(uri).removeprefix("; ")
    shown = f"sqlite:///{db}" if db is not None else redact_uri(uri)
    return f"tracking store: {shown}" + (f" (hint: {hint})" if hint else "")


def default_artifact_root(uri: str) -> str | None:
    """`<folder of the .db>/artifacts` as a file:// URI for a sqlite store; None lets a server decide."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db is not None else None
