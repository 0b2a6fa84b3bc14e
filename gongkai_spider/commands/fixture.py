"""``gongkai fixture add|check``: make extraction fixtures by command, and review what a change did to them.

``gongkai fixture add URL_OR_FILE --case NAME [--site S] [--template T]`` saves, under
``tests/fixtures/<template>/<case>/`` (template: ``--template``, default ``sites``), the page bytes exactly as
served (``page.html``, in the page's own encoding), ``url.txt``, ``site.txt`` when ``--site`` is given, and
``expected.json`` from the current extraction (with the site's selectors applied), for review before commit.

``gongkai fixture check [--update]`` extracts every fixture again (``tests/test_extract_templates.py`` pins the
same cases) and prints a field-level diff for each one whose extraction changed; exit 1 when any did.
``--update`` accepts the changes: ``expected.json`` is rewritten with the current values of the fields it pins
(``body_contains`` / ``body_excludes`` lists are kept: they are promises written by hand).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Fixture folders pinned by tests/test_extract_templates.py (a case: a folder with page.html, url.txt,
# expected.json).
TEMPLATES = ("seed", "trs", "hanweb", "ucap", "generic_meta", "hostile", "gov", "sites")
DEFAULT_ROOT = Path("tests/fixtures")
# Raw extract_detail fields an added fixture pins, and the body checks (see test_extract_templates.py).
PINNED_FIELDS = ("kind", "reason", "title", "publish_time", "read_count", "author", "source", "summary", "keywords",
                 "attachments", "doc_meta", "continuation_urls")
BODY_EDGE = 40  # characters pinned by body_startswith / body_endswith


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="save a page as a fixture with its current extraction as expected.json")
    add.add_argument("source", metavar="URL_OR_FILE", help="an http(s) URL to fetch, or a saved page")
    add.add_argument("--case", required=True, help="the case folder's name (letters, digits, '_', '-')")
    add.add_argument("--site", metavar="NAME", help="site config whose selectors apply (recorded in site.txt)")
    add.add_argument("--url", help="the page's URL when SOURCE is a file (default: its file:// URL)")
    add.add_argument("--template", default="sites", choices=TEMPLATES, help="fixture folder (default: sites)")
    add.add_argument("--encoding", help="charset the HTTP header declared (default: the response's, or none)")
    add.add_argument("--timeout", type=float, default=30.0, help="fetch timeout in seconds (default 30)")
    add.add_argument("--force", action="store_true", help="replace an existing case")
    check = sub.add_parser("check", help="diff every fixture's extraction against its expected.json")
    check.add_argument("--update", action="store_true", help="accept the changes: rewrite expected.json")
    for p in (add, check):
        p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="fixtures folder (default: tests/fixtures)")


# ------------------------------------------------------------------------------------------ shared with the tests


def cases(root: Path) -> list[Path]:
    return sorted(case for template in TEMPLATES if (root / template).is_dir()
                  for case in (root / template).iterdir() if (case / "expected.json").is_file())


def extract_case(case: Path) -> dict[str, Any]:
    """``extract_detail`` of a fixture, with the site config its ``site.txt`` names (the crawl's site lookup)."""
    from gongkai_spider.extract import extract_detail

    url = (case / "url.txt").read_text(encoding="utf-8").strip()
    site_file = case / "site.txt"
    site = None
    if site_file.is_file():
        from gongkai_spider.sites import load_site
        from gongkai_spider.storage import settings_from_env

        site = load_site(site_file.read_text(encoding="utf-8").strip(),
                         settings_from_env().get("GONGKAI_SITES_DIR") or None)
    return extract_detail((case / "page.html").read_bytes(), url, site=site)


def expected_from(result: dict[str, Any], keys: list[str] | None = None,
                  previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """expected.json for ``result``: ``keys`` (default: every pinned field and body check), values as now."""
    body = result.get("body") or ""
    keys = keys or [*PINNED_FIELDS, "body_startswith", "body_endswith", "body_lines"]
    out: dict[str, Any] = {}
    for key in keys:
        if key == "body_startswith":
            out[key] = body[:len(previous[key]) if previous and key in previous else BODY_EDGE]
        elif key == "body_endswith":
            out[key] = body[-(len(previous[key]) if previous and key in previous else BODY_EDGE):] if body else ""
        elif key == "body_lines":
            out[key] = len(body.splitlines())
        elif key in ("body_contains", "body_excludes"):
            out[key] = (previous or {}).get(key, [])
        else:
            out[key] = result.get(key)
    return out


def diffs(expected: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """One line per pinned field whose value the extraction no longer gives."""
    body = result.get("body") or ""
    out = []
    for key, want in expected.items():
        if key == "body_startswith":
            ok, got = body.startswith(want), body[:len(want)]
        elif key == "body_endswith":
            ok, got = body.endswith(want), body[-len(want):] if want else ""
        elif key == "body_lines":
            got = len(body.splitlines())
            ok = got == want
        elif key == "body_contains":
            got = [t for t in want if t not in body]
            ok = not got
            got = f"missing {got}"
        elif key == "body_excludes":
            got = [t for t in want if t in body]
            ok = not got
            got = f"present {got}"
        else:
            got = result.get(key)
            ok = got == want
        if not ok:
            out.append(f"{key}: {_short(want)} -> {_short(got)}")
    return out


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ------------------------------------------------------------------------------------------ commands


def _add(args: argparse.Namespace) -> int:
    import re

    from gongkai_spider.commands.extract import _read

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.case):
        print(f"gongkai fixture: bad case name {args.case!r}: letters, digits, '_', '-'", file=sys.stderr)
        return 2
    case = args.root / args.template / args.case
    if (case / "expected.json").exists() and not args.force:
        print(f"gongkai fixture: {case} exists (--force replaces it)", file=sys.stderr)
        return 2
    if not args.root.is_dir():
        print(f"gongkai fixture: fixtures folder {args.root} does not exist", file=sys.stderr)
        return 2
    if args.site:
        from gongkai_spider.sites import SiteConfigError, SiteConfigMissing, load_site
        from gongkai_spider.storage import settings_from_env

        try:
            load_site(args.site, settings_from_env().get("GONGKAI_SITES_DIR") or None)
        except (SiteConfigError, SiteConfigMissing) as exc:
            print(f"gongkai fixture: {exc}", file=sys.stderr)
            return 2
    try:
        body, url, _encoding, _status = _read(args)
    except OSError as exc:
        print(f"gongkai fixture: cannot read {args.source}: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return 2
    case.mkdir(parents=True, exist_ok=True)
    (case / "page.html").write_bytes(body)  # the bytes as served: the page's own encoding
    (case / "url.txt").write_text(url + "\n", encoding="utf-8")
    if args.site:
        (case / "site.txt").write_text(args.site + "\n", encoding="utf-8")
    else:
        (case / "site.txt").unlink(missing_ok=True)
    result = extract_case(case)
    _write_expected(case, expected_from(result))
    print(f"gongkai fixture: {case} saved ({len(body)} bytes, kind {result.get('kind')}); review expected.json")
    return 0


def _write_expected(case: Path, expected: dict[str, Any]) -> None:
    (case / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _check(args: argparse.Namespace) -> int:
    changed = 0
    found = cases(args.root)
    for case in found:
        expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
        try:
            result = extract_case(case)
        except Exception as exc:  # a broken site config named by site.txt: report the case, go on
            print(f"{case.parent.name}/{case.name}: cannot extract: {exc}")
            changed += 1
            continue
        lines = diffs(expected, result)
        if not lines:
            continue
        changed += 1
        print(f"{case.parent.name}/{case.name}:")
        for line in lines:
            print(f"  {line}")
        if args.update:
            _write_expected(case, expected_from(result, list(expected), expected))
    verb = "updated" if args.update else "changed"
    print(f"{len(found)} fixture(s), {changed} {verb}", file=sys.stderr)
    return 1 if changed and not args.update else 0


def run(args: argparse.Namespace) -> int:
    return _add(args) if args.action == "add" else _check(args)
