"""Pure text normalisers shared by extraction, the clean pipeline, dedup and the commands.

Dates follow gov-portals.md section 2.4 (every time is Asia/Shanghai, +08:00), labels section 2.2, read counters
section 5. Everything here is a pure function over strings: no settings, no I/O, cheap enough to call per field.

* ``collapse_ws`` / ``clean_text`` / ``clean_lines``: whitespace (NBSP, ideographic space, zero-width) collapsed,
  Chinese punctuation untouched.
* ``strip_label``: ``来源：`` / ``[来源]`` / ``作者:`` ... removed from the start of a value.
* ``split_keywords``, ``parse_read_count``, ``parse_datetime``, ``normalize_date_string``.
* ``canonical_url`` / ``doc_id``: the document key (``_id`` = sha1 of the canonical URL).
* ``url_host`` / ``registrable_domain``: hosts of links and pages, for the spam scorer and the page signals.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# Whitespace of every kind, including NBSP (\xa0), ideographic space (\u3000) and zero-width characters.
_WS_RE = re.compile(r"[\s\xa0\u3000\u200b\u200c\u200d\ufeff]+")


_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\ufeff")


def collapse_ws(text: str | None) -> str:
    """One ASCII space for each run of whitespace (full-width and NBSP included), trimmed."""
    if not text:
        return ""
    if any(ch in text for ch in _ZERO_WIDTH):
        return _WS_RE.sub(" ", text).strip()
    # str.split() knows the same Unicode whitespace as the regex's \s, ten times faster.
    return " ".join(text.split())


# y-m-d with -, /, ., 年月日 separators, optional time; the day must not run on into more digits
# (索引号 look-alikes such as 2024-05-00018).
DATE_RE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)\s*日?"
    r"(?:[\sT\-]*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2}))?)?"
)
_COMPACT_RE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)")
_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_DATE_RE = re.compile(r"(?P<y>[〇零○Ｏ一二三四五六七八九]{4})年(?P<m>[一二三四五六七八九十]{1,2})月"
                         r"(?P<d>[一二三四五六七八九十]{1,3})日")


def _cn_number(text: str) -> int:
    if "十" not in text:
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _build(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime | None:
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)
    except ValueError:
        return None


# Epoch seconds / milliseconds as a bare digit string (JSON list APIs); bounded to 2000..2100 so that
# 索引号-like digit runs are not taken for times.
_EPOCH_RE = re.compile(r"\d{10}|\d{13}")
_EPOCH_MIN, _EPOCH_MAX = 946_684_800, 4_102_444_800
# An explicit offset right after the time of an ISO string: Z, +08:00, +0800, -05:00.
_TZ_RE = re.compile(r"(?:\.\d+)?\s*(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2}))(?!\d)")
# Month and day without a year (listing pages): the whole value must be the date, optionally bracketed or
# after a short label, so numbers inside other text are never taken for dates.
_MONTH_DAY_RE = re.compile(
    r"(?:[^\d:：]{0,12}[:：])?\s*[\[【(（]?\s*(?P<m>\d{1,2})\s*(?:[-/]|月)\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[\sT]+(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2})(?:\s*[:：]\s*(?P<S>\d{2}))?)?\s*[\]】)）]?"
)


def _from_epoch(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, SHANGHAI)
    except (OverflowError, OSError, ValueError):
        return None


def _with_offset(parsed: datetime, text: str, end: int) -> datetime:
    """Honour an explicit UTC offset after the matched time (ISO 8601); otherwise the time is Shanghai's."""
    match = _TZ_RE.match(text, end)
    if not match:
        return parsed
    if match["z"]:
        offset = UTC
    else:
        minutes = int(match["oh"]) * 60 + int(match["om"])
        if minutes > 14 * 60:
            return parsed
        offset = timezone(timedelta(minutes=-minutes if match["sign"] == "-" else minutes))
    return parsed.replace(tzinfo=offset).astimezone(SHANGHAI)


def _month_day(text: str, reference: int | date) -> datetime | None:
    match = _MONTH_DAY_RE.fullmatch(text)
    if not match:
        return None
    m, d = int(match["m"]), int(match["d"])
    hh, mm, ss = int(match["H"] or 0), int(match["M"] or 0), int(match["S"] or 0)
    if isinstance(reference, date):
        # A listing seen on 2025-01-03 showing "12-30" means 2024-12-30: never a date after the reference day.
        parsed = _build(reference.year, m, d, hh, mm, ss)
        if parsed is not None and parsed.date() > reference + timedelta(days=1):
            parsed = _build(reference.year - 1, m, d, hh, mm, ss)
        return parsed
    return _build(int(reference), m, d, hh, mm, ss)


