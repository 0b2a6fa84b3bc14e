"""Spam pipeline (300): score each item for SEO hijacking and strip injected brand text (gov-portals.md §4).

Runs after clean and validate: the item has cleaned ``title``/``author``/``source``/``summary``/``body``,
``keywords`` as a list, ``url``, ``raw`` (the extracted strings) and the working fields ``_page_signals``
(``gongkai_spider.extract.signals.page_signals``), ``_page_host`` and ``_page_site_hosts`` (the crawled site's
configured hosts). Nothing is dropped: the item gets ``spam = {"is_spam", "score", "reasons"}`` and the store
routes spam to the ``quarantine`` collection.

A page whose host is one of ``_page_site_hosts`` (or a subdomain of one) is on its own site: the operator
configured that host as the portal, so it is not "foreign" whatever its name (an official domain outside
``.gov.cn``, the demo portal on 127.0.0.1). There ``gov_path_on_foreign_host`` and
``gov_identity_on_foreign_host`` never fire, a SiteDomain naming a gov host or any of the site's hosts is no
``site_domain_mismatch``, and links, refreshes and source lines pointing at the site's hosts are not external.
Items without the field (``gongkai extract`` on a file) are scored as before: only the page host is "own".

Pure functions, usable without a crawl:

- ``score_spam(item, lists, threshold=1.0) -> {"is_spam": bool, "score": float, "reasons": [str]}``
- ``strip_brands(item, lists) -> {field: new value}`` for the fields that change (title, author, source, keywords)
- ``check_item(item, lists=None, threshold=1.0) -> dict``: a copy of ``item`` with both applied

Scoring (weights in ``WEIGHTS``; an item is spam when the sum reaches the threshold, default 1.0). Tokens
come from the maintainer-edited lists in ``pipelines/spam_data/`` (see its README) and weigh by *where* they
appear — title, keywords, source, author and site name count far more than the body — so that legitimate
pages about 体育彩票 sales, 福利彩票 notices, 澳门/港澳事务, 娱乐场所 regulation or Macau's 博彩 economy stay clean:
single gambling words never count in the body, and ambiguous brand names (金沙, 永利 ...) only count next
to a call to action (官网, app下载 ...). In a page about a crackdown (公安, 破获, 涉赌 ... in the title) a
brand named bare, without a call to action, is reported news: it weighs half and is not stripped. The
headline and ``<title>`` usually carry the same injected text, so together they count once (SCORE_GROUPS).

Reasons are ``kind`` or ``kind:evidence`` strings, e.g. ``brand_in_title:尊龙凯时``,
``source_domain_mismatch:www.changyinwater.com``, ``referrer_redirect``. Kinds:

=========================== ======================================================================
brand_in_title              brand in the headline (the extracted title)
brand_in_html_title         brand in ``<title>``, ``ArticleTitle`` or ``og:title``
brand_in_keywords           brand in 本文关键词 / meta Keywords
brand_in_source             brand in the source line / ContentSource
brand_in_author             brand in the author
brand_in_site_name          brand in meta SiteName
brand_in_summary            brand in the summary / meta Description
brand_in_body               strong brand in the body (more with a CTA next to it or several brands)
bet_term_in_title           gambling promotion term (百家乐, 首存 ...) in a title or keywords
bet_cta_in_title            gambling word glued to a CTA (彩票app下载, 棋牌平台) in a title or keywords
bet_terms_in_body           three or more distinct gambling promotion terms in the body
porn_in_title               porn term in a title or keywords
porn_terms_in_body          three or more distinct porn terms in the body
keyword_chain_title         ``_``/``-``/``|``-joined chain of CTA segments (…手机版app下载v8.8.6)
app_version_in_title        ``v8.8.6``-style version next to a CTA in a title
site_domain_mismatch        meta SiteDomain on another registrable domain than the page
source_domain_mismatch      a non-gov domain in the source line, other than the page's
gov_path_on_foreign_host    gov CMS path (govweb/jrzg content_, Hanweb art_) on a non-gov host
gov_identity_on_foreign_host SiteIDCode / gov SiteDomain / 人民政府 site name on a non-gov host
impossible_url_date         date folder in the URL that cannot exist (/20230642/)
title_body_mismatch         headline shares almost nothing with the body
hidden_spam_links           hidden link whose text is a brand, gambling or porn term
hidden_external_links       three or more hidden links to non-gov hosts of other domains
hidden_link_block           off-screen / zero-size / marquee block holding external links
referrer_redirect           script sending search-engine visitors elsewhere
ua_cloaking                 script serving spiders something else
top_location_redirect       script setting top.location to an absolute URL
obfuscated_js               packed or escape-encoded script
meta_refresh_offsite        meta refresh to another domain
spun_text                   spun-copy tell-tale (信息公然, 政府站 ...)
traditional_script          large share of traditional-only characters on a mainland page
pinyin_annotations          characters followed by tone-marked pinyin: 網(wǎng)
star_separators             ``******`` between stories
emoji_density               emoji sprinkled through the prose
=========================== ======================================================================

Brand stripping (every item, spam or not; ``raw`` keeps the originals): an injected brand is removed with
the calls to action and affixes glued to it, the quotes or brackets around it and the separators left
dangling, e.g. ``我市和谐社区建设再上新台阶“尊龙凯时公司官网”`` -> ``我市和谐社区建设再上新台阶``;
``-``/``_``/``|`` segments of the title that are nothing but calls to action go too. An author or source
that was nothing but brand text (a leftover bare domain included) becomes None; keywords that were brand
or bare CTA words are dropped (possibly leaving ``[]``). A title that is nothing but brand text is kept
as it is: the item is quarantined and an empty title would hide what the page was.

Stats: ``gongkai/spam/clean``, ``gongkai/spam/spam``, ``gongkai/spam/reason/<kind>`` (every item the
signal fired on, spam or not: weak signals show up before they add up), ``gongkai/spam/brand_stripped``.
Settings: ``GONGKAI_SPAM_THRESHOLD``, ``GONGKAI_SPAM_LISTS_DIR`` (a copy of ``spam_data/`` to use instead).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from functools import cached_property, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gongkai_spider.normalize import registrable_domain, url_host
from gongkai_spider.stats import CounterStats, Stats
from pipelines.common import as_dict, attachment_text, fields

logger = logging.getLogger(__name__)

# The bundled lists: a folder, or a folder inside a zipped egg (scrapyd), hence importlib.resources.
DATA_DIR = resources.files("pipelines.spam_data")

WEIGHTS: dict[str, float] = {
    "brand_in_title": 1.0,
    "brand_in_html_title": 1.0,
    "brand_in_keywords": 1.0,
    "brand_in_source": 1.0,
    "brand_in_author": 1.0,
    "brand_in_site_name": 1.0,
    "brand_in_summary": 0.6,
    "brand_in_body": 0.5,  # + BODY_BRAND_CTA with a CTA next to it, + BODY_EXTRA_BRAND per further brand
    "bet_term_in_title": 0.4,
    "bet_cta_in_title": 0.5,
    "bet_terms_in_body": 0.5,
    "porn_in_title": 0.6,
    "porn_terms_in_body": 0.6,
    "keyword_chain_title": 0.6,
    "app_version_in_title": 0.3,
    "site_domain_mismatch": 0.6,
    "source_domain_mismatch": 0.8,
    "gov_path_on_foreign_host": 0.4,
    "gov_identity_on_foreign_host": 0.5,
    "impossible_url_date": 0.4,
    "title_body_mismatch": 0.4,
    "hidden_spam_links": 1.0,
    "hidden_external_links": 0.3,  # drop-down menus hide external links too: weak alone
    "hidden_link_block": 0.4,
    "referrer_redirect": 1.0,
    "ua_cloaking": 1.0,
    "top_location_redirect": 0.3,
    "obfuscated_js": 0.3,
    "meta_refresh_offsite": 0.5,
    "spun_text": 0.35,
    "traditional_script": 0.5,
    "pinyin_annotations": 0.6,
    "star_separators": 0.4,
    "emoji_density": 0.4,
}
BODY_BRAND_CTA = 0.3
BODY_EXTRA_BRAND = 0.25
# Caps on signals that may fire several times (per distinct token).
CAPS: dict[str, float] = {
    "brand_in_body": 1.0,
    "bet_term_in_title": 0.8,
    "porn_in_title": 1.2,
    "spun_text": 0.7,
    "obfuscated_js": 0.5,
}
ENFORCEMENT_FACTOR = 0.5  # weight of a bare brand name (no CTA) in a page about a crackdown
# Kinds that are one piece of evidence seen twice: the headline and <title> usually carry the same text.
SCORE_GROUPS: dict[str, str] = {"brand_in_html_title": "brand_in_title"}

# Fields scanned for brands, in the order reasons are reported: reason kind -> where the text comes from.
_TITLE_SIGNALS = ("html_title", "meta_article_title", "og_title")
_GOV_HOST_SUFFIXES = (".gov.cn", ".gov", ".gov.hk", ".gov.mo")
_NON_MAINLAND_SUFFIXES = (".hk", ".mo", ".tw")
_GOV_PATH = re.compile(
    r"/govweb/|/jrzg/|/content_\d{5,}\.s?html?|/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html|jcms_files|"
    r"govdir|/col/col\d+/|/t\d{8}_\d+\.s?html?",
    re.I,
)
_GOV_NAME = re.compile(r"人民政府|政府门户|政府网|中央政府|人民代表大会|政协|gov\.cn", re.I)
_URL_DATE = re.compile(r"/((?:19|20)\d{2})(\d{2})(\d{2})(?=/)")
_DOMAIN = re.compile(
    r"(?<![a-z0-9.@])(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|cn|cc|top|xyz|vip|info|biz|me|co|io|tv|la|ws|club|site|online|app|shop|hk|mo|tw|asia|live|"
    r"fun|pro|win|bet|games|casino))(?![\w-])",
    re.I,
)
# Each starts with a literal (a paren, a star) so the scan skips ahead fast; the character before is checked after.
_PINYIN = re.compile(r"[(（][a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*[)）]", re.I)
_STARS = re.compile(r"\*{6,}")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff]"
)  # astral-plane pictographs only: ★ and ✔ are ordinary on gov pages
_CJK_BIGRAM_SRC = re.compile(r"[\u4e00-\u9fff]{2,}")
_LIST_SPLIT = re.compile(r"[\s,，;；|]+")
_VERSION = re.compile(r"v\d+(?:\.\d+){1,3}", re.I)
_SEPARATORS = " \t·•・-_|/:：,，、.。—–~～"
_TITLE_SPLIT = re.compile(r"(\s*[_|｜]+\s*|\s*[—–]+\s*|\s+-+\s*|\s*-+\s+|(?<!\d)-+|-+(?!\d))")
_OPEN_CLOSE = {
    "“": "”",
    "‘": "’",
    "「": "」",
    "『": "』",
    "【": "】",
    "《": "》",
    "（": "）",
    "(": ")",
    "[": "]",
    "〔": "〕",
    '"': '"',
    "'": "'",
    "<": ">",
    "〈": "〉",
}
_EMPTY_PAIRS = re.compile(
    r"“\s*”|‘\s*’|「\s*」|『\s*』|【\s*】|《\s*》|（\s*）|\(\s*\)|\[\s*\]|〔\s*〕|\"\s*\""
)


# ---------------------------------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------------------------------


def _read_list(path: Traversable) -> list[str]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            out.append(line)
    return out


def _alternation(tokens: Iterable[str]) -> str:
    """One regex for many literal tokens, longest match first, as a trie (``金沙(?:娱乐|娱场)?``).

    Python's ``re`` tries the branches of a flat alternation one after the other at every position; factored
    into a trie it tries one branch per distinct first character, which makes scanning a body several times
    faster. An empty list gives a never-matching pattern.
    """
    trie: dict = {}
    for token in {t.lower() for t in tokens if t}:
        node = trie
        for ch in token:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_pattern(trie) if trie else r"(?!x)x"


# The most frequent characters of Chinese prose (and of gov notices), most frequent first: a token is
# anchored on its first character outside this list, else on its least frequent one.
_COMMON_CHARS = (
    # frequent in government notices first, then general prose
    "的公务信息开政府工作市县区局委办部门人民会议规定通知关于单位组织管理服务企业项目实施建设发展社区级报本申华育"
    "一二三四五六七八九十主体请动"
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用"
    "道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军"
    "者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见"
    "被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员解水名真"
    "论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直"
    "德资命山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记"
    "南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笔怎九论依请申网线站台"
)
_CHAR_RANK: dict[str, int] = {}
for _i, _ch in enumerate(_COMMON_CHARS):
    _CHAR_RANK.setdefault(_ch, _i)


def _anchor_index(token: str) -> int:
    ranks = [_CHAR_RANK.get(ch, len(_COMMON_CHARS) + 1) for ch in token]
    if any(ch.isascii() for ch in token) and not token.isascii():
        # mixed tokens (ag娱乐, pk10): a Latin letter is rare in Chinese prose, anchor on the first one
        return next(i for i, ch in enumerate(token) if ch.isascii())
    return ranks.index(max(ranks))  # ties: the earlier one, so the regex checks the longer suffix


def _trie_pattern(node: dict) -> str:
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a token ends here: the longer continuation is optional (greedy, so longest wins)
        return f"(?:{body})?" if len(branches) == 1 else body + "?"
    return body


class SpamLists:
    """The token lists of ``spam_data/`` compiled once: one alternation for every scored token."""

    CATEGORIES = ("allow", "brands_strong", "brands_weak", "bet_promo", "bet_generic", "porn", "spun")

    def __init__(self, lists: Mapping[str, Iterable[str]], version: str = "custom") -> None:
        self.version = version
        get = {
            name: [t.strip() for t in lists.get(name, ()) if t and t.strip()]
            for name in (*self.CATEGORIES, "cta", "affixes", "enforcement", "traditional")
        }
        self.category: dict[str, str] = {}
        for name in self.CATEGORIES:  # later categories do not override earlier ones (allow first)
            for token in get[name]:
                self.category.setdefault(token.lower(), name)
        # Every token is searched from its rarest character (its "anchor") on: a scan only stops at
        # characters that start an anchored suffix, and those are uncommon in Chinese prose; the part before
        # the anchor is checked in Python on the few stops. About twice as fast as scanning from the first
        # character, which for 人生就是搏 or 一本道 would be one of the most frequent characters there are.
        self.anchored: dict[str, list[tuple[str, str, str]]] = {}  # anchor char -> [(prefix, suffix, token)]
        for token in self.category:
            i = _anchor_index(token)
            self.anchored.setdefault(token[i], []).append((token[:i], token[i:], token))
        for entries in self.anchored.values():
            entries.sort(key=lambda e: -len(e[2]))
        self.token_re = re.compile(_alternation(suffix for e in self.anchored.values() for _, suffix, _ in e))
        self._cta = cta = _alternation(get["cta"])
        self._affix = _alternation(get["affixes"])
        self._brand = _alternation(get["brands_strong"] + get["brands_weak"])
        self.cta_re = re.compile(cta)
        self.enforcement_re = re.compile(_alternation(get["enforcement"]))
        chars = "".join(sorted({c for t in get["traditional"] for c in t if not c.isspace()}))
        self.traditional_re = re.compile(f"[{re.escape(chars)}]" if chars else r"(?!x)x")

    # The patterns below are read only once a brand token was found: compiled then (about 5 ms together, the
    # spam stage's share of `gongkai extract`'s start-up otherwise), and kept on the instance.
    _SEP = r"[\s·•・\-_|/:：,，、.~～]"

    @cached_property
    def cta_after_re(self) -> re.Pattern[str]:
        # A weak brand counts only with a CTA right after it (affixes may sit between) or right before it.
        return re.compile(rf"(?:{self._SEP}|{self._affix}){{0,3}}(?:{self._cta})")

    @cached_property
    def cta_before_re(self) -> re.Pattern[str]:
        return re.compile(rf"(?:{self._cta})(?:{self._SEP}|{self._affix}){{0,2}}$")

    @cached_property
    def _piece(self) -> str:
        # What is stripped along with a brand: CTAs, affixes, other brands, versions, a domain, separators.
        return (rf"{self._cta}|{self._affix}|{self._brand}|v\d+(?:\.\d+)+"
                rf"|(?:https?://)?(?:[a-z0-9-]+\.)+[a-z]{{2,6}}(?:/\S*)?")

    @cached_property
    def run_right_re(self) -> re.Pattern[str]:
        return re.compile(rf"(?:{self._SEP}*(?:{self._piece}))+")

    @cached_property
    def run_left_re(self) -> re.Pattern[str]:
        return re.compile(rf"(?:(?:{self._cta}|{self._brand}){self._SEP}*)+$")

    @cached_property
    def junk_re(self) -> re.Pattern[str]:
        return re.compile(rf"(?:{self._piece}|{self._SEP}|[a-z0-9.()（）]+)+", re.I)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> SpamLists:
        """Lists from ``directory`` (default: the bundled ``spam_data/``), cached per directory."""
        return _load(str(Path(directory).resolve()) if directory else "")


@lru_cache(maxsize=8)
def _load(directory: str) -> SpamLists:
    """``directory`` "" = the bundled lists."""
    path = Path(directory) if directory else DATA_DIR
    if not path.is_dir():
        raise FileNotFoundError(f"spam lists folder not found: {directory}")
    names = (*SpamLists.CATEGORIES, "cta", "affixes", "enforcement", "traditional")
    version_file = path / "VERSION"
    version = version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else "unversioned"
    lists = SpamLists({name: _read_list(path / f"{name}.txt") for name in names}, version)
    logger.debug("spam lists %s loaded from %s", version, directory or DATA_DIR)
    return lists


# ---------------------------------------------------------------------------------------------------------
# Matching helpers
# ---------------------------------------------------------------------------------------------------------


def _lower(text: str) -> str:
    low = text.lower()
    return low if len(low) == len(text) else text  # keep offsets valid (a few letters grow when lowered)


def _tokens(text: str | None, lists: SpamLists, low: str | None = None) -> list[tuple[str, str, int, int]]:
    """(token, category, start, end) of every listed token in ``text``; allow-list phrases are skipped.

    ``low``: ``_lower(text)`` when the caller has it already."""
    if not text:
        return []
    if low is None:
        low = _lower(text)
    found: list[tuple[int, int, str]] = []  # (start, end, token), leftmost-longest, no overlaps
    search = lists.token_re.search
    m = search(low)
    while m is not None:
        at = m.start()
        m = search(low, at + 1)  # resume right after the anchor: a match may hide another token's anchor
        candidates = []  # tokens whose anchored suffix and prefix both match here
        for prefix, suffix, token in lists.anchored[low[at]]:
            start = at - len(prefix)
            if start >= 0 and low.startswith(suffix, at) and low.startswith(prefix, start):
                candidates.append((start, start + len(token), token))
        # Leftmost, then longest, first that fits. A token anchored further right may start earlier than one
        # already found (尊龙凯时 vs 尊龙): it replaces the ones it covers; one overlapping without covering
        # does not fit.
        for start, end, token in sorted(candidates, key=lambda c: (c[0], c[0] - c[1])):
            covered = len(found)
            while covered and found[covered - 1][1] > start and start <= found[covered - 1][0]:
                covered -= 1
            if all(f[1] <= end for f in found[covered:]) and (not covered or found[covered - 1][1] <= start):
                del found[covered:]
                found.append((start, end, token))
                break
    out = []
    for start, end, token in found:
        category = lists.category[token]
        if category != "allow":  # evidence as written on the page (AG娱乐, not ag娱乐)
            out.append((text[start:end], category, start, end))
    return out


def _brand_hits(text: str, low: str, hits: list[tuple[str, str, int, int]], lists: SpamLists) -> list[tuple]:
    """Brand matches that count: strong ones always, weak ones only with a CTA next to them."""
    out = []
    for token, category, start, end in hits:
        if category == "brands_strong" or (
            category == "brands_weak" and _cta_adjacent(low, start, end, lists)
        ):
            out.append((token, category, start, end))
    return out


def _cta_adjacent(low: str, start: int, end: int, lists: SpamLists) -> bool:
    return bool(
        lists.cta_after_re.match(low, end) or lists.cta_before_re.search(low[max(0, start - 12) : start])
    )


def _distinct(tokens: Iterable[str]) -> list[str]:
    """Tokens in order, one per case-insensitive spelling."""
    seen: dict[str, str] = {}
    for token in tokens:
        seen.setdefault(token.lower(), token)
    return list(seen.values())


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "，".join(str(v) for v in value if v)
    return str(value)


def _brands_in(text: str, lists: SpamLists) -> list[str]:
    if not text:
        return []
    low = _lower(text)
    return [t for t, *_ in _brand_hits(text, low, _tokens(text, lists, low), lists)]


def _is_gov_host(host: str) -> bool:
    return host.endswith(_GOV_HOST_SUFFIXES) or host in ("gov.cn",)


def _host_of(item: Mapping[str, Any], signals: Mapping[str, Any]) -> str:
    host = item.get("_page_host") or signals.get("host") or url_host(item.get("url") or "") or ""
    return str(host).lower().split(":")[0]


def _site_hosts(value: Any) -> list[str]:
    """``_page_site_hosts`` as lower-case host names (a single string is one host)."""
    if not value:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        return []
    hosts = (str(h).strip().lower().rstrip(".").split(":")[0] for h in value if h)
    return [h for h in hosts if h]


def _on_site(host: str, site_hosts: list[str]) -> bool:
    """True when ``host`` is one of the site's hosts or a subdomain of one (OffsiteMiddleware's rule)."""
    return bool(host) and any(host == h or host.endswith("." + h) for h in site_hosts)


# ---------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------


class _Verdict:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.scores: dict[str, float] = {}

    def add(self, kind: str, evidence: Any = None, weight: float | None = None) -> None:
        """Record a reason; a kind adds up over distinct evidence to its cap (CAPS, else its weight)."""
        reason = kind if evidence in (None, "") else f"{kind}:{evidence}"
        if reason in self.reasons:
            return
        self.reasons.append(reason)
        w = WEIGHTS[kind] if weight is None else weight
        self.scores[kind] = min(self.scores.get(kind, 0.0) + w, CAPS.get(kind, WEIGHTS[kind]))

    def set_max(self, kind: str, evidence: Any, weight: float) -> None:
        reason = f"{kind}:{evidence}" if evidence not in (None, "") else kind
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.scores[kind] = max(self.scores.get(kind, 0.0), weight)

    @property
    def score(self) -> float:
        groups: dict[str, float] = {}
        for kind, value in self.scores.items():  # a group counts its strongest member once
            key = SCORE_GROUPS.get(kind, kind)
            groups[key] = max(groups.get(key, 0.0), value)
        return round(sum(groups.values()), 2)


def _field_values(item: Mapping[str, Any], name: str) -> str:
    """Cleaned value plus the raw one when it differs (a re-run after stripping still sees the brand)."""
    value = _field_text(item.get(name))
    raw = item.get("raw")
    if isinstance(raw, Mapping) and raw.get(name):
        raw_value = _field_text(raw.get(name))
        if raw_value and raw_value not in value:
            value = f"{value}\n{raw_value}" if value else raw_value
    return value


def score_spam(item: Mapping[str, Any], lists: SpamLists | None = None, threshold: float = 1.0) -> dict:
    """The spam verdict of one cleaned item: ``{"is_spam", "score", "reasons"}`` (see the module docstring)."""
    lists = lists or SpamLists.load()
    signals = item.get("_page_signals") or {}
    if not isinstance(signals, Mapping):
        signals = {}
    host = _host_of(item, signals)
    page_domain = registrable_domain(host) if host else ""
    site_hosts = _site_hosts(item.get("_page_site_hosts"))
    on_site = _on_site(host, site_hosts)
    # Domains that are not "another site": the page's, plus the configured site's when the page is on it.
    own = {page_domain} | ({registrable_domain(h) for h in site_hosts} if on_site else set())
    own.discard("")
    v = _Verdict()

    title = _field_values(item, "title")
    html_titles = "\n".join(str(signals[k]) for k in _TITLE_SIGNALS if signals.get(k))
    keywords = "\n".join(filter(None, (_field_values(item, "keywords"), signals.get("meta_keywords") or "")))
    source = "\n".join(
        filter(None, (_field_values(item, "source"), signals.get("meta_content_source") or ""))
    )
    fields = {
        "brand_in_title": title,
        "brand_in_html_title": html_titles,
        "brand_in_keywords": keywords,
        "brand_in_source": source,
        "brand_in_author": _field_values(item, "author"),
        "brand_in_site_name": signals.get("meta_site_name") or "",
        "brand_in_summary": "\n".join(
            filter(None, (item.get("summary") or "", signals.get("meta_description") or ""))
        ),
    }
    enforcement = bool(title and lists.enforcement_re.search(_lower(title)))

    for kind, text in fields.items():
        if not text:
            continue
        low = _lower(text)
        hits = _tokens(text, lists, low)
        brands = _brand_hits(text, low, hits, lists)
        if brands:
            # A crackdown story names a brand bare; injected brand text carries its CTA (官网, 入口 ...).
            injected = not enforcement or any(_cta_adjacent(low, s, e, lists) for _, _, s, e in brands)
            weight = WEIGHTS[kind] * (1.0 if injected else ENFORCEMENT_FACTOR)
            for i, brand in enumerate(_distinct(t for t, *_ in brands)):
                v.add(kind, brand, weight if i == 0 else 0.0)  # a field counts once
        if kind in ("brand_in_title", "brand_in_html_title", "brand_in_keywords"):
            _score_title_terms(v, text, low, hits, lists)

    body = item.get("body") or ""
    if not isinstance(body, str):
        body = _field_text(body)
    # The text of downloaded attachments counts as body: a hijacked page may hide its text in a file.
    _score_body(v, "\n".join(filter(None, (body, attachment_text(item)))), lists, enforcement, host)
    _score_identity(v, item, signals, host, own, source, on_site)
    _score_markup(v, signals, own, lists)
    title_has_brand = any(r.startswith("brand_in_title:") for r in v.reasons)
    _score_title_body(v, item.get("title") or "", body, lists, title_has_brand)

    score = v.score
    return {"is_spam": score >= threshold, "score": score, "reasons": v.reasons}


def _score_title_terms(v: _Verdict, text: str, low: str, hits: list[tuple], lists: SpamLists) -> None:
    for token, category, start, end in hits:
        if category == "bet_promo":
            v.add("bet_term_in_title", token)
        elif category == "porn":
            v.add("porn_in_title", token)
        elif category == "bet_generic" and _cta_adjacent(low, start, end, lists):
            m = lists.cta_after_re.match(low, end)
            v.add("bet_cta_in_title", text[start : m.end()] if m else token)
    for line in text.splitlines():
        segments = [s for s in _TITLE_SPLIT.split(line)[::2] if s.strip()]
        # a chain needs 3 segments: most titles have fewer, and need no CTA search per segment
        if len(segments) >= 3 and sum(
                1 for s in segments if lists.cta_re.search(_lower(s)) or _VERSION.search(s)) >= 2:
            v.add("keyword_chain_title")
        version = _VERSION.search(line)
        if version and lists.cta_re.search(_lower(line)):
            v.add("app_version_in_title", version.group())


def _score_body(v: _Verdict, body: str, lists: SpamLists, enforcement: bool, host: str) -> None:
    if not body:
        return
    low = _lower(body)
    hits = _tokens(body, lists, low)
    brands = _brand_hits(body, low, hits, lists)
    if brands:
        names = _distinct(t for t, *_ in brands)
        weight = WEIGHTS["brand_in_body"] if any(c == "brands_strong" for _, c, *_ in brands) else 0.0
        weight += BODY_EXTRA_BRAND * (len(names) - 1)
        if any(_cta_adjacent(low, s, e, lists) for _, _, s, e in brands):
            weight += BODY_BRAND_CTA
        elif enforcement:
            weight *= ENFORCEMENT_FACTOR
        v.set_max("brand_in_body", names[0], min(weight, CAPS["brand_in_body"]))
        for name in names[1:3]:
            if f"brand_in_body:{name}" not in v.reasons:
                v.reasons.append(f"brand_in_body:{name}")
    promo = {t for t, c, *_ in hits if c == "bet_promo"}
    if len(promo) >= 3:
        v.add("bet_terms_in_body", len(promo))
    porn = {t for t, c, *_ in hits if c == "porn"}
    if len(porn) >= 3:
        v.add("porn_terms_in_body", len(porn))
    for token in dict.fromkeys(t for t, c, *_ in hits if c == "spun"):
        v.add("spun_text", token)

    cjk = len(body) - len(body.encode("ascii", "ignore"))  # non-ASCII characters: CJK and its punctuation
    if cjk >= 50 and not host.endswith(_NON_MAINLAND_SUFFIXES):
        traditional = len(lists.traditional_re.findall(body))
        if traditional / cjk >= 0.08:
            v.add("traditional_script", f"{round(100 * traditional / cjk)}%")
    if "(" in body or "（" in body:
        pinyin = sum(
            1 for m in _PINYIN.finditer(body) if m.start() and "\u4e00" <= body[m.start() - 1] <= "\u9fff"
        )
        if pinyin >= 3:
            v.add("pinyin_annotations", pinyin)
        elif pinyin:
            v.add("pinyin_annotations", pinyin, 0.2)
    if "******" in body:
        stars = sum(1 for m in _STARS.finditer(body) if _separator_stars(body, m.start(), m.end()))
        if stars:
            v.add("star_separators", stars)
    if len(body.encode("utf-16-le")) > 2 * len(body):  # some astral-plane character at all
        emoji = len(_EMOJI.findall(body))
        if emoji >= 3 and emoji * 200 >= cjk:
            v.add("emoji_density", emoji)


def _separator_stars(body: str, start: int, end: int) -> bool:
    """A run of stars between stories, not a masked ID (``3301**********1234``) or a name (``张**``)."""
    before = body[start - 1] if start else " "
    after = body[end] if end < len(body) else " "
    return not (before.isalnum() and before.isascii()) and not (after.isalnum() and after.isascii())


def _score_identity(
    v: _Verdict,
    item: Mapping[str, Any],
    signals: Mapping[str, Any],
    host: str,
    own: set[str],
    source: str,
    on_site: bool = False,
) -> None:
    if not host:
        return
    # On its own configured site a page is never on a "foreign" host, whatever the host's name.
    gov_host = on_site or _is_gov_host(host)
    site_domain = str(signals.get("meta_site_domain") or "")
    # SiteDomain may list several names ("fgw.zj.gov.cn,www.zjdpc.gov.cn"): any one on the page's domain will do.
    declared = [
        h
        for h in (url_host(d if "//" in d else f"//{d}") for d in _LIST_SPLIT.split(site_domain))
        if h and "." in h
    ]
    # On its own site a declared gov SiteDomain is the CMS naming its portal (a district site on a city
    # platform, a local mirror), not a copied identity.
    if declared and not any(registrable_domain(h) in own or (on_site and _is_gov_host(h)) for h in declared):
        v.add("site_domain_mismatch", declared[0])
    for m in _DOMAIN.finditer(source or ""):
        domain = m.group(1).lower()
        if registrable_domain(domain) not in own and not _is_gov_host(domain):
            v.add("source_domain_mismatch", domain)
            break
    path = urlsplit(item.get("url") or "").path
    if not gov_host:
        if _GOV_PATH.search(path):
            v.add("gov_path_on_foreign_host", host)
        claims = (
            signals.get("meta_site_id_code")
            or any(_is_gov_host(h) for h in declared)
            or _GOV_NAME.search(str(signals.get("meta_site_name") or ""))
            or _GOV_NAME.search(str(signals.get("html_title") or ""))
        )
        if claims:
            v.add("gov_identity_on_foreign_host", host)
    m = _URL_DATE.search(path)
    if m:
        month, day = int(m.group(2)), int(m.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            v.add("impossible_url_date", "".join(m.groups()))


def _score_markup(v: _Verdict, signals: Mapping[str, Any], own: set[str], lists: SpamLists) -> None:
    hidden = signals.get("hidden_links") or []
    external = []
    for link in hidden:
        if not isinstance(link, Mapping):
            continue
        text = str(link.get("text") or "")
        link_host = str(link.get("host") or "")
        is_external = (
            bool(link_host) and not _is_gov_host(link_host) and registrable_domain(link_host) not in own
        )
        if is_external:
            external.append(link)
        # A lottery centre's own drop-down menu may say 足球投注; injected links go elsewhere or hide harder.
        menu = not is_external and link.get("how") == "display_none"
        spam_tokens = [
            t
            for t, c, *_ in _tokens(text, lists)
            if c in ("brands_strong", "porn")
            or (c == "bet_promo" and not menu)
            or (c == "brands_weak" and len(text) <= 8)
        ]
        if spam_tokens:
            v.add("hidden_spam_links", spam_tokens[0])
    if len(external) >= 3:
        v.add("hidden_external_links", len(external))
    covert = sorted({str(link.get("how")) for link in external if link.get("how") != "display_none"})
    if covert:
        v.add("hidden_link_block", covert[0])
    kinds = {str(s.get("kind")) for s in signals.get("redirect_scripts") or [] if isinstance(s, Mapping)}
    if "referrer" in kinds:
        v.add("referrer_redirect")
    if "user_agent" in kinds:
        v.add("ua_cloaking")
    if "top_location" in kinds:
        v.add("top_location_redirect")
    for kind in signals.get("obfuscated_js") or []:
        v.add("obfuscated_js", kind)
    refresh = signals.get("meta_refresh_host")
    if refresh and registrable_domain(str(refresh)) not in own:
        v.add("meta_refresh_offsite", refresh)


def _bigrams(text: str) -> set[str]:
    out = set()
    for run in _CJK_BIGRAM_SRC.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


def _score_title_body(v: _Verdict, title: str, body: str, lists: SpamLists, has_brand: bool) -> None:
    """SEISE-style check: a gov headline's words are almost always in its body."""
    if len(body) < 200 or not title:
        return
    if has_brand:  # judge the headline without the injected brand
        title = strip_text(title, lists) or title
    grams = _bigrams(title)
    if len(grams) < 6:
        return
    shared = sum(1 for g in grams if g in body)
    if shared / len(grams) < 0.2:
        v.add("title_body_mismatch", f"{round(100 * shared / len(grams))}%")


