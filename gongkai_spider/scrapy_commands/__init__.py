"""Scrapy commands of the project (``COMMANDS_MODULE``): ``scrapy crawl`` reports alerts in its exit status;
``scrapy parse/shell/fetch/view/check`` write nothing (``readonly.py``)."""