def parse_datetime(
    value: str | datetime | date | int | float | None, default_year: int | date | None = None
) -> datetime | None:
    """A tz-aware Asia/Shanghai datetime from any date format portals use, or None.

    Accepts datetimes (naive ones are taken as Shanghai time), dates (midnight), epoch seconds or milliseconds
    (numbers or 10/13-digit strings), and the string forms of gov-portals.md 2.4 (first date in the string
    wins): ``2024-05-24``, ``2024-05-24 09:14[:32]``, ``2024-05-24-16:30:05``, ``2024年5月24日``,
    ``2024/5/24``, ``2024.05.24``, ``[2024-05-24]``, ``（2018-04-09）``, ``20240524``, ``二〇二四年五月二十四日``.
    ISO strings with an offset (``Z``, ``+00:00``) are converted to Shanghai time.

    A month and day alone (``05-24``, ``5月24日``, listing pages) has no year: it gives None unless
    ``default_year`` is given. An int is used as the year; a date is the day the listing was seen, and the
    year is chosen so the result is not after that day (``12-30`` seen on 2025-01-03 -> 2024-12-30).
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=SHANGHAI)
    if isinstance(value, (int, float)):
        return _from_epoch(value / 1000 if value > 10**11 else value)
    text = collapse_ws(str(value))
    match = DATE_RE.search(text)
    if match:
        g = match.groupdict()
        parsed = _build(int(g["y"]), int(g["m"]), int(g["d"]),
                        int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0))
        if parsed is not None and g["H"] is not None:
            parsed = _with_offset(parsed, text, match.end("S") if g["S"] else match.end("M"))
        return parsed
    match = _CN_DATE_RE.search(text)
    if match:
        return _build(_cn_number(match["y"]), _cn_number(match["m"]), _cn_number(match["d"]))
    if _EPOCH_RE.fullmatch(text):
        seconds = int(text) / 1000 if len(text) == 13 else int(text)
        return _from_epoch(seconds) if _EPOCH_MIN <= seconds < _EPOCH_MAX else None
    match = _COMPACT_RE.search(text)
    if match:
        return _build(int(match["y"]), int(match["m"]), int(match["d"]))
    if default_year is not None:
        return _month_day(text, default_year)
    return None


def normalize_date_string(value: str | datetime | date | int | float | None) -> str | None:
    """``YYYY-MM-DD`` for any date parse_datetime understands (e.g. 成文日期 ``2024年05月20日``), else None."""
    parsed = parse_datetime(value)
    return parsed.strftime("%Y-%m-%d") if parsed else None


# ---------------------------------------------------------------------------------------------------------
# Text: whitespace, labels, keywords
# ---------------------------------------------------------------------------------------------------------

# Characters that carry nothing: zero-width marks and C0 controls other than the line breaks splitlines knows.
# Removed (not turned into spaces) so 中\u200b文 stays 中文.
_INVISIBLE_RE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\u200b-\u200d\u2060\ufeff]+")


def clean_text(text: str | None) -> str | None:
    """One line of text: invisible characters removed, whitespace collapsed (collapse_ws); None when empty."""
    if not text:
        return None
    return " ".join(_INVISIBLE_RE.sub("", str(text)).split()) or None


def _clean_line(line: str) -> str:
    if "\t" not in line:
        return " ".join(line.split())
    # a data-table row: cells stay tab-separated (empty cells inside the row keep their column)
    cells = [" ".join(cell.split()) for cell in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    while cells and not cells[0]:
        cells.pop(0)
    return "\t".join(cells)


def clean_lines(body: str | None) -> str:
    """Body text, one paragraph per line: each line collapsed (NBSP, \\u3000), empty lines dropped; the
    tabs between the cells of a data-table row stay (one per cell boundary).

    Chinese punctuation (，。、：“”) is never touched; invisible characters are removed.
    """
    if not body:
        return ""
    # Invisible characters are gone, so str.split() alone is collapse_ws here.
    lines = (_clean_line(line) for line in _INVISIBLE_RE.sub("", str(body)).splitlines())
    return "\n".join(line for line in lines if line)


# Field labels of gov-portals.md 2.2 / 2.3, longest first where one is a prefix of another does not matter:
# the pattern is built longest-first. 责任编辑 is deliberately absent: it is not the author.
SOURCE_LABELS: tuple[str, ...] = (
    "来源", "信息来源", "文章来源", "本文来源", "稿件来源", "新闻来源", "来源单位", "发布机构", "发文机关",
    "公开主体", "出处", "ContentSource", "Source",
)
AUTHOR_LABELS: tuple[str, ...] = (
    "作者", "撰稿", "撰稿人", "供稿", "供稿人", "文/图", "图/文", "文", "记者", "通讯员", "发布者", "发布人",
    "Author",
)
SUMMARY_LABELS: tuple[str, ...] = ("摘要", "本文摘要", "内容摘要", "内容概述", "内容提要", "导读", "Description")
TITLE_LABELS: tuple[str, ...] = ("标题", "文章标题", "名称", "Title")
KEYWORD_LABELS: tuple[str, ...] = ("关键词", "关键字", "本文关键词", "主题词", "标签", "Keywords", "Tags")
ALL_LABELS: tuple[str, ...] = SOURCE_LABELS + AUTHOR_LABELS + SUMMARY_LABELS + TITLE_LABELS + KEYWORD_LABELS


def _label_alt(label: str) -> str:
    # Whitespace may sit between the characters of a label (来　源, 发 布 机 构).
    return r"\s*".join(re.escape(ch) for ch in label)


@lru_cache(maxsize=64)
def _label_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(set(labels), key=len, reverse=True)
    long_alts = "|".join(_label_alt(lb) for lb in ordered if len(lb) > 1) or "(?!)"
    any_alts = "|".join(_label_alt(lb) for lb in ordered)
    # [来源] / 【来源】 / 来源： / 来源: / a bare label with nothing after it / and, for labels of two
    # characters or more, 来源<space> (a one-character label such as 文 needs its colon).
    return re.compile(
        rf"\s*(?:[\[【〔]\s*(?:{any_alts})\s*[\]】〕]\s*[:：]?"
        rf"|(?:{any_alts})\s*[:：]"
        rf"|(?:{long_alts})\s+(?=\S)"
        rf"|(?:{any_alts})\s*$)\s*",
        re.IGNORECASE,
    )


def strip_label(text: str | None, labels: Iterable[str] = ALL_LABELS) -> str:
    """``text`` without leading field labels (``来源：``, ``信息来源:``, ``[来源]``, ``作者 ``), collapsed.

    Repeated labels (``来源：来源：X``) are all removed; a label inside the value is left alone.
    """
    text = clean_text(text) or ""
    pattern = _label_re(tuple(labels))
    for _ in range(3):
        match = pattern.match(text)
        if not match or match.end() == 0:
            break
        text = text[match.end():]
    return text


_KEYWORD_SPLIT_RE = re.compile(r"[,，、;；\s\u200b\ufeff]+")


def split_keywords(text: str | Iterable[str] | None) -> list[str]:
    """Keywords split on ``,，、;；`` and any whitespace (full-width, NBSP), deduplicated, order kept."""
    if not text:
        return []
    parts = [text] if isinstance(text, str) else [str(t) for t in text if t]
    seen: dict[str, None] = {}
    for part in parts:
        for word in _KEYWORD_SPLIT_RE.split(part):
            if word:
                seen.setdefault(word, None)
    return list(seen)


# ---------------------------------------------------------------------------------------------------------
# Read counts (gov-portals.md section 5)
# ---------------------------------------------------------------------------------------------------------

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９，．", "0123456789,.")
_READ_RE = re.compile(r"(?P<neg>-\s*)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?\s*(?P<unit>万|千|亿|[wWkK])?")
_UNITS = {"万": 10_000, "w": 10_000, "W": 10_000, "千": 1_000, "k": 1_000, "K": 1_000, "亿": 100_000_000}


def parse_read_count(value: str | int | float | None) -> int | None:
    """The number a read counter shows, or None when it shows none.

    ``1,234`` -> 1234, ``86次`` -> 86, ``1.2万`` -> 12000, ``第 5 次阅读`` -> 5, ``阅读量：0`` -> 0;
    ``--``, empty, ``-1`` and JS placeholders (``{{hits}}``) -> None. Never 0 unless the page shows 0.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value >= 0 else None
    match = _READ_RE.search(str(value).translate(_FULLWIDTH_DIGITS))
    if not match or match["neg"]:
        return None
    number = int(match["int"].replace(",", ""))
    unit = _UNITS.get(match["unit"] or "", 1)
    if match["frac"]:
        scale = 10 ** len(match["frac"])
        return (number * scale + int(match["frac"])) * unit // scale
    return number * unit


