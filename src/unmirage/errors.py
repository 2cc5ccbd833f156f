"""Exceptions for bad user input: each message says what is wrong and how to fix it."""


class UnmirageError(Exception):
    """Base class for errors caused by user input (config, data, arguments)."""


class ConfigError(UnmirageError):
    """A config key or value is invalid."""


class DataError(UnmirageError):
    """A dataset file, record or image is malformed or missing."""
