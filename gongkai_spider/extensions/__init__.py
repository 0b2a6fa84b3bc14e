"""Scrapy extensions of the project (enabled in ``settings.EXTENSIONS``).

* ``monitor.RunMonitor``: per-site summary at close, field-coverage history, alerts that fail the run.
* ``history``: the per-site run history file (coverage of earlier runs, how the last run ended).
* ``jobdir.JobDirGuard``: with ``JOBDIR``, discards the scheduler state a killed run left behind.
* ``gctuning.GcTuning``: freezes the start-up objects and raises the garbage collector's thresholds (CPU per page).
"""
