"""Errors that end a command or a crawl as a usage or configuration problem.

Each one means "the operator must fix something before this can run": ``scrapy crawl`` and every ``gongkai``
command print its message as one line (no traceback) and exit with ``EXIT_CONFIG``. A crawl that meets one
closes with the error's ``reason`` as its close reason.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_CONFIG = 2
EXIT_ALERT = 3


class ConfigError(Exception):
    """A usage or configuration error (exit 2, one line)."""

    reason = "config_error"


class SiteConfigMissing(ConfigError):
    """``-a site=NAME`` names no config in the bundled sites or ``GONGKAI_SITES_DIR``."""

    reason = "site_config_missing"


class SiteConfigError(ConfigError):
    """A site config that cannot be used as written (syntax, unknown keys, bad selectors, size, aliases)."""

    reason = "site_config_invalid"


class BadArgument(ConfigError):
    """A spider argument (``-a name=value``) or command option whose value cannot be used."""

    reason = "bad_argument"


class StoreUnusable(ConfigError):
    """The store cannot be opened as itself (corrupt or unreadable SQLite file, failed authentication).

    Not an outage: an unreachable or stalled MongoDB server is spooled instead.
    """

    reason = "store_unusable"


# Close reasons that are configuration errors: ``scrapy crawl`` exits EXIT_CONFIG for them.
CONFIG_CLOSE_REASONS = frozenset(cls.reason for cls in (ConfigError, SiteConfigMissing, SiteConfigError,
                                                        BadArgument, StoreUnusable))
