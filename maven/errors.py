"""The package's own exception types: every bad input ends in a :class:`MavenError`."""

from __future__ import annotations

__all__ = [
    "MavenError",
    "ValidationError",
    "UnknownBandError",
    "FormatError",
    "ConfigError",
    "StorageError",
    "IndexFormatError",
]


class MavenError(Exception):
    """Base class for all errors raised by maven on bad input or configuration."""


class ValidationError(MavenError, ValueError):
    """A record failed validation; the message names the object and the field.

    Attributes:
        object_id: the supernova (or record) the error belongs to, if known.
        field: the offending field, e.g. ``"lightcurve.flux_err"``.
    """

    def __init__(self, message: str, *, object_id: str | None = None, field: str | None = None):
        self.object_id = object_id
        self.field = field
        where = []
        if object_id is not None:
            where.append(f"object {object_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class UnknownBandError(MavenError, LookupError):
    """A band name (with its telescope/instrument context) that the registry cannot place."""


class FormatError(MavenError, ValueError):
    """A file or table that cannot be parsed in the requested (or guessed) format."""


class ConfigError(MavenError, ValueError):
    """A configuration value that is missing, of the wrong type or out of range."""


class StorageError(MavenError, OSError):
    """A file or folder that cannot be written, locked or read back intact (disk full, no
    permission, another process writing it, a checkpoint or shard that fails its checksum)."""


class IndexFormatError(MavenError):
    """An embedding index that is missing, truncated, corrupted, foreign or built with another
    model, or that cannot be written."""
