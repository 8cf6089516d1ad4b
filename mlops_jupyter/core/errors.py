"""The errors a user can cause, each with a message that says what to do.

The edges translate them: the magic raises ``UsageError``, the CLI a
``click.ClickException``, the server an HTTP 400/404 with ``{"message": ...}``.
"""


class MlopsError(Exception):
    """Base class of every error mlops-jupyter raises on purpose."""


class ProjectError(MlopsError):
    """The project folder or its config cannot be used."""


class StoreError(MlopsError):
    """The run store cannot be opened or written (corrupt, read-only, too new)."""


class RunNotFound(MlopsError, KeyError):
    """No run has this id (or id prefix)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class AmbiguousRunId(MlopsError, ValueError):
    """An id prefix matches more than one run."""


class InvalidKey(MlopsError, ValueError):
    """A param, metric or tag key that cannot be stored or filtered on."""


class InvalidValue(MlopsError, ValueError):
    """A metric that is not a number, or a param that cannot be encoded."""


class ParamConflict(MlopsError, ValueError):
    """A param logged again in the same run with a different value."""


class FilterError(MlopsError, ValueError):
    """A filter expression that does not parse or names an unknown field."""


class NoActiveRun(MlopsError, RuntimeError):
    """An operation that needs a run was called with none active."""


def describe_os_error(error: OSError | Exception) -> str:
    """One line for an operating-system error (a full disk, a read-only folder): what and where."""
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return str(error)
