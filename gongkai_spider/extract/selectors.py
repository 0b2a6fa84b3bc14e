"""Named constants for detail-page field extraction (everything except the body).

Tunable lists live here, grouped by purpose, so a site maintainer can see what the extractor looks for
without reading the cascade in ``detail.py`` (style.md 3.2). Labels come from gov-portals.md sections
2.1-2.3 and 5; every label regex tolerates padding inside the label (``索　引　号``, ``发 布 机 构``,
``文\\xa0\\xa0号``) because :func:`padded` puts optional whitespace between its characters.
"""

from __future__ import annotations

import re

# ----------------------------------------------------------------------------- 1. <meta> tags
# Names are compared lower-cased. Earlier names win.
META_TITLE: tuple[str, ...] = ("articletitle",)
META_SOCIAL_TITLE: tuple[str, ...] = ("og:title", "twitter:title")
META_PUBLISHED: tuple[str, ...] = (
    "pubdate", "firstpublishedtime", "article:published_time", "og:release_date", "publishdate",
    "og:time", "publishtime", "publish_time", "pubtime", "dc.date.issued", "dc.date", "datepublished",
)
META_SOURCE: tuple[str, ...] = ("contentsource", "source")
META_KEYWORDS: tuple[str, ...] = ("keywords",)
META_DESCRIPTION: tuple[str, ...] = ("description", "og:description")
META_AUTHOR: tuple[str, ...] = ("author", "article:author")
# A meta author that names an organisation or the CMS vendor ("大汉网络", "某某网", "某某市政府") is not a person.
ORG_NAME_RE = re.compile(r"(?:网络|网|公司|科技|集团|政府|中心|办公室|办|委员会|委|局|厅|部|社|报|台|站|院|所|馆)$")
# Names whose content is the site's own name: a heading or author equal to it is not the article's.
META_SITE_NAME: tuple[str, ...] = ("sitename", "og:site_name", "application-name")


def padded(label: str) -> str:
    """Regex source for ``label`` with optional whitespace (full-width and NBSP too) between characters."""
    return r"\s*".join(re.escape(ch) for ch in label)


def _alternation(labels: tuple[str, ...]) -> str:
    # longest first, so 发布时间 is not read as 时间
    return "|".join(padded(label) for label in sorted(labels, key=len, reverse=True))


# ----------------------------------------------------------------------------- 2. byline labels
# Canonical field -> labels as they appear before a colon in bylines (gov-portals.md 2.2).
PUBLISH_LABELS: tuple[str, ...] = (
    "发布时间", "发布日期", "发表时间", "发表日期", "公开日期", "上载日期", "更新时间", "归档时间", "生成日期",
    "时间", "日期",
)
# Dates that are not the publication date; they never win unless nothing else is on the page.
WRITTEN_LABELS: tuple[str, ...] = ("成文日期", "发文日期", "印发日期", "成文时间")
DECOY_DATE_LABELS: tuple[str, ...] = (
    "截止日期", "截止时间", "会议时间", "开始时间", "结束时间", "活动时间", "报名时间", "受理时间", "办理时间",
    "有效期", "施行日期", "实施日期", "废止日期", "失效日期", "答复时间", "回复时间", "提问时间", "留言时间",
)
SOURCE_LABELS: tuple[str, ...] = (
    "本文来源", "信息来源", "文章来源", "稿件来源", "新闻来源", "来源单位", "来源",
)
AUTHOR_LABELS: tuple[str, ...] = ("作者", "撰稿人", "撰稿", "供稿", "文/图", "文")
# Editors are not authors (the README of the scoring corpus accepts an editor only when nothing else
# names a person; we report None instead and let the source stand in).
EDITOR_LABELS: tuple[str, ...] = ("责任编辑", "责编", "编辑", "审核", "校对", "摄影", "审校", "终审")
READ_LABELS: tuple[str, ...] = (
    "浏览次数", "阅读次数", "阅读量", "访问量", "访问次数", "点击数", "点击次数", "点击量", "浏览量", "热度",
    "浏览", "阅读", "点击",
)
KEYWORD_LABELS: tuple[str, ...] = ("本文关键词", "关键词", "关键字", "主题词")
SUMMARY_LABELS: tuple[str, ...] = ("本文摘要", "内容摘要", "内容概述", "摘要")
# Labels that only end a value (so "作者：张三 字号：大" stops before 字号).
OTHER_LABELS: tuple[str, ...] = ("字号", "字体", "字体大小", "分享到", "分享", "打印", "所属分类", "标签", "评论")

