"""``gongkai export``: a collection as JSONL (MongoDB Extended JSON) or CSV, to stdout or ``--output FILE``.

JSONL: one document per line in relaxed Extended JSON v2 (dates as ``{"$date":"2024-05-24T01:14:00Z"}``),
UTF-8 and compact as ``mongoexport`` writes it, so ``mongoimport --collection articles --file articles.jsonl``
loads the documents unchanged (same ``_id``, BSON dates, int64 simhash). CSV: one row per document, the
columns of the schema in schema order (``gongkai_spider.items.DOCUMENT_FIELDS``), lists and objects as JSON
text in their cells, datetimes as ISO 8601 ``+08:00``, empty cell for null; UTF-8 with a BOM by default so
Excel shows the Chinese text (pandas: ``pd.read_csv(f, encoding="utf-8-sig")``), ``--no-bom`` for tools that
dislike it.
See docs/SCHEMA.md. ``--since YYYY-MM-DD`` keeps documents published on or after that day (Asia/Shanghai).

CSV cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'`` unless the cell
is a plain number (a negative simhash stays a number): spreadsheets would run them as formulas, and titles come
from the crawled pages (quarantine entirely from hijacked ones). JSONL is written as stored, by orjson; from SQLite
straight from the stored JSON (one decode and encode in C per document), byte for byte what MongoDB's path writes.

``--output`` is checked before the store is opened: a missing folder, a folder, the SQLite store (or its ``-wal`` /
``-shm`` / ``-journal`` / ``.fingerprints`` files), anything inside the spool folder (``GONGKAI_SPOOL_DIR``) or
inside a Scrapy ``JOBDIR`` (``$JOBDIR``, or a folder holding ``requests.seen`` / ``requests.queue`` /
``gongkai.running``) is refused with one line and exit 2, and nothing is written.

Incremental pulls: ``--site S``, ``--until YYYY-MM-DD`` (published on or before that day), ``--updated-since T``
(content new or changed at or after ``T``: a date, or an ISO 8601 time, ``+08:00`` when it has no offset;
served by the ``updated_at`` index) and ``--fields a,b,c`` (only these fields, in this order; CSV columns too).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

from gongkai_spider.commands import one_line_errors
from gongkai_spider.errors import BadArgument

# Cells a spreadsheet would read as a formula or a command (CSV injection), and the plain numbers exempt from it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# What Scrapy and extensions/jobdir.py keep in a JOBDIR: an export written among them could break a resumable job.
_JOBDIR_MARKERS = ("requests.seen", "requests.queue", "gongkai.running")


def _since(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _time(text: str) -> datetime:
    from gongkai_spider.storage.base import as_shanghai

    try:
        return as_shanghai(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {text!r}") from None


def _fields(text: str) -> tuple[str, ...]:
    fields = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if not fields:
        raise argparse.ArgumentTypeError("no field given")
    return fields


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", choices=("articles", "quarantine", "pending"), default="articles",
                        help="collection to export (default: articles); pending: the completeness ledger")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default: jsonl)")
    parser.add_argument("--since", type=_since, metavar="YYYY-MM-DD",
                        help="only documents published on or after this day (Asia/Shanghai)")
    parser.add_argument("--until", type=_since, metavar="YYYY-MM-DD",
                        help="only documents published on or before this day (Asia/Shanghai)")
    parser.add_argument("--site", help="only this site")
    parser.add_argument("--updated-since", type=_time, metavar="TIME",
                        help="only documents whose content is new or changed since TIME (date or ISO 8601)")
    parser.add_argument("--fields", type=_fields, metavar="a,b,c", help="only these fields, in this order")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--db", metavar="PATH", help="read this SQLite store (default: MONGO_URI, else GONGKAI_DB)")
    parser.add_argument("--no-bom", action="store_true", help="CSV without the UTF-8 byte order mark")
    parser.add_argument("--with-attachment-text", action="store_true",
                        help="include attachments[].text (the files' text; left out by default, it can be large)")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_RANGE = (-(2**63), 2**64)  # what orjson reads and writes as integers
# orjson reads an integer past 2**64 as a float: a stored document holding a run of 20 digits anywhere (a wider
# integer, or only a long number in a text) takes the per-document path, which writes such integers exactly.
# Found by mapping every digit to "0" and everything else to " " (bytes.translate, in C): a regular expression
# scanning for the run costs five times as long as the decode and the encode together.
_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_TWENTY_DIGITS = b"0" * 20


def _extended_datetime(value: datetime) -> dict:
    """A datetime as relaxed Extended JSON: UTC ISO 8601 with milliseconds cut (not rounded), or milliseconds
    since the epoch before 1970 (and past 9999), as ``bson.json_util`` writes it. A naive datetime is read as
    Asia/Shanghai, as the stores read one back (``storage.base.as_shanghai``)."""
    if value.tzinfo is None:
        from gongkai_spider.normalize import SHANGHAI

        value = value.replace(tzinfo=SHANGHAI)
    value = value.astimezone(UTC)
    if value.year < 1970:
        millis = (value - _EPOCH) // timedelta(milliseconds=1)
        return {"$date": {"$numberLong": str(millis)}}
    iso = value.isoformat(timespec="milliseconds")  # 2024-05-24T01:14:00.250+00:00
    return {"$date": (iso[:23] if value.microsecond >= 1000 else iso[:19]) + "Z"}


@lru_cache(maxsize=4096)  # a batch of documents shares its store stamps
def _extended_date(text: str) -> dict:
    """A stored ISO 8601 datetime as ``jsonl_line`` writes it, byte for byte."""
    return _extended_datetime(datetime.fromisoformat(text))


def _extended(value: Any) -> Any:
    """``value`` in the shape relaxed Extended JSON gives it, ready for ``orjson.dumps``: datetimes as
    ``$date``, NaN and the infinities as ``$numberDouble``, integers wider than 64 bits as exact JSON numbers,
    other BSON types (ObjectId, Decimal128, ...) as ``bson.json_util`` converts them."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: _extended(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_extended(v) for v in value]
    if isinstance(value, datetime):
        return _extended_datetime(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$numberDouble": "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value < _INT_RANGE[1] else orjson.Fragment(str(int(value)))
    if isinstance(value, Mapping):
        return {k: _extended(v) for k, v in value.items()}
    from bson import json_util

    return _extended(json_util.default(value, json_util.RELAXED_JSON_OPTIONS))


def jsonl_line(doc: dict) -> bytes:
    """One document as relaxed Extended JSON v2 in UTF-8, compact as ``mongoexport`` writes it (UTC ``$date``s,
    which mongoimport reads back exactly)."""
    return orjson.dumps(_extended(doc))


def _jsonl_per_document(data: bytes, paths_text: str | None, fields: tuple[str, ...] | None,
                        attachment_text: bool) -> bytes:
    """What the per-document path writes for one stored row (decode_doc, project, strip, jsonl_line)."""
    from gongkai_spider.storage.query import project
    from gongkai_spider.storage.sqlite import decode_doc

    doc = project(decode_doc(data, paths_text), fields)
    return jsonl_line(doc if attachment_text else without_attachment_text(doc))


@lru_cache(maxsize=1024)  # nearly every document of a store has one of a few lists
def _datetime_paths(text: str | None) -> tuple[tuple, ...]:
    return tuple(tuple(path) for path in json.loads(text)) if text else ()


def jsonl_from_stored(data: bytes, paths_text: str | None, fields: tuple[str, ...] | None = None,
                      attachment_text: bool = True) -> bytes:
    """``jsonl_line`` of a document straight from its stored JSON (UTF-8 bytes), reduced to ``fields`` and
    without attachments' text unless ``attachment_text``: one orjson decode and encode, with only the datetime
    paths the store recorded rewritten and attachment texts deleted from the decoded lists (no walk over the
    document in Python). A document holding NaN, Infinity or maybe an integer wider than 64 bits, which orjson
    does not read exactly, takes the per-document path."""
    try:
        doc = None if _TWENTY_DIGITS in data.translate(_DIGITS_AS_ZERO) else orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN / Infinity (SQLite 3.42+ stores them), or not JSON at all
        doc = None
    if type(doc) is not dict:
        return _jsonl_per_document(data, paths_text, fields, attachment_text)
    if fields is not None:
        doc = {k: doc[k] for k in fields if k in doc}
    for path in _datetime_paths(paths_text):
        if path[0] in doc:
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = _extended_date(parent[path[-1]])
    if not attachment_text:  # without_attachment_text, in place on the freshly decoded lists
        attachments = doc.get("attachments")
        if type(attachments) is list:
            for attachment in attachments:
                if type(attachment) is dict and "text" in attachment:
                    del attachment["text"]
    return orjson.dumps(doc)


def _write_lines(lines: Iterable[bytes], out: IO[bytes]) -> int:
    """Write ``lines`` with a newline after each, a thousand per write; return how many."""
    lines = iter(lines)
    n = 0
    while batch := list(islice(lines, 1000)):
        batch.append(b"")
        out.write(b"\n".join(batch))
        n += len(batch) - 1
    return n


def write_stored_jsonl(rows: Iterable[tuple[bytes, str | None]], out: IO[bytes], *,
                       fields: tuple[str, ...] | None = None, attachment_text: bool = True) -> int:
    """Write (doc JSON bytes, datetime paths) rows of SQLiteStore.iter_json as JSONL to the binary stream
    ``out``; return how many."""
    return _write_lines((jsonl_from_stored(data, paths, fields, attachment_text) for data, paths in rows), out)


def write_jsonl(docs: Iterable[dict], out: IO[bytes]) -> int:
    """Write documents as JSONL (``jsonl_line``) to the binary stream ``out``; return how many."""
    return _write_lines(map(jsonl_line, docs), out)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def csv_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would take it for a formula (plain numbers excepted)."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return csv_safe(json.dumps(value, ensure_ascii=False,
                                   default=lambda v: _iso(v) if isinstance(v, datetime) else str(v)))
    return csv_safe(str(value))


