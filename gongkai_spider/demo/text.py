"""Deterministic Chinese filler text for the demo portal: headlines, paragraphs, names, sources.

Everything is built from small phrase tables with a seeded ``random.Random``, so a portal built twice with
the same seed is byte-identical, and thousands of articles cost milliseconds. Every character is in GB2312
because the TRS column is served in that encoding.
"""

from __future__ import annotations

import random
from collections.abc import Callable

PLACES: tuple[str, ...] = (
    "城东街道", "城南街道", "江北街道", "湖滨街道", "青山镇", "石桥镇", "梅溪镇", "柳林镇",
    "云台乡", "白沙乡", "桃源社区", "罗湾社区", "新城社区", "长乐村", "溪口村", "高新区",
)
ORGS: tuple[str, ...] = (
    "市发展和改革委员会", "市民政局", "市财政局", "市教育局", "市卫生健康委员会", "市生态环境局",
    "市住房和城乡建设局", "市交通运输局", "市农业农村局", "市文化广电旅游局", "市市场监督管理局",
    "市人力资源和社会保障局", "市应急管理局", "市自然资源和规划局", "市人民政府办公室", "市司法局",
)
TOPICS: tuple[str, ...] = (
    "和谐社区建设", "安全生产", "农村人居环境整治", "营商环境优化", "城乡居民医疗保险", "义务教育招生",
    "垃圾分类", "防汛防台", "消费品质量抽查", "老旧小区改造", "就业创业补贴", "政府信息公开",
    "森林防火", "食品安全", "文明城市创建", "数字化改革", "公共文化服务", "养老服务体系建设",
    "河湖长制", "乡村振兴", "矛盾纠纷化解", "减税降费", "户外广告整治", "残疾人帮扶",
)
_TITLE_TEMPLATES: tuple[str, ...] = (
    "关于做好{year}年{topic}工作的通知",
    "关于印发《{place}{topic}实施方案》的通知",
    "{org}召开{topic}工作推进会",
    "{place}{topic}工作取得阶段性成效",
    "{org}{year}年第{quarter}季度{topic}工作情况",
    "关于开展{year}年{topic}专项检查的通知",
    "我市{topic}再上新台阶",
    "{org}关于{topic}有关事项的公示",
    "{place}扎实推进{topic}",
    "{org}部署{topic}重点任务",
)
_SUBJECTS: tuple[str, ...] = ("{org}", "{place}", "我市", "各乡镇（街道）", "市{topic}工作领导小组", "相关部门")
_VERBS: tuple[str, ...] = ("深入推进", "扎实开展", "全面落实", "持续优化", "认真部署", "统筹推进", "积极探索",
                           "不断完善", "大力实施", "稳步推进")
_OBJECTS: tuple[str, ...] = ("{topic}工作", "基层治理体系建设", "民生实事项目", "重点任务清单", "长效管理机制",
                             "便民服务网点建设", "专项整治行动", "督查考核制度", "政策宣传解读", "数据共享平台建设")
_TAILS: tuple[str, ...] = (
    "，取得了明显成效。", "，群众满意度持续提升。", "，累计投入资金{n}万元。",
    "，共排查隐患{n}处，已全部整改到位。", "，惠及群众{n}余人。", "，为高质量发展提供了有力保障。",
    "，全年完成目标任务的{pct}%。", "，新增服务场所{small}个。", "，组织培训{small}场次，参训人员{n}人次。",
)
_OPENERS: tuple[str, ...] = (
    "近日，{place}{topic}工作{result}。",
    "{month}月{day}日，{org}召开专题会议，研究部署{topic}工作。",
    "为进一步做好{topic}工作，{org}结合实际制定了具体措施。",
    "今年以来，{place}围绕{topic}目标，细化责任分工，压实工作责任。",
)
_RESULTS: tuple[str, ...] = ("通过验收", "获得上级表彰", "入选全省示范案例", "顺利完成年度目标", "受到群众好评")
_CLOSERS: tuple[str, ...] = (
    "下一步，{org}将继续{verb}{topic}工作，切实把各项措施落到实处。",
    "{org}有关负责人表示，将以更高标准推动{topic}工作再上新台阶。",
    "下阶段，{place}将总结经验做法，形成可复制、可推广的工作机制。",
    "联系电话：0571-{phone}，欢迎社会各界监督。",
)
_SURNAMES = "张王李赵刘陈杨黄吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛"
_GIVEN = "明华伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞平刚桂英文辉鹏俊红玲建国志宏晓亮斌云飞燕新春林海"