BYLINE_LABELS: dict[str, tuple[str, ...]] = {
    "publish": PUBLISH_LABELS,
    "written": WRITTEN_LABELS,
    "decoy": DECOY_DATE_LABELS,
    "source": SOURCE_LABELS,
    "author": AUTHOR_LABELS,
    "editor": EDITOR_LABELS,
    "read": READ_LABELS,
    "keywords": KEYWORD_LABELS,
    "summary": SUMMARY_LABELS,
}
_LABEL_KIND: dict[str, str] = {}
for _kind, _labels in BYLINE_LABELS.items():
    for _label in _labels:
        _LABEL_KIND.setdefault(_label, _kind)


def label_kind(label: str) -> str | None:
    """Canonical field of a byline label as matched (padding removed)."""
    return _LABEL_KIND.get(re.sub(r"\s+", "", label))


_ALL_BYLINE = tuple(_LABEL_KIND)
# A label followed by its colon. A match preceded by a CJK character is not a label (图片来源： is not
# 来源：, 当地时间 is not 时间); callers check that with CJK_CHAR_RE, because a look-behind here would stop
# the regex engine from skipping ahead on the labels' first characters (6x slower on long pages).
BYLINE_LABEL_RE = re.compile(r"(?P<label>" + _alternation(_ALL_BYLINE) + r")\s*[:：]")
CJK_CHAR_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Any label with a colon, anywhere: where a value stops ("办公室时间：..." stops before 时间).
VALUE_STOP_RE = re.compile(
    r"(?:" + _alternation(_ALL_BYLINE + OTHER_LABELS) + r")\s*[:：]|[|｜丨│【\[<>\n\t\u3000\xa0]| {2,}")
# Read counts written without a colon ("阅读 539", "点击数 86"), only trusted inside a byline.
READ_COUNT_RE = re.compile(
    r"(?<![\u4e00-\u9fff])(?:" + _alternation(READ_LABELS) + r")\s*[:：]?\s*[(（]?\s*"
    r"(?P<n>\d[\d,，]*(?:\.\d+)?\s*[万千wW]?(?:\s*次)?)(?![\d.]|\s*[年月日号时:：/-])")
# The number right after a read-count label (colon already consumed).
READ_NUMBER_RE = re.compile(
    r"\s*[(（]?\s*(?P<n>\d[\d,，]*(?:\.\d+)?\s*[万千wW]?(?:\s*次)?)(?![\d.]|\s*[年月日号时:：/-])")
# "第 N 次阅读"
NTH_READ_RE = re.compile(r"第\s*(?P<n>\d[\d,]*)\s*次(?:阅读|浏览)")

