"""Pure text normalisers shared by extraction, the clean pipeline and the commands.

Dates follow gov-portals.md section 2.4: every time is Asia/Shanghai (+08:00).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# Whitespace of every kind, including NBSP (\xa0), ideographic space (\u3000) and zero-width characters.
_WS_RE = re.compile(r"[\s\xa0\u3000\u200b\u200c\u200d\ufeff]+")


def collapse_ws(text: str | None) -> str:
    """One ASCII space for each run of whitespace (full-width and NBSP included), trimmed."""
    if not text:
        return ""
    return _WS_RE.sub(" ", text).strip()


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


def parse_datetime(value: str | datetime | int | float | None) -> datetime | None:
    """A tz-aware Asia/Shanghai datetime from any date format portals use, or None.

    Accepts datetimes (naive ones are taken as Shanghai time), epoch seconds or milliseconds, and the
    string forms of gov-portals.md 2.4 (first date in the string wins).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, SHANGHAI)
    text = collapse_ws(str(value))
    match = DATE_RE.search(text)
    if match:
        g = match.groupdict()
        return _build(int(g["y"]), int(g["m"]), int(g["d"]),
                      int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0))
    match = _CN_DATE_RE.search(text)
    if match:
        return _build(_cn_number(match["y"]), _cn_number(match["m"]), _cn_number(match["d"]))
    match = _COMPACT_RE.search(text)
    if match:
        return _build(int(match["y"]), int(match["m"]), int(match["d"]))
    return None
