"""Complaint-ticket prose (诉求描述) with embedded PII and harmless look-alikes.

:func:`ticket_description` returns the text together with the character spans of the
personal data it embedded (``entities``) and of the look-alikes (``negatives``), so tests
and benchmarks can score detectors on demo rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from anonymizers.identifiers import id_card_valid, luhn_valid, mobile_valid

from . import names as N
from .fake import Fake

MIN_LEN, MAX_LEN = 50, 200
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_D0, _D1 = dt.date(2019, 1, 1), dt.date(2024, 12, 31)


class Span(NamedTuple):
    """``text[start:end] == value``; ``type`` is an entity name or a look-alike kind."""

    type: str
    start: int
    end: int
    value: str


@dataclass
class TicketText:
    text: str
    entities: list[Span] = field(default_factory=list)
    negatives: list[Span] = field(default_factory=list)


# A clause is a list of segments: plain text (kind None), PII (entity type) or look-alike.
Seg = tuple[str, str | None, bool]  # (text, kind, is_pii)
Clause = list[Seg]


def _t(s: str) -> Seg:
    return (s, None, False)


def _p(kind: str, s: str) -> Seg:
    return (s, kind, True)


def _n(kind: str, s: str) -> Seg:
    return (s, kind, False)


class _Writer:
    def __init__(self, f: Fake, county: N.County) -> None:
        self.f, self.c = f, county

    # --- how values are written in prose -------------------------------------------

    def phone(self) -> str:
        f = self.f
        if f.r() < 0.12:
            return f.landline(self.c)
        m = f.mobile()
        r = f.r()
        if r < 0.45:
            return m
        if r < 0.6:
            return f"{m[:3]} {m[3:7]} {m[7:]}"
        if r < 0.75:
            return f"{m[:3]}-{m[3:7]}-{m[7:]}"
        if r < 0.87:
            return ("+86 " if f.r() < 0.5 else "+86") + m
        if r < 0.93:
            return "0086" + m
        return m.translate(_FULLWIDTH)

    def id_card(self, male: bool | None = None) -> str:
        f = self.f
        male = f.r() < 0.5 if male is None else male
        v = f.id_card(self.c.code, f.birth(1935, 2010), male)
        r = f.r()
        if v.endswith("X") and r < 0.4:
            return v[:-1] + "x"
        if r < 0.12:
            return f"{v[:6]} {v[6:14]} {v[14:]}"
        return v

    def bank_card(self) -> str:
        v = self.f.bank_card()
        if self.f.r() < 0.4:
            return " ".join(v[i : i + 4] for i in range(0, len(v), 4))
        return v

    def order_no(self) -> str:
        """Digits that look like an identifier but fail every checker."""
        f = self.f
        while True:
            if f.r() < 0.3:
                return f.pick(("SF", "YT", "JD", "ZTO")) + f.digits(f.num(10, 13))
            v = str(f.num(1, 9)) + f.digits(f.num(11, 18))
            if not (luhn_valid(v) or id_card_valid(v) or mobile_valid(v)):
                return v

    def doc_no(self) -> str:
        f = self.f
        return f"{self.c.plate[0]}{f.pick(N.DOC_KINDS)}〔{f.num(2015, 2024)}〕{f.num(1, 199)}号"

    def amount(self) -> str:
        f = self.f
        r = f.r()
        if r < 0.4:
            return f"{f.num(2, 99) * 100}元"
        if r < 0.7:
            return f"￥{f.money(10, 20000)}"
        return f"{f.num(1, 30)}.{f.num(1, 9)}万元"

    def when(self) -> str:
        d = self.f.date(_D0, _D1)
        r = self.f.r()
        if r < 0.5:
            return f"{d.year}年{d.month}月{d.day}日"
        if r < 0.75:
            return f"{d.isoformat()}"
        return f"{d.year}年{d.month}月{d.day}日{self.f.num(8, 20)}时{self.f.num(0, 59)}分"

    # --- clauses ----------------------------------------------------------------------

    def opener(self, requester: str, phone: str) -> Clause:
        f, r = self.f, self.f.r()
        if r < 0.3:
            return [_t("市民"), _p("PERSON", requester), _t("来电反映：")]
        if r < 0.55:
            return [
                _t("诉求人"),
                _p("PERSON", requester),
                _t("，身份证号"),
                _p("ID_CARD", self.id_card()),
                _t("，现住"),
                _p("LOCATION", f.address(self.c)),
                _t("，反映："),
            ]
        if r < 0.8:
            return [
                _p("PERSON", requester),
                _t("（联系电话"),
                _p("PHONE_NUMBER", phone),
                _t("）来信称："),
            ]
        return [
            _t("来电人自称"),
            _p("PERSON", requester),
            _t("，回电号码"),
            _p("PHONE_NUMBER", self.phone()),
            _t("，"),
        ]

    def issue(self, category: str) -> Clause:
        f, c = self.f, self.c
        if category in ("城乡建设", "物业管理"):
            return [
                _t("其位于"),
                _p("LOCATION", f.address(c)),
                _t(
                    f.pick(
                        (
                            "的房屋外墙脱落存在安全隐患。",
                            "的小区电梯多次故障无人维修。",
                            "楼上漏水长期未处理。",
                        )
                    )
                ),
            ]
        if category == "交通运输":
            return [
                _t("车牌号为"),
                _p("LICENSE_PLATE", f.plate(c, f.r() < 0.3)),
                _t(f.pick(("的出租车拒载并辱骂乘客。", "的车辆长期占用消防通道。"))),
            ]
        if category == "劳动保障":
            return [
                _t(f.company(c) + "拖欠其工资共计"),
                _n("AMOUNT", self.amount()),
                _t("，至今未支付。"),
            ]
        if category == "社会保障":
            rel = f.pick(N.RELATIVES[:8])
            return [
                _t("其" + rel),
                _p("PERSON", f.name()),
                _t("（"),
                _p("ID_CARD", self.id_card()),
                _t("）的养老金自"),
                _n("DATE", self.when()),
                _t("起停发。"),
            ]
        if category == "市场监管":
            return [
                _t("在" + f.company(c) + "购买的商品存在质量问题，订单号"),
                _n("ORDER_NUMBER", self.order_no()),
                _t("，商家拒绝退款。"),
            ]
        if category == "医疗卫生":
            return [
                _t("某医院重复收取检查费"),
                _n("AMOUNT", self.amount()),
                _t("，要求退还至本人银行卡"),
                _p("BANK_CARD", self.bank_card()),
                _t("。"),
            ]
        if category == "生态环境":
            return [
                _p("LOCATION", f.address(c, home=False)),
                _t(f.pick(("附近工地夜间施工噪音扰民。", "有餐馆油烟直排。"))),
            ]
        return [
            _t(
                f.pick(
                    (
                        "所在小区道路破损长期无人维修。",
                        "办事窗口工作人员推诿不作为。",
                        "对上次工单的办理结果不满意。",
                    )
                )
            )
        ]

    def extra(self, kind: int) -> Clause:
        """One of :data:`EXTRA_KINDS` optional clauses (PII or look-alikes)."""
        f = self.f
        if kind == 0:
            return [
                _t("另，其" + f.pick(N.RELATIVES)),
                _p("PERSON", f.name()),
                _t("的电话是"),
                _p("PHONE_NUMBER", self.phone()),
                _t("。"),
            ]
        if kind == 1:
            return [_t("补贴请打入其银行卡"), _p("BANK_CARD", self.bank_card()), _t("。")]
        if kind == 2:
            return [_t("涉事车辆"), _p("LICENSE_PLATE", f.plate(self.c, f.r() < 0.3)), _t("。")]
        if kind == 3:
            return [_t("依据"), _n("DOC_NUMBER", self.doc_no()), _t("文件应予办理。")]
        if kind == 4:
            return [_t(f"依据《{f.pick(N.STATUTES)}》第{f.num(2, 80)}条，要求依法处理。")]
        if kind == 5:
            return [
                _t("此前已于"),
                _n("DATE", self.when()),
                _t("反映过，工单号"),
                _n("ORDER_NUMBER", self.order_no()),
                _t("。"),
            ]
        if kind == 6:
            return [
                _t("快递单号"),
                _n("ORDER_NUMBER", self.order_no()),
                _t("的包裹显示已签收但本人未收到。"),
            ]
        return [_t("其身份证号码为"), _p("ID_CARD", self.id_card()), _t("。")]


EXTRA_KINDS = 8
_FILLERS = (
    "该问题已持续较长时间。",
    "给周边居民生活带来很大不便。",
    "多次协商无果。",
    "曾向社区反映但未解决。",
)
_CLOSERS = ("请求相关部门尽快核实处理。", "希望尽快解决。", "请尽快回复。", "望予以督办。")


def ticket_description(
    f: Fake, county: N.County, category: str, requester: str, phone: str
) -> TicketText:
    """Prose of 50–200 characters for one ticket, with entity and look-alike spans."""
    w = _Writer(f, county)
    clauses = [w.opener(requester, phone), w.issue(category)]
    closer = [_t(f.pick(_CLOSERS))]
    size = sum(len(s) for cl in clauses + [closer] for s, _, _ in cl)
    for extra_kind in f.rng.sample(range(EXTRA_KINDS), f.num(0, 3)):
        extra = w.extra(extra_kind)
        n = sum(len(s) for s, _, _ in extra)
        if size + n <= MAX_LEN:
            clauses.append(extra)
            size += n
    fillers = list(_FILLERS)
    while size < MIN_LEN:  # each filler at most once (short texts need at most two)
        filler = fillers.pop(f.num(0, len(fillers) - 1))
        clauses.append([_t(filler)])
        size += len(filler)
    clauses.append(closer)
    if size > MAX_LEN:  # opener + issue alone too long (rare): drop the closer, then trim
        clauses.pop()
    out = TicketText("")
    parts: list[str] = []
    pos = 0
    for text, kind, pii in (seg for cl in clauses for seg in cl):
        if pos + len(text) > MAX_LEN:  # never cut through a value: stop before it
            if kind is None:
                parts.append(text[: MAX_LEN - pos])
            break
        if kind is not None:
            (out.entities if pii else out.negatives).append(Span(kind, pos, pos + len(text), text))
        parts.append(text)
        pos += len(text)
    out.text = "".join(parts)
    return out