# ----------------------------------------------------------------------------- 3. 信息公开 metadata table
# doc_meta key -> labels (gov-portals.md 2.3). The 发布日期-like labels also feed publish_time.
DOC_META_LABELS: dict[str, tuple[str, ...]] = {
    "index_no": ("索引号", "索取号", "信息索引", "编号"),
    "issuer": ("发布机构", "发文机关", "发文机构", "发文单位", "公开主体", "发布单位", "制发机关", "信息公开主体"),
    "written_date": ("成文日期", "发文日期", "印发日期", "成文时间"),
    "published_date": ("发布日期", "公开日期", "上载日期", "发布时间"),
    "doc_no": ("发文字号", "文号", "文件编号"),
    "topic": ("主题分类", "信息分类", "公文目录", "分类", "主题类别"),
    "validity": ("有效性", "时效", "效力状态", "是否有效"),
    "disclosure": ("公开方式", "公开属性"),
    "scope": ("公开范围",),
    "subject_words": ("主题词",),
    "genre": ("体裁", "公文种类", "体裁分类"),
    "title": ("标题", "名称", "文件名称"),
}
# Keys a table proves itself with; the others (and unknown labels, doc_meta["other"]) are kept only
# from a table, list or block that holds one of these ("名称 | 某某街区" in a data table is no metadata).
DOC_META_ANCHOR_KEYS = frozenset({"index_no", "issuer", "written_date", "doc_no", "topic", "validity"})
# 生成日期 is the only date of some tables: the written date unless the table has a 成文日期.
TABLE_GENERATED_LABELS: tuple[str, ...] = ("生成日期",)
# Table labels we know but keep under doc_meta["other"]; they end a value like the mapped ones.
TABLE_OTHER_LABELS: tuple[str, ...] = (
    "公开时限", "关键词", "内容概述", "摘要", "废止日期", "实施日期",
)
# A source given as a table row ("信息来源 | 市政府办公室") backs up the byline source.
TABLE_SOURCE_LABELS: tuple[str, ...] = ("信息来源", "文章来源", "来源")
_TABLE_KIND: dict[str, str] = {}
for _key, _labels in DOC_META_LABELS.items():
    for _label in _labels:
        _TABLE_KIND[_label] = _key
for _label in TABLE_GENERATED_LABELS:
    _TABLE_KIND[_label] = "generated"
for _label in TABLE_SOURCE_LABELS:
    _TABLE_KIND[_label] = "source"
for _label in TABLE_OTHER_LABELS:
    _TABLE_KIND.setdefault(_label, "other")


def table_kind(label: str) -> str | None:
    """doc_meta key (or "publish" / "source" / "other") of a metadata-table label as matched (padding removed)."""
    return _TABLE_KIND.get(re.sub(r"\s+", "", label))


_TABLE_ALT = _alternation(tuple(_TABLE_KIND))
# The three table-label patterns below are compiled on first use (module __getattr__): only pages with a
# metadata table read them, and compiling them (the CJK ranges of the last above all) took about 10 ms, a tenth of
# `gongkai extract`'s start-up. Read them as attributes of this module (``S.TABLE_LABEL_RE``).
_LAZY_PATTERNS: dict[str, str] = {
    # A whole cell / list item / span that starts with a table label: "[索 引 号]", "文\xa0\xa0号：", "发布机构".
    "TABLE_LABEL_RE": r"^\s*[\[【(（]?\s*(?P<label>" + _TABLE_ALT + r")\s*[\]】)）]?\s*(?P<colon>[:：])?\s*",
    # Where a value cell that holds several pairs ends: "[公开属性]", "发布机构：".
    "NEXT_TABLE_LABEL_RE": r"[\[【]\s*(?:" + _TABLE_ALT + r")\s*[\]】]|(?:" + _TABLE_ALT + r")\s*[:：]",
    # A label of a metadata table we do not know (kept under doc_meta["other"]): "[责任部门] ...", "公开时限：".
    "OTHER_TABLE_LABEL_RE": (r"^\s*(?:[\[【]\s*(?P<bracketed>[\u4e00-\u9fff][\u4e00-\u9fff\s]{1,10}?)\s*[\]】]"
                             r"|(?P<label>[\u4e00-\u9fff][\u4e00-\u9fff\s]{1,10}?)\s*(?P<colon>[:：]))\s*"),
}


def __getattr__(name: str) -> re.Pattern[str]:
    """Compile a lazy pattern on first use; kept as a module global, so later reads cost nothing."""
    try:
        pattern = _LAZY_PATTERNS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    compiled = globals()[name] = re.compile(pattern)
    return compiled


# Chinese-numeral dates in 成文日期 cells ("二〇二四年五月二十日").
CN_DATE_HINT_RE = re.compile(r"[〇零一二三四五六七八九]{4}年")
# Cheap pre-check on the page text: is there any metadata label at all?
TABLE_HINT_RE = re.compile("|".join(padded(label) for label in (
    "索引号", "索取号", "信息索引", "发文字号", "文件编号", "发布机构", "发文机构", "成文日期", "生成日期", "发文机关",
    "主题分类", "有效性", "文号")))

