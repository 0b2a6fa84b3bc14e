"""Item pipelines, one concern per module, wired in order by ``gongkai_spider.settings.ITEM_PIPELINES``:
clean -> validate -> spam -> dedup -> store. Pipelines never parse HTML."""