# ---------------------------------------------------------------------------------------------------------
# Stripping
# ---------------------------------------------------------------------------------------------------------


def _runs(text: str, lists: SpamLists, *, cta_only: bool = False) -> list[tuple[int, int]]:
    """Spans of injected brand text: each brand with the CTAs/affixes glued on and the quotes around it."""
    low = _lower(text)
    spans: list[tuple[int, int]] = []
    for _token, _category, start, end in _brand_hits(text, low, _tokens(text, lists, low), lists):
        right = lists.run_right_re.match(low, end)
        new_end = right.end() if right else end
        left = lists.run_left_re.search(low[max(0, start - 40) : start])
        new_start = start - len(left.group()) if left else start
        if cta_only and new_end == end and new_start == start:
            continue  # a bare name in a crackdown story is news: leave it
        while new_start > 0 and text[new_start - 1] in " \t·•・":
            new_start -= 1
        closing = _OPEN_CLOSE.get(text[new_start - 1]) if new_start > 0 else None
        if closing:
            tail = len(text[new_end:]) - len(text[new_end:].lstrip(" \t"))
            if text[new_end + tail : new_end + tail + 1] == closing:
                new_start, new_end = new_start - 1, new_end + tail + 1
        spans.append((new_start, new_end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _is_junk(segment: str, lists: SpamLists) -> bool:
    """True when a segment is nothing but CTAs, affixes, versions, Latin bits and separators."""
    s = segment.strip(_SEPARATORS + " ")
    if not s:
        return True
    m = lists.junk_re.fullmatch(_lower(s))
    return m is not None and lists.cta_re.search(_lower(s)) is not None


def strip_text(text: str | None, lists: SpamLists, *, cta_only: bool = False) -> str | None:
    """``text`` without injected brand text; None when nothing but brand text was there; unchanged if clean."""
    if not text:
        return text
    spans = _runs(text, lists, cta_only=cta_only)
    if not spans:
        return text
    chunks, pos = [], 0
    for start, end in spans:
        chunks.append(text[pos:start])
        pos = end
    chunks.append(text[pos:])
    # Each stretch between removed brand text loses its CTA-only segments (…手机app下载v8.8.6) and the
    # separators left dangling at its edges; stretches are rejoined as they stood (a space if one was there).
    out, out_raw_tail_space = "", False
    for chunk in chunks:
        kept = _drop_junk_segments(_EMPTY_PAIRS.sub("", chunk), lists).strip(_SEPARATORS)
        if not kept:
            continue
        if out and (chunk[:1].isspace() or out_raw_tail_space):
            out += " "
        out += kept
        out_raw_tail_space = chunk[-1:].isspace()
    result = " ".join(out.split())
    return result or None


def _drop_junk_segments(text: str, lists: SpamLists) -> str:
    parts = _TITLE_SPLIT.split(text)
    kept: list[str] = []
    for i in range(0, len(parts), 2):
        segment = parts[i]
        if not segment.strip() or _is_junk(segment, lists):
            continue
        if kept:
            kept.append(parts[i - 1])
        kept.append(segment)
    return "".join(kept)


def strip_brands(item: Mapping[str, Any], lists: SpamLists | None = None) -> dict[str, Any]:
    """New values of title/author/source/keywords for those that carry injected brand text (see docstring)."""
    lists = lists or SpamLists.load()
    title = item.get("title")
    cta_only = bool(isinstance(title, str) and lists.enforcement_re.search(_lower(title)))
    changes: dict[str, Any] = {}
    if isinstance(title, str) and title:
        new = strip_text(title, lists, cta_only=cta_only)
        if new and new != title:  # a title that is only brand text stays (see module docstring)
            changes["title"] = new
    for name in ("author", "source"):
        value = item.get(name)
        if isinstance(value, str) and value:
            new = strip_text(value, lists, cta_only=cta_only)
            if new != value:
                if new and _DOMAIN.fullmatch(new):  # what is left is the spam site's address
                    new = None
                changes[name] = new
    keywords = item.get("keywords")
    if isinstance(keywords, (list, tuple)) and keywords:
        branded = any(_brands_in(str(k), lists) for k in keywords)
        if branded:
            kept = []
            for keyword in keywords:
                new = strip_text(str(keyword), lists, cta_only=cta_only)
                if new and not _is_junk(new, lists) and new not in kept:
                    kept.append(new)
            if kept != list(keywords):
                changes["keywords"] = kept
    return changes


def check_item(item: Mapping[str, Any], lists: SpamLists | None = None, threshold: float = 1.0) -> dict:
    """A copy of ``item`` with ``spam`` set and injected brand text stripped (``raw`` untouched)."""
    lists = lists or SpamLists.load()
    out = dict(item)
    out["spam"] = score_spam(item, lists, threshold)
    out.update(strip_brands(item, lists))
    return out


# ---------------------------------------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------------------------------------


class SpamPipeline:
    """Sets ``spam`` on every item and strips injected brand text; never drops (the store quarantines)."""

    def __init__(
        self, stats: Stats | None = None, threshold: float = 1.0, lists: SpamLists | None = None
    ) -> None:
        self.stats = stats if stats is not None else CounterStats()
        self.threshold = float(threshold)
        self.lists = lists or SpamLists.load()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SpamPipeline:
        settings = crawler.settings
        directory = settings.get("GONGKAI_SPAM_LISTS_DIR") or None
        return cls(
            crawler.stats,
            settings.getfloat("GONGKAI_SPAM_THRESHOLD", 1.0),
            SpamLists.load(directory) if directory else None,
        )

    def open_spider(self) -> None:
        logger.info("spam lists %s, threshold %s", self.lists.version, self.threshold)

    def process_item(self, item: Any) -> Any:
        doc = as_dict(item)  # read-only for both: a shallow view is enough
        verdict = score_spam(doc, self.lists, self.threshold)
        changes = strip_brands(doc, self.lists)
        adapter = fields(item)
        adapter["spam"] = verdict
        for key, value in changes.items():
            adapter[key] = value
        self.stats.inc_value("gongkai/spam/spam" if verdict["is_spam"] else "gongkai/spam/clean")
        for kind in dict.fromkeys(r.split(":", 1)[0] for r in verdict["reasons"]):
            self.stats.inc_value(f"gongkai/spam/reason/{kind}")
        if changes:
            self.stats.inc_value("gongkai/spam/brand_stripped")
        return item
