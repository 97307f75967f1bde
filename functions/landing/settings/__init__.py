"""Environment, read and validated once per execution environment: the declarations and their one loader."""

from landing.settings.declarations import (
    DEFAULT_CONTENT_TYPES,
    SINGLE_REQUEST_MAX,
    Settings,
    SettingsError,
    env,
)
from landing.settings.loader import describe, get_settings, load, names

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "SINGLE_REQUEST_MAX",
    "Settings",
    "SettingsError",
    "describe",
    "env",
    "get_settings",
    "load",
    "names",
]
