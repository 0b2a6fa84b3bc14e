"""Markup facts for the spam scorer, read from the parsed page before the body extractor touches it.

``page_signals(tree, url)`` is pure and cheap (compiled XPath, one pass per element kind) and returns a
JSON-serialisable dict; ``pipelines/spam.py`` turns these facts into a verdict (gov-portals.md section 4,
signal groups B, C and E). Nothing here decides anything: it only reports what the markup says.

Keys (all always present):

``host``                 host of ``url`` (lower case, no port)
``html_title``           text of ``<title>`` or None
``meta_keywords``, ``meta_description``, ``meta_site_name``, ``meta_site_domain``, ``meta_site_id_code``,
``meta_article_title``, ``meta_content_source``, ``meta_author``, ``og_title``   meta contents or None
``hidden_links``         [{text, href, host, how}] anchors inside hidden containers (display:none,
                         visibility:hidden, off-screen left/top/text-indent, font-size:0, height:0 + overflow:hidden)
                         or ``<marquee>``; the Hanweb "Produced By 大汉网络" footer link to hanweb.com is left out,
                         and iframes (hidden visit counters) are never links. At most 100 entries.
``hidden_blocks``        number of hidden containers holding at least one reported link
``redirect_scripts``     [{kind: "referrer" | "user_agent" | "top_location", snippet}] inline scripts that check the
                         search-engine referrer or a spider User-Agent and then navigate / write the page
``obfuscated_js``        [kind] for packed ``eval(function(p,a,c,k,e,d)``, long ``\\xNN`` / ``%uNNNN`` escape runs
``meta_refresh_url``, ``meta_refresh_host``   refresh target and its host when it points to another host, else None
``external_script_hosts`` sorted hosts of ``<script src>`` on other registrable domains
``external_link_hosts``  number of distinct link hosts on other registrable domains than ``host``

Scripts before ``<html>`` or after ``</html>`` are not reported: libxml2 moves the former into ``<head>``
and drops the latter, so the tree cannot tell them apart from ordinary scripts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lxml import etree

from gongkai_spider.normalize import registrable_domain, url_host

__all__ = ["page_signals"]

_ABSOLUTE = ("http://", "https://", "//", "HTTP://", "HTTPS://")

# Head first (a few microseconds); the whole-document forms only when the head has nothing.
_X_HEAD_META = etree.XPath("/html/head/meta")
_X_META = etree.XPath("//meta")
_X_HEAD_TITLE = etree.XPath("string(/html/head/title)", smart_strings=False)
_X_TITLE = etree.XPath("string((//title)[1])", smart_strings=False)
# Style strings are cheap to read in C; elements are only materialised for the few styles that hide.
_X_STYLES = etree.XPath("descendant::*/@style", smart_strings=False)
_X_HREFS = etree.XPath("//a/@href", smart_strings=False)

# Ways of hiding a block seen on hijacked pages (gov-portals.md 4.2 E). Order = label precedence. Each way
# names the words its pattern needs: in an ASCII style, a plain substring test on the lower-cased style
# turns away most styles ~10x cheaper than the case-insensitive regex (which also folds a few non-ASCII
# letters, e.g. U+0131 to i: other styles always get the regex).
_HIDING = (
    ("display_none", re.compile(r"display\s*:\s*none", re.I), ("none",)),
    ("visibility_hidden", re.compile(r"visibility\s*:\s*hidden", re.I), ("hidden",)),
    ("offscreen", re.compile(r"(?:left|top|text-indent)\s*:\s*-\s*\d{3,}", re.I), ("left", "top", "indent")),
    ("font_size_0", re.compile(r"font-size\s*:\s*0(?![.\d]*[1-9])", re.I), ("font-size",)),
    (
        "height_0_overflow",
        re.compile(
            r"height\s*:\s*0(?:px)?\s*(?:;|$).*overflow\s*:\s*hidden|overflow\s*:\s*hidden.*(?<![-\w])height\s*:\s*0(?:px)?\s*(?:;|$)",
            re.I | re.S,
        ),
        ("hidden",),
    ),
)
# Any word of any way: most styles have none, and one search tells.
_HIDING_WORDS_RE = re.compile("|".join(re.escape(w) for _, _, words in _HIDING for w in words))
_NOT_LINK_CONTAINERS = frozenset({"iframe", "script", "style", "input", "img", "noscript", "link", "meta"})

# JavaScript identifiers are case-sensitive, so these patterns are too (and stay fast); engine and spider
# names are matched against the lower-cased code.
_REFERRER = re.compile(r"document\s*\.\s*referrer")
_SEARCH_ENGINES = re.compile(r"baidu|sogou|so\.com|sm\.cn|360|google|bing|yahoo|toutiao|youdao|soso")
_USER_AGENT = re.compile(r"navigator\s*\.\s*userAgent")
_SPIDERS = re.compile(r"spider|bot\b|bot[|/)'\"]|crawl|slurp|sogou|yisou")
# Navigation = an assignment or a call, not a read (``document.location.href`` alone is harmless).
_NAVIGATE = re.compile(
    r"location\s*(?:\.\s*href\s*)?=(?!=)|location\s*\.\s*(?:replace|assign)\s*\(|document\s*\.\s*write(?:ln)?\s*\(|"
    r"\.innerHTML\s*=(?!=)|window\s*\.\s*open\s*\("
)
# A cloaking check and its redirect sit close together; a long script that reads the referrer in one place
# and writes the DOM somewhere else is not one.
_WINDOW_BEFORE, _WINDOW_AFTER = 200, 600
_TOP_LOCATION = re.compile(r"top\s*\.\s*location\s*(?:\.\s*href\s*)?=\s*['\"]https?://")
_OBFUSCATION = (
    ("packed", re.compile(r"eval\s*\(\s*function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,\s*[dr]\s*\)")),
    ("hex_escapes", re.compile(r"(?:\\x[0-9a-fA-F]{2}){30,}")),
    ("unicode_escapes", re.compile(r"(?:%u[0-9a-fA-F]{4}){15,}")),
)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";\s]+)", re.I)

_META_KEYS = {
    "keywords": "meta_keywords",
    "description": "meta_description",
    "sitename": "meta_site_name",
    "sitedomain": "meta_site_domain",
    "siteidcode": "meta_site_id_code",
    "articletitle": "meta_article_title",
    "contentsource": "meta_content_source",
    "author": "meta_author",
    "og:title": "og_title",
}
_MAX_LINKS = 100
_SNIPPET = 160


def _is_hanweb_credit(host: str | None) -> bool:
    return host is not None and (host == "hanweb.com" or host.endswith(".hanweb.com"))


def _text(el: Any) -> str:
    # a link is mostly a leaf: its .text is all its text; else the text serialiser gives itertext()'s text
    # (no comments, PIs or own tail) in one C call
    text = (el.text or "") if not len(el) else etree.tostring(el, method="text", encoding="unicode",
                                                               with_tail=False)
    return " ".join(text.split())


def _hidden_containers(tree: Any, styles: list[str]) -> list[Any]:
    """Elements whose style is one of ``styles`` and that hold at least one link, in document order."""
    if not styles:
        return []
    # One query for all styles: one tree scan, and XPath returns its node-set in document order (sorting
    # per-style results by position would materialise every element of the page).
    slots = 1 << (len(styles) - 1).bit_length()  # a handful of compiled queries: 1, 2, 4, 8, ... slots
    padded = styles + styles[-1:] * (slots - len(styles))
    return _hidden_containers_query(slots)(tree, **{f"s{i}": style for i, style in enumerate(padded)})


@lru_cache(maxsize=16)
def _hidden_containers_query(slots: int) -> etree.XPath:
    test = " or ".join(f". = $s{i}" for i in range(slots))
    return etree.XPath(f"//@style[{test}]/parent::*[descendant-or-self::a[@href]]")


def _hidden_links(tree: Any) -> tuple[list[dict], int]:
    hiding_styles: dict[str, str] = {}
    for style in dict.fromkeys(_X_STYLES(tree)):  # ordered: the output must not depend on hash seeds
        low = style.lower() if style.isascii() else None
        if low is not None and not _HIDING_WORDS_RE.search(low):
            continue
        for how, pattern, words in _HIDING:
            if (low is None or any(word in low for word in words)) and pattern.search(style):
                hiding_styles[style] = how
                break
    # Only containers that hold links are materialised; hidden drop-down menus without links cost nothing.
    containers = [
        (el, hiding_styles[el.get("style")]) for el in _hidden_containers(tree, list(hiding_styles))
    ]
    containers.extend((el, "marquee") for el in tree.iter("marquee"))
    links: list[dict] = []
    seen: set[Any] = set()
    blocks = 0
    for container, how in containers:
        contributed = False
        for a in container.iter("a"):
            href = a.get("href")
            if href is None or a in seen:
                continue
            seen.add(a)
            href = href.strip()
            host = url_host(href)
            if _is_hanweb_credit(host):
                continue
            contributed = True
            if len(links) < _MAX_LINKS:
                links.append({"text": _text(a)[:80], "href": href[:300], "host": host, "how": how})
        blocks += contributed
    return links, blocks


def _cloaking(code: str, probe: re.Pattern, names: re.Pattern) -> bool:
    """True when ``probe`` (referrer / UA read) has engine or spider ``names`` and a navigation near it."""
    for m in probe.finditer(code):
        window = code[max(0, m.start() - _WINDOW_BEFORE) : m.end() + _WINDOW_AFTER]
        if names.search(window.lower()) and _NAVIGATE.search(window):
            return True
    return False


def _scripts(tree: Any, page_domain: str | None) -> tuple[list[dict], list[str], list[str]]:
    redirects: list[dict] = []
    obfuscated: list[str] = []
    external: set[str] = set()
    for script in tree.iter("script"):  # C-level tag walk: cheaper than an XPath query here
        src = script.get("src")
        if src:
            host = url_host(src)
            if host and registrable_domain(host) != page_domain:
                external.add(host)
            continue
        code = script.text
        if not code or len(code) < 20:
            continue
        # Literal pre-checks keep the (slow, case-insensitive alternation) regexes off ordinary scripts.
        kind = None
        if "referrer" in code and _cloaking(code, _REFERRER, _SEARCH_ENGINES):
            kind = "referrer"
        elif "userAgent" in code and _cloaking(code, _USER_AGENT, _SPIDERS):
            kind = "user_agent"
        elif "top" in code and "location" in code and _TOP_LOCATION.search(code):
            kind = "top_location"
        if kind:
            redirects.append({"kind": kind, "snippet": " ".join(code.split())[:_SNIPPET]})
        if "eval" in code and "packed" not in obfuscated and _OBFUSCATION[0][1].search(code):
            obfuscated.append("packed")
        if code.count("\\x") >= 30 and "hex_escapes" not in obfuscated and _OBFUSCATION[1][1].search(code):
            obfuscated.append("hex_escapes")
        if code.count("%u") >= 15 and "unicode_escapes" not in obfuscated and _OBFUSCATION[2][1].search(code):
            obfuscated.append("unicode_escapes")
    return redirects, obfuscated, sorted(external)


def page_signals(tree: Any, url: str, *, hrefs: list[str] | None = None) -> dict:
    """Markup facts of one parsed page (an ``lxml.html`` document); see the module docstring for the keys.

    ``hrefs``: the ``//a/@href`` values of ``tree``, when the caller has them already.
    """
    host = url_host(url) or ""
    page_domain = registrable_domain(host) if host else None
    title = _X_HEAD_TITLE(tree) or _X_TITLE(tree)
    out: dict[str, Any] = {"host": host, "html_title": " ".join(title.split()) or None}
    out.update(dict.fromkeys(_META_KEYS.values()))
    refresh_url = None
    for meta in _X_HEAD_META(tree) or _X_META(tree):
        name = (meta.get("name") or meta.get("property") or "").strip().lower()
        key = _META_KEYS.get(name)
        if key is not None:
            if out[key] is None:
                content = " ".join((meta.get("content") or "").split())
                out[key] = content or None
        elif (meta.get("http-equiv") or "").strip().lower() == "refresh":
            m = _REFRESH_URL.search(meta.get("content") or "")
            if m:
                refresh_url = m.group(1)
    refresh_host = url_host(refresh_url)
    if refresh_host is None or refresh_host == host:
        refresh_url = refresh_host = None
    out["meta_refresh_url"] = refresh_url
    out["meta_refresh_host"] = refresh_host

    out["hidden_links"], out["hidden_blocks"] = _hidden_links(tree)
    out["redirect_scripts"], out["obfuscated_js"], out["external_script_hosts"] = _scripts(tree, page_domain)

    link_hosts = set()
    if hrefs is None:
        hrefs = _X_HREFS(tree)
    for href in hrefs:  # plain string ops: a regex per link costs several times more
        href = href.strip()
        if href.startswith(_ABSOLUTE):
            host = href.split("/", 3)[2].rpartition("@")[2].partition(":")[0].lower()
            if host:
                link_hosts.add(host)
    out["external_link_hosts"] = sum(1 for h in link_hosts if registrable_domain(h) != page_domain)
    return out