def _inside(path: Path, folder: str | os.PathLike | None) -> bool:
    if not folder:
        return False
    folder = Path(folder).resolve()
    return path == folder or path.is_relative_to(folder)


def check_output(output: str, settings: dict[str, Any]) -> Path:
    """The resolved ``--output`` path, or BadArgument when writing there could harm the store or a job."""
    path = Path(output).expanduser().resolve()
    if path.is_dir():
        raise BadArgument(f"--output {output}: is a folder; name a file")
    if not path.parent.is_dir():
        raise BadArgument(f"--output {output}: folder {path.parent} does not exist")
    if not settings.get("MONGO_URI"):
        from gongkai_spider.storage.base import fingerprint_index_file

        store = Path(str(settings.get("GONGKAI_DB") or "data/gongkai.sqlite3")).expanduser().resolve()
        for protected in (store, *(store.with_name(store.name + s) for s in ("-wal", "-shm", "-journal")),
                          fingerprint_index_file(store)):
            if path == protected or (path.exists() and protected.exists() and os.path.samefile(path, protected)):
                raise BadArgument(f"--output {output}: is the store {store}; name another file")
    if _inside(path, settings.get("GONGKAI_SPOOL_DIR") or "data/spool"):
        raise BadArgument(f"--output {output}: is inside the spool folder {settings.get('GONGKAI_SPOOL_DIR')}")
    jobdir = os.environ.get("JOBDIR") or settings.get("JOBDIR")
    if _inside(path, jobdir) or any((folder / marker).exists() for folder in path.parents
                                    for marker in _JOBDIR_MARKERS):
        raise BadArgument(f"--output {output}: is inside a crawl's JOBDIR; name a file elsewhere")
    return path


