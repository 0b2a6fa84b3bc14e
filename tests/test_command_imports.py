"""Commands load only what they use: ``gongkai extract`` must not start Scrapy, Twisted, itemadapter or numpy
(the near-duplicate index's: one document has nothing to be compared with), nor the other commands' modules.

Checked in a fresh interpreter (``sys.modules`` after the command ran), since this test process has Scrapy
loaded already. The command's output is also checked, so the test cannot pass by the command failing early.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "tests/fixtures/clean/crackdown_names_brand/page.html"

_PROBE = """
import contextlib, io, json, sys
from gongkai_spider.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("scrapy", "twisted", "itemadapter", "cryptography", "numpy")
               or m.startswith("gongkai_spider.commands.") and m != "gongkai_spider.commands." + sys.argv[1])
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_extract_does_not_import_scrapy() -> None:
    result = _probe("extract", str(PAGE))
    document = json.loads(result["out"])
    assert result["code"] == 0 and document["title"] and document["content_hash"]
    assert result["heavy"] == []


def test_extract_validation_drop_does_not_import_scrapy() -> None:
    # GONGKAI_MIN_BODY_CHARS far above the page's length: the page is dropped as body_too_short, the path
    # where the crawl raises Scrapy's DropItem.
    result = _probe("extract", str(PAGE), env={"GONGKAI_MIN_BODY_CHARS": "1000000"})
    document = json.loads(result["out"])
    assert result["code"] == 1 and document["dropped"] == "body_too_short"
    assert result["heavy"] == []
