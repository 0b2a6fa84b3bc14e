"""Spider and downloader middlewares of the project, one module per concern (enabled in ``settings.py``).

* ``incremental.IncrementalMiddleware`` (spider middleware): skip stored / too-old articles, stop paging caught-up
  columns.
* ``blocking.BlockedMiddleware`` (downloader middleware): anti-bot challenge pages are counted, backed off,
  retried and never parsed.
* ``redirects.RedirectLoopMiddleware`` (downloader middleware): a redirect loop is a counted failure.
* ``robots.SharedRobotsTxtMiddleware`` (downloader middleware): Scrapy's robots.txt middleware with a fix for
  requests that wait on an in-flight robots.txt.
"""
