"""Item pipelines, one concern per module, wired in order by ``gongkai_spider.settings.ITEM_PIPELINES``:
clean -> validate -> spam -> attachments -> dedup -> store. Pipelines never parse HTML; attachment files are read
by ``gongkai_spider.filetext`` (in a worker process), never here."""