def without_attachment_text(doc: dict) -> dict:
    """``doc`` with its attachments' metadata but not their ``text`` (a shallow copy where it changes)."""
    attachments = doc.get("attachments")
    if not isinstance(attachments, list) or not any(isinstance(a, dict) and "text" in a for a in attachments):
        return doc
    return {**doc, "attachments": [{k: v for k, v in a.items() if k != "text"} if isinstance(a, dict) else a
                                   for a in attachments]}


def export_fields(collection: str) -> tuple[str, ...]:
    """The CSV columns of a collection: the article schema, or the pending ledger's entry fields."""
    if collection == "pending":
        from gongkai_spider.extensions.ledger import PENDING_FIELDS

        return PENDING_FIELDS
    from gongkai_spider.items import DOCUMENT_FIELDS

    return DOCUMENT_FIELDS


def write_csv(docs: Iterable[dict], out: IO[str], fields: tuple[str, ...] | None = None) -> int:
    """Write ``docs`` as CSV to the text stream ``out`` (columns: ``fields``, default the article schema)."""
    import csv

    fields = fields or export_fields("articles")
    writer = csv.writer(out)
    writer.writerow(fields)
    n = 0
    for doc in docs:
        writer.writerow([csv_cell(doc.get(k)) for k in fields])
        n += 1
    return n


@one_line_errors("export")
def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import open_store_for_command, settings_from_env

    if args.since and args.until and args.until < args.since:
        raise BadArgument(f"--until {args.until} is before --since {args.since}")
    known = export_fields(args.collection)
    unknown = [f for f in args.fields or () if f not in known]
    if unknown:
        raise BadArgument(f"--fields: unknown field {unknown[0]!r} of {args.collection} (fields: {', '.join(known)})")
    if args.output:  # before the store is opened: a refused output leaves everything as it was
        settings = settings_from_env()
        if args.db:
            settings.update(MONGO_URI="", GONGKAI_DB=args.db)
        check_output(args.output, settings)
    store, _settings = open_store_for_command(args.db)
    try:
        out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            if args.format == "jsonl" and hasattr(store, "iter_json"):  # SQLite: from the stored JSON
                rows = store.iter_json(args.collection, since=args.since, until=args.until, site=args.site,
                                       updated_since=args.updated_since)
                n = write_stored_jsonl(rows, out, fields=args.fields, attachment_text=args.with_attachment_text)
            else:
                docs = store.iter_docs(args.collection, since=args.since, until=args.until, site=args.site,
                                       updated_since=args.updated_since, fields=args.fields)
                if not args.with_attachment_text:
                    docs = map(without_attachment_text, docs)
                if args.format == "jsonl":
                    n = write_jsonl(docs, out)
                else:
                    encoding = "utf-8" if args.no_bom else "utf-8-sig"
                    text = io.TextIOWrapper(out, encoding=encoding, newline="", write_through=False)
                    try:
                        n = write_csv(docs, text, args.fields or export_fields(args.collection))
                    finally:
                        text.flush()
                        text.detach()
        finally:
            out.flush()
            if args.output:
                out.close()
    finally:
        store.close()
    print(f"gongkai export: {n} documents from {args.collection}"
          + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0
