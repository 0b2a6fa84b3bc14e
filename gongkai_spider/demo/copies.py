"""A labelled near-duplicate set built from the demo text maker: what the dedup pipeline is measured on.

``labelled_set(n_notices, seed)`` returns documents (dicts with ``_id``, ``title``, ``body``) and, per
document, the ``_id`` of the original it copies (None for an original). Three kinds, all from the phrase
tables of ``text.py`` so they are as templated as the demo portal and real notices of one office:

- ``notice``: distinct notices (new topic, place, office and sentences each); no two are duplicates;
- ``copy-K``: a notice with K random character edits (insert, delete or replace; K from ``edits``);
- ``repost``: a notice as another portal shows it: a site suffix on the title, a source / date line before
  the body, print and close links and a different line layout after it.

Used by tests/test_dedup.py (a small set) and benchmarks/near_dups.py (precision and recall).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gongkai_spider.demo.portal import _hanweb_articles, _seed_articles, _trs_articles
from gongkai_spider.demo.text import ORGS, TextMaker

# Characters an edit inserts or replaces with: common in the notices, so an edit looks like a typo fix.
_EDIT_CHARS = "的一是在了和有人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def demo_articles(per_column: int, seed: int = 0) -> list[dict]:
    """The articles ``build_portal(per_column, seed=seed)`` serves, as {_id, title, body} (no pages built)."""
    maker = TextMaker(seed)
    articles = [*_seed_articles(maker, per_column, 0), *_trs_articles(maker, per_column),
                *_hanweb_articles(maker, per_column)]
    return [{"_id": f"demo-{n:07d}", "title": a.title, "body": "\n".join(a.paragraphs)}
            for n, a in enumerate(articles)]


@dataclass
class Labelled:
    doc: dict  # {"_id", "title", "body"}
    kind: str  # notice | copy-K | repost
    original: str | None  # _id of the notice this copies, None for a notice


def _notice(maker: TextMaker, i: int) -> dict:
    topic, place, org = maker.topic_place_org()
    title = maker.headline(topic, place, org)
    paragraphs = maker.paragraphs(maker.rng.randint(3, 7), topic, place, org)
    paragraphs[0] += f"现将“{title}”有关情况公布如下。"
    return {"_id": f"notice-{i:06d}", "title": title, "body": "\n".join(paragraphs)}


def edit(text: str, k: int, rng: random.Random) -> str:
    """``text`` with ``k`` random single-character edits (insert, delete, replace), never on a line break."""
    chars = list(text)
    for _ in range(k):
        op = rng.randrange(3)
        positions = [p for p, c in enumerate(chars) if c != "\n"]
        p = rng.choice(positions)
        if op == 0:
            chars.insert(p, rng.choice(_EDIT_CHARS))
        elif op == 1 and len(chars) > 1:
            del chars[p]
        else:
            chars[p] = rng.choice(_EDIT_CHARS)
    return "".join(chars)


def repost(doc: dict, rng: random.Random, published: str = "2024-05-24") -> dict:
    """``doc`` as another portal shows it: title suffix, a byline line before, widgets after, new layout."""
    org = rng.choice(ORGS)
    site = org.replace("市", "", 1)
    lines = doc["body"].split("\n")
    head = f"来源：{org}　发布时间：{published}　浏览次数："
    tail = "【打印本页】【关闭窗口】"
    body = "\n".join([head, *("\u3000\u3000" + line for line in lines), tail])
    return {"title": f"{doc['title']}_{site}", "body": body}


def labelled_set(n_notices: int, *, seed: int = 0, edits: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 20),
                 reposts: bool = True) -> list[Labelled]:
    """``n_notices`` notices, then per notice one edited copy (K cycling over ``edits``) and a repost."""
    maker = TextMaker(seed)
    rng = random.Random(seed + 1)
    out = [Labelled(_notice(maker, i), "notice", None) for i in range(n_notices)]
    for i, item in enumerate(out[:n_notices]):
        k = edits[i % len(edits)]
        copy = {"_id": f"copy-{i:06d}", "title": item.doc["title"], "body": edit(item.doc["body"], k, rng)}
        out.append(Labelled(copy, f"copy-{k}", item.doc["_id"]))
        if reposts:
            out.append(Labelled({"_id": f"repost-{i:06d}", **repost(item.doc, rng)}, "repost", item.doc["_id"]))
    return out


@dataclass
class Score:
    flagged: int  # documents given a near_duplicate_of
    correct: int  # of those, pointing into their own family (the notice they copy, or a copy of it)
    found: dict[str, tuple[int, int]]  # kind -> (copies pointing at their notice, copies of that kind)

    @property
    def precision(self) -> float:
        return self.correct / self.flagged if self.flagged else 1.0

    def recall(self, kinds: Iterable[str]) -> float:
        hit = sum(self.found.get(k, (0, 0))[0] for k in kinds)
        total = sum(self.found.get(k, (0, 0))[1] for k in kinds)
        return hit / total if total else 1.0


def score(labelled: list[Labelled], near_of: Mapping[str, str | None]) -> Score:
    """Precision over every flagged document; recall per kind of copy.

    A flag is right when it points into the document's own family: the notice it copies, or another copy of
    that notice (a repost found through an earlier edited copy is still a copy of the same notice).
    """
    family = {item.doc["_id"]: item.original or item.doc["_id"] for item in labelled}
    flagged = correct = 0
    found: dict[str, list[int]] = {}
    for item in labelled:
        predicted = near_of.get(item.doc["_id"])
        right = predicted is not None and family.get(predicted) == family[item.doc["_id"]]
        if predicted is not None:
            flagged += 1
            correct += right
        if item.original is not None:
            tally = found.setdefault(item.kind, [0, 0])
            tally[0] += right
            tally[1] += 1
    return Score(flagged, correct, {k: (v[0], v[1]) for k, v in found.items()})


class MemoryCandidates:
    """A store stand-in for the dedup pipeline (``CandidateSource``): every document it was handed."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[int, str, str]] = {}
        self.seconds: dict[str, int] = {}
        self.text_reads = 0  # texts() calls: the store reads a crawl would make

    def keep(self, doc: Mapping) -> None:
        self.docs[doc["_id"]] = (doc["simhash"], doc["title"], doc["body"])
        self.seconds[doc["_id"]] = doc.get("simhash2") or 0

    def simhashes(self) -> list[tuple[int, int]]:
        return [(v, self.seconds[k]) for k, (v, _t, _b) in self.docs.items()]

    def texts(self, *, ids: Iterable[str] = (), simhashes: Iterable[int] = ()) -> list[tuple[str, int, str, str]]:
        self.text_reads += 1
        out = [(i, *self.docs[i]) for i in ids if i in self.docs]
        wanted = set(simhashes)
        if wanted:
            out += [(i, v, t, b) for i, (v, t, b) in self.docs.items() if v in wanted]
        return out