# ----------------------------------------------------------------------------- 4. noise
# Widget texts that are never a title, author or source (gov-portals.md 2.2 "noise to strip").
NOISE_TEXTS: tuple[str, ...] = (
    "字体", "字号", "打印本页", "打印", "关闭窗口", "分享到", "扫一扫在手机打开当前页", "上一篇", "下一篇",
    "相关链接", "相关阅读", "【大】", "【中】", "【小】", "收藏", "纠错",
)
# Ancestors (tag, or class/id word) that hold page chrome rather than the article.
CHROME_TAGS = frozenset({"header", "footer", "nav"})
CHROME_WORDS_RE = re.compile(r"(?:^|[\s_-])(?:foot(?:er)?|bottom|copyright|nav(?:bar)?|menu|top(?:bar)?|"
                             r"header|head_?nav|friend(?:link)?|links?)(?:$|[\s_-])", re.I)
# Placeholders where a page shows no real source.
EMPTY_VALUES = frozenset({"", "-", "--", "—", "无", "暂无", "null", "none", "undefined"})

# ----------------------------------------------------------------------------- 5. titles
# Separators between a headline and the site name in <title> ("headline_栏目_站点", "headline - 站点").
# A hyphen counts only when it is not inside a number or a latin word ("1-10月" stays).
TITLE_SEPARATOR_RE = re.compile(r"\s*(?:_+|\|+|｜|——+|--+|–|—|(?<![0-9A-Za-z])-(?![0-9A-Za-z])|\s+-\s*|\s*-\s+)\s*")
# Headline containers by class/id word when no <h1> carries the title.
TITLE_CLASS_RE = re.compile(r"title|tit\b|biaoti|headline|bt\b|art_?tit|news_?tit", re.I)
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")

# ----------------------------------------------------------------------------- 6. attachments
ATTACHMENT_EXTS: tuple[str, ...] = (
    ".pdf", ".doc", ".xls", ".ppt", ".wps", ".et", ".ofd", ".zip", ".rar", ".7z", ".txt", ".csv", ".ceb", ".tif")
_EXT_ALT = "|".join(re.escape(e[1:]) for e in ATTACHMENT_EXTS)
ATTACHMENT_EXT_RE = re.compile(r"\.(?:" + _EXT_ALT + r")x?(?:$|[?#])", re.I)
# The same on an href not yet stripped (trailing whitespace before the end): tested before stripping it.
ATTACHMENT_EXT_UNSTRIPPED_RE = re.compile(r"\.(?:" + _EXT_ALT + r")x?(?:\s*$|[?#])", re.I)
# The same over lower-cased hrefs joined with newlines: one search per page instead of one per link.
ATTACHMENT_IN_HREFS_RE = re.compile(r"\.(?:" + _EXT_ALT + r")x?(?:$|[?#\n])")
ATTACHMENT_CONTAINER_RE = re.compile(r"appendix|attach|fujian|fj\b|xgfj|download|file", re.I)

# ----------------------------------------------------------------------------- 7. TRS content paging
# createPageHTML(3, 0, "t20240524_1234567", "html")
CREATE_PAGE_HTML_RE = re.compile(
    r"createPageHTML\(\s*(?P<count>\d+)\s*,\s*(?P<cur>\d+)\s*,\s*[\"'](?P<prefix>[^\"']+)[\"']\s*,"
    r"\s*[\"'](?P<ext>[A-Za-z0-9]+)[\"']\s*\)")
TRS_DOC_STEM_RE = re.compile(r"^t\d{8}_\d+$")

# ----------------------------------------------------------------------------- 8. dates in URLs
URL_DATE_RES: tuple[re.Pattern[str], ...] = (
    re.compile(r"/t(?P<y>20\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)_\d+"),                    # TRS t20240524_1
    re.compile(r"/art/(?P<y>20\d{2})/(?P<m>\d{1,2})/(?P<d>\d{1,2})/"),                # Hanweb art/2024/5/24
    re.compile(r"/(?P<y>20\d{2})-(?P<m>[01]\d)/(?P<d>[0-3]\d)/"),                     # /2024-05/24/
    re.compile(r"/(?P<y>20\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)/"),                       # /20240524/
)
