"""Grammar of Chinese street addresses, matched segment by segment from a word start.

An address is a chain of segments: administrative units (省, 市, 区, 县, 旗, 自治州…),
a street/township unit (街道, 镇, 乡, 村, 社区), a road (路, 街, 大道, 巷, 弄, 胡同)
with its door number, then building parts (a compound name before a building number,
栋/幢/座/单元/层/室). Each segment's name is the shortest run of name characters that
reaches its suffix, so ``南昌市青云谱区`` splits at ``市``. Name characters exclude
function words (的 在 和 …) so an address does not run on into the sentence. Once a
door or building number has been read, only building-level segments may follow.
"""

from __future__ import annotations

import regex

# Han characters that may appear in place names: not function words or verbs that
# typically follow an address in prose.
_N = r"[^\P{Han}的了在是有及等其并被把从到对将这那个住往附近旁也就还又很曾已未没不我你他她它们]"
_NUM = r"\d+(?:-\d+)?"
_ADMIN = regex.compile(
    r"(?:" + _N + r"{1,8}?(?:特别行政区|自治区|自治州|自治县|地区|省|市|区|县|旗|盟))"
)
_TOWN = regex.compile(r"(?:" + _N + r"{1,8}?(?:街道|镇|乡|村|社区|嘎查|苏木))")
_ROAD = regex.compile(
    r"(?:(?:\d|" + _N + r"){1,8}?(?:大道|大街|路|街|巷|弄|胡同)"
    r"(?:" + _NUM + r"(?:号院|号|弄|巷))?)"
)
_NUMBERED = regex.compile(
    r"(?:[A-Za-z]?" + _NUM + r"(?:号楼|号院|号|栋|幢|座|单元|层|楼|室|户|组|弄)|[A-Za-z]座)"
)
_NL = r"(?:[A-Za-z]|" + _N + ")"  # estate names may carry Latin letters (SOHO现代城)
_COMPOUND = regex.compile(
    r"(?:" + _NL + r"{2,10}?(?=[A-Za-z]?\d+(?:号楼|号|栋|幢|座|单元|层|室)))"
    r"|(?:" + _NL + r"{1,8}?(?:小区|花园|家园|公寓|大厦|广场|新村|花苑|山庄|苑|园|城|府|湾|庭|居|坊))"
)

_EARLY = (_ADMIN, _TOWN, _ROAD)
_LATE = (_NUMBERED, _COMPOUND)


def match_address(text: str, pos: int) -> tuple[int, bool, int]:
    """End of the address starting at ``pos`` (``pos`` if none), whether it reaches
    street level (a door or building number, or a road inside a named district), which
    makes it an address rather than a bare place name, and the end of its first
    segment."""
    end = pos
    first = -1
    street = False
    numbered = False
    admin = False
    while True:
        for rx in _LATE if numbered else _EARLY + _LATE:
            m = rx.match(text, end)
            if m and m.end() > end:
                if rx is _NUMBERED or (rx is _ROAD and m.group()[-1] in "号院弄巷"):
                    numbered = street = True
                elif rx is _ROAD and admin:
                    street = True  # 青云谱区幸福路: a road inside a named district
                admin = admin or rx is _ADMIN or rx is _TOWN
                end = m.end()
                if first < 0:
                    first = end
                break
        else:
            return end, street, max(first, pos)