# ---------------------------------------------------------------------------------------------------------
# URLs and document ids
# ---------------------------------------------------------------------------------------------------------

# Query parameters that say how a link was shared, never which page it is (compared case-insensitively;
# every utm_* too). Session ids are here because Java CMSs (Hanweb JCMS) put them in links.
TRACKING_PARAMS: frozenset[str] = frozenset({
    "spm", "from", "isappinstalled", "scene", "subscene", "clicktime", "enterid", "sharer_shareid",
    "sharer_sharetime", "share_source", "share_medium", "share_token", "fbclid", "gclid", "gclsrc", "dclid",
    "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "wfr", "xtrack", "jsessionid", "phpsessid",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$&'()*+,;=-._~?"
_PCT_RE = re.compile(r"%[0-9a-fA-F]{2}")
_SESSION_PATH_RE = re.compile(r";(?:jsessionid|phpsessid)=[^/?#]*", re.IGNORECASE)


def _upper_escapes(text: str) -> str:
    return _PCT_RE.sub(lambda m: m.group(0).upper(), text) if "%" in text else text


def _is_tracking(piece: str) -> bool:
    key = unquote_plus(piece.partition("=")[0]).strip().lower()
    return key.startswith("utm_") or key in TRACKING_PARAMS


# A crawl canonicalises each article's URL several times (the incremental check of its request, the ledger,
# clean): the same strings, a pure function, ~10 µs a call.
@lru_cache(maxsize=8192)
def canonical_url(url: str) -> str:
    """The URL that identifies an article: stable across how a link was found.

    Fragment dropped; tracking parameters (utm_*, spm, from, isappinstalled, ... see TRACKING_PARAMS) and
    ``;jsessionid=`` dropped; remaining parameters sorted by name (repeated names keep their order); scheme and
    host lower-cased; default ports removed; empty path -> ``/``; non-ASCII percent-encoded and escapes
    upper-cased. Idempotent: ``canonical_url(canonical_url(u)) == canonical_url(u)``.
    """
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        try:
            host, port = (parts.hostname or ""), parts.port
        except ValueError:  # port is not a number: keep it as written
            host, port = hostport.lower(), None
        else:
            host = host.rstrip(".")
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            if port is not None and port != _DEFAULT_PORTS.get(scheme):
                host = f"{host}:{port}"
        netloc = f"{userinfo}@{host}" if userinfo else host
    path = _SESSION_PATH_RE.sub("", parts.path)
    path = _upper_escapes(quote(path, safe=_PATH_SAFE)) or ("/" if netloc else "")
    pieces = [p for p in parts.query.split("&") if p and not _is_tracking(p)]
    pieces.sort(key=lambda p: p.partition("=")[0])
    query = _upper_escapes(quote("&".join(pieces), safe=_QUERY_SAFE))
    return urlunsplit((scheme, netloc, path, query, ""))


def doc_id(canonical: str) -> str:
    """The document ``_id``: sha1 hex of the canonical URL (pass ``canonical_url(url)``)."""
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def as_date(value: date | datetime | str | None) -> date | None:
    """A day from a date, a datetime or any date string parse_datetime reads (None when unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parsed = parse_datetime(str(value))
    return parsed.date() if parsed else None


# Second-level labels under which the registrable domain has three labels (example.gov.cn, a.com.cn).
_SECOND_LEVEL = frozenset({"gov", "com", "net", "org", "edu", "ac", "mil", "co"})
_HOST_RE = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//(?:[^@/?#]*@)?([^/:?#\s]+)")


def url_host(url: str | None) -> str | None:
    """Lower-case host of an absolute or protocol-relative URL, else None (relative links)."""
    if not url:
        return None
    m = _HOST_RE.match(url)
    return m.group(1).lower().rstrip(".") if m else None


@lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """Approximate registrable domain: ``www.jiande.gov.cn`` -> ``jiande.gov.cn``, ``a.b.com`` -> ``b.com``."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
