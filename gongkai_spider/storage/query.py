"""What both backends share for reads beyond one document: the filter of an export or a search, and the
records of ``article_versions`` (earlier versions of changed documents). docs/SCHEMA.md shows each pull."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gongkai_spider.storage.base import as_shanghai, since_datetime

# The fields of a document kept in its version record (with its time range), per docs/SCHEMA.md.
VERSION_FIELDS: tuple[str, ...] = ("url", "site", "title", "body", "publish_time", "doc_meta", "attachments",
                                   "content_hash", "version", "first_seen", "last_seen")


def until_datetime(until: datetime | date | None) -> datetime | None:
    """The exclusive end of ``until``: a date means through that whole day (Asia/Shanghai)."""
    if until is None:
        return None
    if isinstance(until, datetime):
        return as_shanghai(until)
    return since_datetime(until + timedelta(days=1))


@dataclass(frozen=True)
class DocFilter:
    """Documents of one site, published in [since, until] and/or changed at or after updated_since."""

    site: str | None = None
    since: datetime | date | None = None  # publish_time >= (a date: its midnight, Asia/Shanghai)
    until: datetime | date | None = None  # publish_time <= (a date: the whole day)
    updated_since: datetime | date | None = None  # updated_at >= (new or changed content since)

    @property
    def start(self) -> datetime | None:
        return since_datetime(self.since)

    @property
    def end(self) -> datetime | None:
        return until_datetime(self.until)

    @property
    def changed_from(self) -> datetime | None:
        return since_datetime(self.updated_since)

    def accepts(self, doc: Mapping[str, Any]) -> bool:
        """The same test in Python (tests compare the backends' queries against it)."""
        if self.site is not None and doc.get("site") != self.site:
            return False
        published, changed = doc.get("publish_time"), doc.get("updated_at")
        if (self.start or self.end) and not isinstance(published, datetime):
            return False
        if self.start and published < self.start:
            return False
        if self.end and published >= self.end:
            return False
        return not (self.changed_from and (not isinstance(changed, datetime) or changed < self.changed_from))


def project(doc: dict, fields: tuple[str, ...] | None) -> dict:
    """``doc`` reduced to ``fields`` (in that order; absent ones left out); None keeps everything."""
    return doc if fields is None else {k: doc[k] for k in fields if k in doc}


def version_record(old: Mapping[str, Any], collection: str, replaced_at: datetime) -> dict:
    """The ``article_versions`` record of ``old``, a stored document about to be replaced by new content.

    ``_id`` is ``<article _id>:<version>`` so writing it again (a replayed batch) changes nothing; the time
    range is ``valid_from`` (when this content was first stored) to ``valid_to`` (when it was replaced)."""
    record: dict[str, Any] = {"_id": f"{old['_id']}:{old.get('version') or 1}", "article_id": old["_id"],
                              "collection": collection}
    record.update((k, old[k]) for k in VERSION_FIELDS if k in old)
    record["valid_from"] = old.get("updated_at") or old.get("first_seen")
    record["valid_to"] = as_shanghai(replaced_at)
    return record
