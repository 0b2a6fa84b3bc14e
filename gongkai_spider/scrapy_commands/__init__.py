"""Scrapy commands of the project (``COMMANDS_MODULE``): override ``scrapy crawl`` to report alerts in its exit status."""
