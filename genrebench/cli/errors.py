"""The entry point and its error plumbing: user errors, usage errors and the user's own OSErrors become one line."""

from __future__ import annotations

import errno
import logging
import sys
import traceback
import warnings

import typer

from genrebench.cli.printing import error_line, say_interrupted, show_warning
from genrebench.cli.root import app, debug_enabled, take_global_flags
from genrebench.errors import UserError

# OSErrors that describe the user's machine (full disk, permissions, a file where a folder belongs), not a bug:
# shown as one line naming the path. Any other OSError keeps its traceback.
_USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                          errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE})

# Typer raises click's exceptions (older typer) or its vendored copies (newer typer, which exports neither class);
# either way they are the bases of the exported `typer.BadParameter`.
_UsageError, _ClickException = typer.BadParameter.__mro__[1:3]


def main() -> None:
    """Entry point: user errors print one line and exit 2; `--debug` re-raises them with a traceback."""
    warnings.showwarning = show_warning
    # MLflow announces at INFO level that it creates a new store's tables: noise that would crowd error lines.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    try:
        sys.exit(_invoke_app(take_global_flags(sys.argv[1:])))
    except KeyboardInterrupt as exc:  # outside a command; typer turns one inside into exit code 130
        say_interrupted(exc)
        sys.exit(130)
    except UserError as exc:
        _fail(str(exc))
    except OSError as exc:
        if exc.errno not in _USER_ERRNOS:
            raise
        _fail(_os_error_line(exc))


def _invoke_app(args: list[str]) -> int:
    """Run the typer app without its standalone error handling, so usage errors can be shown as one line."""
    from typer import rich_utils

    try:
        code = app(args=args, prog_name="genrebench", standalone_mode=False)
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # recognised by name, as typer itself does
            return exc.exit_code  # typer has already printed the help
        if isinstance(exc, _UsageError):
            raise UserError(_usage_error_line(exc)) from exc
        rich_utils.rich_format_error(exc)
        return exc.exit_code
    except typer.Abort:
        rich_utils.rich_abort_error()
        return 1
    return code if isinstance(code, int) else 0


def _usage_error_line(exc: Exception) -> str:
    """A usage error (bad option value or type, unknown option) as one line instead of a framed box."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return " ".join(exc.format_message().split()) + where


def _os_error_line(exc: OSError) -> str:
    """An OSError as `reason: path [-> path2]`, with a hint when the disk is full."""
    where = f": {exc.filename}" if exc.filename is not None else ""
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    hint = " (disk full: free some space, then run the command again)" if exc.errno in (errno.ENOSPC,
                                                                                          errno.EDQUOT) else ""
    return f"{exc.strerror or exc}{where}{hint}"


def _fail(message: str) -> None:
    """Print `error: message` on stderr (after the traceback with --debug) and exit 2: a user error is a user
    error with or without --debug, so scripts see the same exit code."""
    if debug_enabled():
        traceback.print_exc()
    error_line(message)
    sys.exit(2)
