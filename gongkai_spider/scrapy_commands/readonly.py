"""Scrapy's debugging commands, side-effect free: ``scrapy parse/shell/fetch/view/check`` run with
``GONGKAI_READ_ONLY`` set, so they fetch and extract but never open the store, the run history, the monitor's
stats file or the near-duplicate index (only ``scrapy crawl`` writes). Each command module in this package
(``parse.py``, ``shell.py`` ...) replaces Scrapy's command of the same name through ``COMMANDS_MODULE``.
"""

from __future__ import annotations

from typing import Any

READ_ONLY_SETTINGS: dict[str, Any] = {"GONGKAI_READ_ONLY": True}


def read_only(command: type, module: str) -> type:
    """Scrapy's ``command`` class with ``GONGKAI_READ_ONLY`` among its default settings (priority "command";
    ``-s GONGKAI_READ_ONLY=0`` on the command line still wins), defined in ``module``."""
    return type("Command", (command,), {
        "__module__": module,  # Scrapy names a command after the module that defines it
        "default_settings": {**command.default_settings, **READ_ONLY_SETTINGS},
    })
