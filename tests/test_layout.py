"""House rules of the layout that a refactoring could quietly break."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gongkai_spider import settings as project_settings

ROOT = Path(__file__).resolve().parent.parent


def _modules_loaded_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_pipelines_never_import_extraction():
    names = [p.stem for p in (ROOT / "pipelines").glob("*.py") if p.stem != "__init__"]
    loaded = _modules_loaded_by("\n".join(f"import pipelines.{name}" for name in names))
    assert not {m for m in loaded if m.startswith("gongkai_spider.extract")}


def test_middlewares_and_extensions_do_not_import_pipelines():
    code = "\n".join(f"import {p.relative_to(ROOT).with_suffix('').as_posix().replace('/', '.')}"
                     for folder in ("gongkai_spider/middlewares", "gongkai_spider/extensions")
                     for p in (ROOT / folder).glob("*.py"))
    # the modules' type-only imports too: nothing under pipelines/ is named in them
    assert not {m for m in _modules_loaded_by(code) if m.startswith("pipelines")}
    for folder in ("gongkai_spider/middlewares", "gongkai_spider/extensions"):
        for path in (ROOT / folder).glob("*.py"):
            assert "from pipelines" not in path.read_text(encoding="utf-8"), path


def test_scrapys_own_meta_refresh_and_log_formatter():
    assert "LOG_FORMATTER" not in vars(project_settings)
    assert not any("MetaRefresh" in name for name in project_settings.DOWNLOADER_MIDDLEWARES)


def test_remote_control_is_off_by_default():
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(settings_dict={k: v for k, v in vars(project_settings).items() if k.isupper()})
    assert crawler.settings.getbool("REMOTE_CONTROL_ENABLED") is False
