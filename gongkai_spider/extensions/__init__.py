"""Scrapy extensions of the project (enabled in ``settings.EXTENSIONS``).

* ``monitor.RunMonitor``: per-site summary at close, field-coverage history, alerts that fail the run.
"""
