"""GcTuning (extensions/gctuning.py): start-up objects frozen, larger thresholds while the engine runs, restored after."""

from __future__ import annotations

import gc

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from gongkai_spider import settings as project_settings
from gongkai_spider.extensions.gctuning import GcTuning


def test_the_project_enables_it():
    assert "gongkai_spider.extensions.gctuning.GcTuning" in project_settings.EXTENSIONS
    assert tuple(project_settings.GONGKAI_GC_THRESHOLD) == (10000, 10, 10)


def test_freezes_and_raises_the_thresholds_while_the_engine_runs_then_restores_them():
    before = gc.get_threshold()
    ext = GcTuning.from_crawler(get_crawler(settings_dict={"GONGKAI_GC_THRESHOLD": "12345,11,12"}))
    try:
        ext.engine_started()
        assert gc.get_threshold() == (12345, 11, 12)
        assert gc.get_freeze_count() > 0
    finally:
        ext.engine_stopped()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    ext.engine_stopped()  # a second stop changes nothing
    assert gc.get_threshold() == before


@pytest.mark.parametrize("value", ["", (), []])
def test_an_empty_threshold_leaves_the_collector_alone(value):
    with pytest.raises(NotConfigured):
        GcTuning.from_crawler(get_crawler(settings_dict={"GONGKAI_GC_THRESHOLD": value}))
