"""The left navigation by workflow: each user sees only the pages their role may open."""

from __future__ import annotations

from dataclasses import dataclass

from gis_service.access import Role
from gis_service.web.deps import WebUser


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation: its label, link, the role it needs and an icon name."""

    label: str
    href: str
    role: Role
    icon: str = ""


# In the order of the work: look, deliver, review, check, keep the ledger, administer.
NAV = (
    NavItem("一张图首页", "/", Role.VIEWER, "home"),
    NavItem("提交成果", "/deliveries/new", Role.SURVEYOR, "upload"),
    NavItem("成果交付", "/deliveries", Role.SURVEYOR, "list"),
    NavItem("岸线比例核算", "/ratios", Role.VIEWER, "ratio"),
    NavItem("清四乱台账", "/problems", Role.VIEWER, "flag"),
    NavItem("问题地图", "/maps/problems", Role.VIEWER, "map"),
    NavItem("排污口档案", "/outfalls", Role.VIEWER, "drop"),
    NavItem("河长名录", "/chiefs", Role.VIEWER, "users"),
    NavItem("巡河记录", "/patrols", Role.VIEWER, "route"),
    NavItem("河长公示牌", "/signboards", Role.VIEWER, "board"),
    NavItem("群众举报审核", "/moderation", Role.ADMIN, "inbox"),
    NavItem("水质断面评价", "/quality", Role.VIEWER, "drop"),
    NavItem("饮用水水源地", "/sources", Role.VIEWER, "drop"),
    NavItem("一河一策任务", "/tasks", Role.VIEWER, "list"),
    NavItem("定期通报", "/bulletins", Role.VIEWER, "list"),
    NavItem("调度大屏", "/screen", Role.VIEWER, "monitor"),
    NavItem("系统管理", "/admin", Role.ADMIN, "settings"),
)


@dataclass(frozen=True)
class NavEntry:
    """A navigation item as shown: whether it is the current page."""

    item: NavItem
    active: bool


def navigation(user: WebUser, path: str) -> list[NavEntry]:
    """Return the entries ``user`` may open, the one matching ``path`` marked active."""

    def matches(href: str) -> bool:
        return path == href if href in {"/", "/deliveries"} else path == href or path.startswith(href + "/")

    shown = [item for item in NAV if user.may(item.role)]
    active = max((i for i in shown if matches(i.href)), key=lambda i: len(i.href), default=None)
    if active is None and path.startswith("/deliveries/"):
        active = next((i for i in shown if i.href == "/deliveries"), None)
    return [NavEntry(item, item is active) for item in shown]
