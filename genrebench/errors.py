"""User-facing errors: the CLI prints these as one line and exits 2."""


class UserError(Exception):
    """A problem with the user's input (file, key or value); shown without a traceback."""