# slot name -> how to draw a value for it
_DRAWS: dict[str, Callable[[random.Random], str]] = {
    "org": lambda rng: rng.choice(ORGS),
    "place": lambda rng: rng.choice(PLACES),
    "topic": lambda rng: rng.choice(TOPICS),
    "year": lambda rng: str(rng.randint(2019, 2024)),
    "quarter": lambda rng: "一二三四"[rng.randrange(4)],
    "n": lambda rng: str(rng.randint(12, 98000)),
    "pct": lambda rng: str(rng.randint(60, 120)),
    "small": lambda rng: str(rng.randint(2, 60)),
    "month": lambda rng: str(rng.randint(1, 12)),
    "day": lambda rng: str(rng.randint(1, 28)),
    "result": lambda rng: rng.choice(_RESULTS),
    "verb": lambda rng: rng.choice(_VERBS),
    "phone": lambda rng: f"{rng.randint(0, 99999999):08d}",
}


class _Slots(dict):
    """Template values drawn only when a template asks for them (keeps generation cheap)."""

    def __init__(self, rng: random.Random, given: dict[str, str]) -> None:
        super().__init__(given)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return _DRAWS[key](self.rng)


class TextMaker:
    """Seeded generator of headlines, paragraphs and names (one instance per portal build)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._titles_seen: set[str] = set()

    def _fill(self, template: str, **slots: str) -> str:
        """``template`` with its ``{slot}`` names filled: given values first, else a random draw."""
        return template.format_map(_Slots(self.rng, slots))

    def headline(self, topic: str, place: str, org: str) -> str:
        """A headline unique within this portal (a batch number is added on a clash)."""
        title = self._fill(self.rng.choice(_TITLE_TEMPLATES), topic=topic, place=place, org=org)
        batch = 2
        base = title
        while title in self._titles_seen:
            title = f"{base}（第{batch}批）"
            batch += 1
        self._titles_seen.add(title)
        return title

    def sentence(self, topic: str, place: str, org: str) -> str:
        rng = self.rng
        subject = self._fill(rng.choice(_SUBJECTS), topic=topic, place=place, org=org)
        obj = self._fill(rng.choice(_OBJECTS), topic=topic)
        return subject + rng.choice(_VERBS) + obj + self._fill(rng.choice(_TAILS))

    def paragraphs(self, count: int, topic: str, place: str, org: str) -> list[str]:
        """``count`` paragraphs: an opener, body paragraphs of 2-4 sentences, a closing line."""
        rng = self.rng
        slots = {"topic": topic, "place": place, "org": org}
        first = self._fill(rng.choice(_OPENERS), **slots) + self.sentence(topic, place, org)
        middle = ["".join(self.sentence(topic, place, org) for _ in range(rng.randint(2, 4)))
                  for _ in range(max(count - 2, 0))]
        last = self._fill(rng.choice(_CLOSERS), **slots)
        return [first, *middle, last][:count] if count >= 2 else [first]

    def person(self) -> str:
        return self.rng.choice(_SURNAMES) + "".join(self.rng.choice(_GIVEN) for _ in range(self.rng.randint(1, 2)))

    def topic_place_org(self) -> tuple[str, str, str]:
        return self.rng.choice(TOPICS), self.rng.choice(PLACES), self.rng.choice(ORGS)
