"""The ``gongkai`` command: a thin layer over the library.

Each subcommand lives in ``gongkai_spider/commands/<name>.py`` and offers ``add_arguments(parser)`` and
``run(args) -> int``; this module only parses arguments and dispatches, importing a command's module
when it runs so ``gongkai extract`` does not pay for the store or the crawler.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module under gongkai_spider.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("extract", "extract one page (file or URL) and print the cleaned document as JSON"),
    "demo": ("demo", "serve the bundled demo portal on 127.0.0.1, crawl it into the store, print a summary"),
    "stats": ("stats", "print counts of the store: articles, quarantine, per site"),
    "export": ("export", "export a collection as JSONL (MongoDB Extended JSON) or CSV"),
    "fixture": ("fixture", "save a page as an extraction fixture (add), or diff every fixture's extraction (check)"),
    "quarantine": ("quarantine", "list quarantined pages, or release a false positive into articles"),
    "report": ("report", "write a self-contained HTML report of the store: articles, runs, coverage, quarantine"),
    "sites": ("sites", "list the site configs, check them, and show how each site's last run went"),
    "search": ("search", "full-text search of titles, bodies and attachment text, best hits first"),
    "history": ("history", "the stored versions of a page and a diff of its body between two"),
    "attachments": ("attachments", "download and read the attachments of stored articles (fetch)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``only``, that command's arguments alone (the others' modules are
    not imported: ``gongkai extract`` does not pay for ten commands it does not run)."""
    parser = argparse.ArgumentParser(prog="gongkai", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module)
        if only is None or name == only:
            _command_module(module).add_arguments(command_parser)
    return parser


def _command_module(module: str):
    return importlib.import_module(f"gongkai_spider.commands.{module}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; usage and store errors end it with one line and exit 2 (gongkai_spider.commands)."""
    words = sys.argv[1:] if argv is None else argv
    # The first word names the command (the top level has no option but --help); anything else gets it all.
    args = build_parser(words[0] if words and words[0] in COMMANDS else None).parse_args(argv)
    try:
        return int(_command_module(args._module).run(args) or 0)
    except BrokenPipeError:  # `gongkai export | head`
        return 0
    except Exception as exc:
        from gongkai_spider.commands import report_errors

        status = report_errors(args.command, exc)
        if status is None:
            raise
        return status


if __name__ == "__main__":
    sys.exit(main())
