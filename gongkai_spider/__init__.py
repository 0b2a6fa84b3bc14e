"""gongkai-spider: a Scrapy + MongoDB ingestion pipeline for Chinese government disclosure portals."""

__version__ = "0.1.0"
