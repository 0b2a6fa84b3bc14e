"""Find the article body of a detail page and render it as plain text.

Cascade (``find_body``), computed from ONE walk over ``<body>`` (``text.walk``):

1. Known body containers of the CMS families in gov-portals.md (``.TRS_Editor``, ``#UCAP-CONTENT``,
   ``#zoom``, ...): the best-scoring one holding some text wins, unless the generic method finds a
   separate block with several times more prose (a container name reused for a teaser box).
2. Generic text density, in the spirit of GNE's published method (text density x punctuation density
   over DOM nodes) but scored per rendered line: a line is *prose* (enough non-link characters and
   sentence punctuation, or long), a *table row* (non-link cell text, weak credit) or *junk*
   (navigation, link lists, footers, bylines, widgets). Each element scores ``prose - junk`` over the
   lines it holds and the best element is the body. Link lists, footers and sidebars of table layouts
   lose because their lines are junk; a body split over sibling blocks (paragraphs between images or
   ads) is won by the common parent because its prose outweighs the junk in between.

The chosen element's lines (widget subtrees such as share/print/font bars, pagers, QR codes and
breadcrumbs are skipped while walking) are then cut at a related-content heading (推荐阅读, 相关新闻,
上一篇 ...) and trimmed: title lines, labelled byline lines (发布时间：, 来源：, 本文摘要：, 责任编辑：...),
reporter lines, pagers and link-only lines are dropped from both ends, widget lines (【字体：大 中 小】,
打印本页, 关闭窗口, 分享到, 扫一扫在手机打开当前页 ...) anywhere. Image captions inside the body stay; an
editor's note (编者按) just before the chosen element is put back in front, as it is article text.

Pure function of the parsed tree: the tree is not modified and the URL is never used to decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from lxml.html import HtmlElement

from .text import KEEP, MARK, WIDGET, Line, RawText, Walk, walk

# ----------------------------------------------------------------------------- 1. known containers
# Body containers of the CMS families (gov-portals.md 1.1-1.5 and 3 "Takeaways" 2). Classes match one
# whole class token, ids the whole id.
BODY_CONTAINER_CLASSES: tuple[str, ...] = (
    "TRS_Editor", "TRS_UEDITOR", "Custom_UnionStyle", "pages_content", "article-content", "wzcon",
    "v_news_content", "bt-box-main", "wzzw-article",
)
BODY_CONTAINER_IDS: tuple[str, ...] = ("UCAP-CONTENT", "zoom")
_CONTAINER_CLASSES = frozenset(BODY_CONTAINER_CLASSES)
_CONTAINER_IDS = frozenset(BODY_CONTAINER_IDS)

# A known container needs this many characters; fewer means an empty template slot.
MIN_CONTAINER_CHARS = 20
# The generic pick overrides a known container only when it lies outside it and holds this many times
# its prose (the class name was reused for a summary or teaser box).
CONTAINER_OVERRIDE_RATIO = 3.0

# ----------------------------------------------------------------------------- 2. line classes
# Sentence punctuation: prose has it, navigation and link lists rarely do.
_PUNCT_RE = re.compile(r"[，。！？；、,;!?]")
# A line is prose with this many non-link characters and punctuation, or with PROSE_LONG_CHARS.
PROSE_MIN_CHARS = 8
PROSE_LONG_CHARS = 50
# Weight of junk characters against prose characters in an element's score.
JUNK_WEIGHT = 1.0
# Credit per character of a non-link table row of 2+ cells (data tables in notices: 公示名单, 统计表).
TABLE_ROW_WEIGHT = 0.3
_TABLE_TAGS = frozenset({"tr", "td", "th", "tbody", "table"})
# Site footer lines are junk even when they carry punctuation.
_FOOTER_LINE_RE = re.compile(
    r"版权所有|Copyright|©|ICP\s*[备证]|网站标识码|公网安备|主办单位\s*[:：]|承办单位\s*[:：]|技术支持\s*[:：]|"
    r"主办\s*[:：].{0,40}承办|建议使用.{0,20}浏览器|分辨率",
    re.I,
)

# The best element gives way to a child holding its prose but for this fraction of the child's.
DESCEND_REST_RATIO = 0.25

# ----------------------------------------------------------------------------- 3. widgets and bylines
# class/id tokens of widget subtrees skipped when rendering the body (share/print/font bars, pagers,
# related lists, QR codes, breadcrumbs, footers). Matched on token boundaries (space, -, _, digits).
_NOISE_ATTR_RE = re.compile(
    r"(?:^|[\s_-])(?:share|bdshare\S*|bdsharebuttonbox|jiathis\S*|sharebar|fenxiang|print|printer|dayin|"
    r"font|fontsize|zihao|toolbar|tools|related|relate|relevant|xgwz|xgxw|xgyd|xglj|pager|"
    r"pagination|page-nav|fanye|prev|next|prevnext|shangxia|sxpian|comment|comments|pinglun|"
    r"qrcode|ewm|erweima|breadcrumbs?|crumbs?|bread|position|location|weizhi|dqwz|footer|foot|copyright|"
    r"ad|ads|advert|advertisement|guanggao)(?=$|[\s_\d-])"
    # CSS utility classes (font-weight-bold, position-relative) style article text: not widgets
    r"(?!-(?:weight|size|family|style|bold|normal|italic|light|medium|relative|absolute|fixed|static|sticky"
    r"|note))",
    re.I,
)
# A "widget" subtree with this much text or more is a mislabelled wrapper of the article: keep it.
NOISE_MAX_CHARS = 300

# Whole lines that are page furniture wherever they appear in the body.
_WIDGET_LINE_RE = re.compile(
    r"^(?:[【\[(（]?\s*(?:字体|字号|文字)\s*[:：]?\s*[【\[]?\s*大\s*[】\]]?\s*[【\[]?\s*中\s*[】\]]?\s*[【\[]?\s*小"
    r"\s*[】\]]?\s*[】\])）]?"
    r"|.{0,12}(?:打印本页|打印此页|打印文章|打印正文|关闭窗口|关闭本页|【打印】|【关闭】|\[打印\]|\[关闭\]|"
    r"收藏本页|加入收藏|返回顶部|扫一扫在手机(?:上)?打开当前页|扫一扫在手机上查看当前页面|在手机上打开|"
    r"【纠错】|\[纠错\]|我要纠错).{0,30}"
    r"|分享到\s*[:：]?.{0,40}"
    r"|(?:上一篇|下一篇|上一条|下一条)\s*[:：]?.{0,80}"
    r"|(?:【|\[)?\s*(?:打印|关闭|收藏|分享|纠错)\s*(?:】|\])?(?:\s*(?:【|\[)?\s*(?:打印|关闭|收藏|分享|纠错)"
    r"\s*(?:】|\])?)*"
    r")$"
)
# A heading that opens the block after an article (related links, comments, prev/next): the body ends
# before it.
_CUT_RE = re.compile(
    r"^[【\[]?\s*(?:相关(?:阅读|新闻|链接|文章|稿件|信息|报道|专题|推荐)|推荐阅读|延伸阅读|扩展阅读|热点推荐|热门推荐|"
    r"精彩推荐|猜你喜欢|更多精彩|往期回顾|热点新闻|热门文章|最新文章|图片新闻|精彩图集|为你推荐|大家都在看|"
    r"网友评论|发表评论|我要评论|评论区|我要留言)\s*[】\]]?\s*[:：]?$"
    r"|^(?:上一篇|下一篇|上一条|下一条)\s*[:：]"
)
# The editor line closes a news article: after half of the body's text, what follows it in the same
# container is furniture (quoted teasers, "more" links, related items).
_EDITOR_END_RE = re.compile(r"^[【\[(（]?\s*(?:责任编辑|责编|编辑)\s*[:：]")
# Labelled metadata lines dropped at the start and end of the body (gov-portals.md 2.2).
_BYLINE_LABELS = (
    "本文摘要", "内容摘要", "摘要", "本文关键词", "关键词", "关键字", "主题词", "本文来源", "信息来源", "文章来源",
    "稿件来源", "来源", "发布时间", "发布日期", "发表时间", "发表日期", "更新时间", "更新日期", "时间", "日期",
    "作者", "撰稿", "撰稿人", "供稿", "责任编辑", "责编", "编辑", "审核", "审校", "校对", "浏览次数", "阅读次数",
    "阅读量", "访问量", "浏览量", "点击数", "点击次数", "点击量", "字体", "字号",
    # 信息公开 metadata table labels (gov-portals.md 2.3), often padded: 索 引 号, 文　　号
    "索引号", "主题分类", "信息分类", "分类", "发文机关", "发布机构", "公开主体", "成文日期", "发文日期", "公开日期",
    "生成日期", "上载日期", "发文字号", "文号", "标题", "名称", "有效性", "时效", "公开方式", "公开属性", "公开范围",
    "体裁", "公文种类", "所属机构",
)
_LABELS_RE = "|".join(r"\s*".join(label) for label in _BYLINE_LABELS)
_BYLINE_RE = re.compile(
    r"^[【\[]?\s*(?:" + _LABELS_RE + r")\s*[:：】\]]"
    r"|^[【\[(（]\s*(?:责任编辑|责编|编辑)\s*[:：].{0,20}[】\])）]$"
)
# A row of a label/value table (索 引 号 | 000014349/2024-00057 | ...): metadata, not a data table.
_LABEL_ROW_RE = re.compile(r"^(?:" + _LABELS_RE + r")(?:\s|[:：])")
# A reporter line above the text: 本报记者 张三, 半月谈记者 李四 王五 (short, no sentence punctuation).
_REPORTER_RE = re.compile(r"^.{0,12}(?:记者|通讯员|特约撰稿人?)\s*[\u4e00-\u9fff·]{2,5}(?:[\s、,，][\u4e00-\u9fff·]{2,5})*$")
# Date-only lines (with or without a time), often the byline of a template.
_DATE_LINE_RE = re.compile(
    r"^[\[【(（]?\s*(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
    r"(?:\s*\d{1,2}\s*[:：]\s*\d{1,2}(?:\s*[:：]\s*\d{1,2})?)?\s*[\]】)）]?$"
)
_DATE_RE = re.compile(r"(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}")
# Numeric timestamps (2024-05-24 09:14): a system byline when last; a 落款 date (2024年5月24日) stays.
_STAMP_LINE_RE = re.compile(
    r"^[\[【(（]?\s*(?:19|20)\d{2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}"
    r"(?:\s*\d{1,2}\s*[:：]\s*\d{1,2}(?:\s*[:：]\s*\d{1,2})?)?\s*[\]】)）]?$"
    r"|^[\[【(（]?\s*(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*\d{1,2}\s*[:：]\s*\d{1,2}"
)
# Breadcrumb lines: 首页 > 栏目 > 正文, 当前位置：...
_CRUMB_RE = re.compile(r"^(?:当前位置|您的位置|我的位置|所在位置|你的位置|位置)\s*[:：]|^首页\s*[>＞»/]")
# Pager lines inside multi-page articles: 【1】【2】【3】, 上一页 1 2 下一页, 共3页, 第1页.
_PAGER_RE = re.compile(
    r"^(?:(?:[【\[]\s*\d+\s*[】\]]\s*)+|(?:首页|上一页|下一页|尾页|末页|\d+|\s|[<>«»]|…)+"
    r"|(?:第\s*\d+\s*页\s*)?共\s*\d+\s*页.{0,20}|第\s*\d+\s*页)$"
)
# Short furniture at the edges: tab labels and buttons (图集, +1, 点赞) and app promotions.
_EDGE_FURNITURE_RE = re.compile(
    r"^(?:图集|组图|视频|点赞|赞|收藏|评论|返回|返回首页|返回列表|更多|[^\u4e00-\u9fff]{1,6})$"
    r"|^[(（【\[].{0,40}(?:下载|关注).{0,30}(?:APP|App|app|客户端|公众号)[^)）】\]]{0,10}[)）】\]]$"
)
# Attachment lines: kept even though they are mostly link text.
_ATTACHMENT_LINE_RE = re.compile(r"^(?:附件|相关附件|附)\s*\d*\s*[:：]|^\d+\s*[.、．]?.{1,60}\.(?:pdf|docx?|xlsx?|wps|ofd|zip|rar)$", re.I)
# An editor's note opening the article, sometimes placed outside the body container.
_EDITOR_NOTE_RE = re.compile(r"^[【\[]?\s*(?:编者按|编前语|编者的话|编者注|编辑导语)\s*[】\]]?\s*[:：]?")
# How far before the chosen element an editor's note is looked for (lines).
EDITOR_NOTE_LOOKBACK = 6


@dataclass(slots=True)
class BodyResult:
    """The article body: plain text, one paragraph per line, no empty lines; ``node`` is the element
    it came from (None when nothing was found)."""

    text: str
    node: HtmlElement | None
    reporter: str | None = None  # a reporter byline dropped from the top (本报记者 张三), for the author


@lru_cache(maxsize=8192)  # pages of one site share their template's class names
def _attr_kind(cls: str | None, el_id: str | None) -> int:
    """``walk`` hook: known body containers are marked, widget subtrees (by class/id word) skipped."""
    if (el_id and el_id in _CONTAINER_IDS) or (cls and not _CONTAINER_CLASSES.isdisjoint(cls.split())):
        return MARK
    return WIDGET if _NOISE_ATTR_RE.search(f"{cls or ''} {el_id or ''}") else KEEP


# ----------------------------------------------------------------------------- scoring
def _prose_value(line: Line) -> int:
    """Non-link characters of a prose line, 0 for anything else."""
    own = line.chars - line.link_chars
    if own < PROSE_MIN_CHARS or line.link_chars * 2 > line.chars:
        return 0
    if (own >= PROSE_LONG_CHARS or _PUNCT_RE.search(line.text)) and not _FOOTER_LINE_RE.search(line.text):
        return own
    return 0


@dataclass(slots=True)
class _Scores:
    score: list[float]   # prose - junk per element (subtree sums)
    prose: list[int]     # prose characters per element
    chars: list[int]     # visible characters per element


def _is_headline(line: Line, tag: str, title_norm: str) -> bool:
    """The headline (an ``<h1>``, or the title's own text): neither prose nor junk. A long headline
    scored as prose would make its own element the body."""
    if tag == "h1":
        return True
    return bool(title_norm) and abs(line.chars - len(title_norm)) <= 4 and _norm(line.text) == title_norm


def _score(w: Walk, title_norm: str = "") -> _Scores:
    n = len(w.elements)
    prose = [0] * n
    value = [0.0] * n
    chars = [0] * n
    elements = w.elements
    for line in w.lines:
        o = line.owner
        nonlink = line.chars - line.link_chars
        chars[o] += line.chars
        if line.chars >= PROSE_LONG_CHARS and _is_headline(line, elements[o].tag, title_norm):
            continue
        p = _prose_value(line)
        if p:
            prose[o] += p
            value[o] += p
        elif (line.cells >= 2 and nonlink * 2 >= line.chars and elements[o].tag in _TABLE_TAGS
              and not _is_meta_line(line.text, lead=True) and not _DATE_RE.search(line.text)
              and not _LABEL_ROW_RE.match(line.text)):
            value[o] += TABLE_ROW_WEIGHT * nonlink
        else:
            value[o] -= JUNK_WEIGHT * line.chars
    parent = w.parent
    for i in range(n - 1, 0, -1):  # reversed pre-order: children before parents
        if chars[i]:  # a subtree without lines adds nothing (every line has a visible character)
            q = parent[i]
            prose[q] += prose[i]
            value[q] += value[i]
            chars[q] += chars[i]
    return _Scores(value, prose, chars)


def _best_positive(score: list[float]) -> int:
    """``_best(score, range(len(score)))``: the last element of the top score, if that is positive."""
    top = max(score, default=0.0)  # C loops instead of a Python one over every element
    return len(score) - 1 - score[::-1].index(top) if top > 0 else -1


def _best(score: list[float], candidates: range | list[int], *, positive: bool = True) -> int:
    best, best_score = -1, 0.0
    for i in candidates:
        s = score[i]
        # ties go to the later element: in pre-order that is the deeper one
        if (best < 0 and (s > 0 or not positive)) or (best >= 0 and s >= best_score):
            best, best_score = i, s
    return best


def _descend(w: Walk, sc: _Scores, best: int) -> int:
    """Step from the best element down into the child holding nearly all of its prose.

    The parent of an article and a sidebar blurb (a "专题推荐" box with a sentence of prose) outscores
    the article alone; when everything outside one child is little prose, that child is the body -- unless
    another child is prose alone (no junk line): that is article text (a first paragraph in its own
    ``<section>``), not a blurb.
    """
    while best >= 0:
        total = sc.prose[best]
        j, last, step, pure = best + 1, w.end[best], -1, False
        while j <= last:  # the children of ``best``: skip over each child's subtree
            if sc.prose[j]:
                if step < 0 and total - sc.prose[j] <= DESCEND_REST_RATIO * sc.prose[j]:
                    step = j
                elif sc.score[j] >= sc.prose[j]:
                    pure = True  # a block of prose and nothing else: a paragraph, not a sidebar blurb
            j = w.end[j] + 1
        # a first paragraph in its own <section> next to the rest of the article stays with it
        if step < 0 or sc.score[step] <= 0 or pure:
            return best
        best = step
    return best


def _choose(w: Walk, title_norm: str = "") -> int:
    sc = _score(w, title_norm)
    generic = _descend(w, sc, _best_positive(sc.score))
    if w.marked:
        known = [i for i in w.marked if sc.chars[i] >= MIN_CONTAINER_CHARS]
        best = _best(sc.score, known, positive=False)
        if best >= 0:
            outside = generic >= 0 and not (best <= generic <= w.end[best] or generic <= best <= w.end[generic])
            if outside and sc.prose[generic] > CONTAINER_OVERRIDE_RATIO * max(sc.prose[best], 1):
                return generic
            return best
    return generic


# ----------------------------------------------------------------------------- trimming
def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _is_meta_line(text: str, *, lead: bool) -> bool:
    dated = _DATE_LINE_RE.match(text) if lead else _STAMP_LINE_RE.match(text)
    return bool(dated or _BYLINE_RE.search(text) or _CRUMB_RE.match(text) or _PAGER_RE.match(text)
                or _EDGE_FURNITURE_RE.match(text))


def _is_link_line(line: Line) -> bool:
    """Mostly link text, and not an attachment line (附件：<a>申报表</a> is article content)."""
    return line.link_chars * 2 > line.chars and not _ATTACHMENT_LINE_RE.match(line.text)


def _is_lead_noise(line: Line, tag: str, title_norm: str) -> bool:
    text = line.text
    if _is_link_line(line) or _is_meta_line(text, lead=True) or tag == "h1":
        return True
    if _REPORTER_RE.match(text):
        return True
    if title_norm and len(text) <= len(title_norm) + 4:
        norm = _norm(text)
        if len(norm) >= 4 and norm in title_norm:
            return True
    return False


def _is_tail_noise(line: Line) -> bool:
    return _is_link_line(line) or _is_meta_line(line.text, lead=False)


def _trim(w: Walk, lines: list[Line], title: str | None) -> list[Line]:
    for k in range(1, len(lines)):  # the body ends at a related-content heading that follows text
        if _CUT_RE.match(lines[k].text):
            lines = lines[:k]
            break
    total, seen = sum(ln.chars for ln in lines), 0
    for k, line in enumerate(lines):  # ... and at an editor line after most of the text
        if seen * 2 >= total and _EDITOR_END_RE.match(line.text):
            lines = lines[:k + 1]
            break
        seen += line.chars
    kept = [ln for ln in lines if not _WIDGET_LINE_RE.match(ln.text)]
    title_norm = _norm(title) if title else ""
    start, stop = 0, len(kept)
    while start < stop and _is_lead_noise(kept[start], w.elements[kept[start].owner].tag, title_norm):
        start += 1
    while stop > start and _is_tail_noise(kept[stop - 1]):
        stop -= 1
    return kept[start:stop]


def _editor_note(w: Walk, first: int, title: str | None) -> list[Line]:
    """Lines of an editor's note (编者按) just before line ``first``, else []."""
    title_norm = _norm(title) if title else ""
    for k in range(first - 1, max(first - 1 - EDITOR_NOTE_LOOKBACK, -1), -1):
        if _EDITOR_NOTE_RE.match(w.lines[k].text):
            return [ln for ln in w.lines[k:first]
                    if not (_is_lead_noise(ln, w.elements[ln.owner].tag, title_norm)
                            or _WIDGET_LINE_RE.match(ln.text))]
    return []


# ----------------------------------------------------------------------------- entry point
def _body_element(tree: HtmlElement) -> HtmlElement:
    if tree.tag == "body":
        return tree
    body = tree.find("body")
    return tree if body is None else body


def walk_body(tree: HtmlElement, raw: RawText | None = None) -> Walk:
    """The walk ``find_body`` works on; ``raw`` also records the page's raw text in the same pass."""
    return walk(_body_element(tree), _attr_kind, NOISE_MAX_CHARS, raw)


def _continuation(w: Walk, best: int, k: int) -> list[Line]:
    """Lines after a known container, inside its parent, that go on with the article: a notice whose
    container holds only the first paragraph, followed by its tables of names, contact lines and the
    closing signature. The run ends at the first link line, footer, related-content heading, widget or
    labelled byline line."""
    parent = w.parent[best]
    if parent < 0:
        return []
    end_best, end_parent = w.end[best], w.end[parent]
    out = []
    for line in w.lines[k:]:
        o = line.owner
        if o > end_parent or o < best:
            break  # past the parent (or the parent's own text before the container)
        if o <= end_best:
            continue
        text = line.text
        if (_is_link_line(line) or _FOOTER_LINE_RE.search(text) or _CUT_RE.match(text)
                or _WIDGET_LINE_RE.match(text) or _is_meta_line(text, lead=False) or _EDITOR_END_RE.match(text)):
            break
        out.append(line)
    return out


def _excluded(w: Walk, exclude: Iterable[HtmlElement]) -> bytearray | None:
    """Per element of the walk: 1 when it lies inside one of ``exclude`` (metadata rows)."""
    out = None
    for el in exclude:
        try:
            i = w.elements.index(el)
        except ValueError:
            continue  # skipped by the walk
        if out is None:
            out = bytearray(len(w.elements))
        out[i:w.end[i] + 1] = b"\x01" * (w.end[i] + 1 - i)
    return out


def find_body(tree: HtmlElement, *, url: str = "", title: str | None = None,
              walked: Walk | None = None, exclude: Iterable[HtmlElement] = ()) -> BodyResult:
    """The article body of a parsed page: known CMS containers first, then text density.

    ``title`` (the headline, when known) lets title lines repeated at the top of the body be dropped.
    ``url`` is part of the interface for callers' logging; the result never depends on it. ``walked``
    is ``walk_body(tree)`` when the caller already has it. Lines inside ``exclude`` (the 信息公开
    metadata rows the field extractor read) neither count nor show.
    """
    w = walked if walked is not None else walk_body(tree)
    if not w.elements:
        return BodyResult("", None)
    banned = _excluded(w, exclude)
    if banned is not None:
        w = Walk([ln for ln in w.lines if not banned[ln.owner]], w.elements, w.parent, w.end, w.marked)
    best = _choose(w, _norm(title) if title else "")
    if best < 0:
        return BodyResult("", None)
    last = w.end[best]
    idx = [k for k, line in enumerate(w.lines) if best <= line.owner <= last]
    if not idx:
        return BodyResult("", w.elements[best])
    chosen = [w.lines[k] for k in idx]
    if best in w.marked:
        chosen += _continuation(w, best, idx[-1] + 1)
    lines = _trim(w, chosen, title)
    reporter = next((ln.text for ln in w.lines[idx[0]:idx[0] + 4] if _REPORTER_RE.match(ln.text)
                     and (not lines or ln.owner != lines[0].owner or ln.text != lines[0].text)), None)
    if lines and not _EDITOR_NOTE_RE.match(lines[0].text):
        lines = _editor_note(w, idx[0], title) + lines
    return BodyResult("\n".join(line.text for line in lines), w.elements[best], reporter)


__all__ = ["BODY_CONTAINER_CLASSES", "BODY_CONTAINER_IDS", "BodyResult", "find_body", "walk_body"]
