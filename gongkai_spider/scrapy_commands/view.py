"""``scrapy view``, with nothing written: see readonly.py."""

from scrapy.commands.view import Command as ScrapyCommand

from gongkai_spider.scrapy_commands.readonly import read_only

Command = read_only(ScrapyCommand, __name__)
