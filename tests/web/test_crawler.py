"""Every page as every role sees it, in Vietnamese and in Chinese, on a platform full of demo
data (tests.demo_data): no internal code shows (statuses, gates, goods groups, steps, reasons,
events, form options) and no English, whether a text of the catalogues or a sentence.

Each demo account signs in, opens its home page and follows every link of this site it finds
(the menu, trips, amendments, the report filters as they come, htmx fragments) breadth-first,
a few pages of each kind; files to download are only checked to open. Every form it meets is
then sent once as it comes, nothing typed, to see the page that says what is missing. The
visible text of each page (text outside scripts and styles, and what the browser shows or
reads out of attributes: placeholder, title, aria-label, alt, button values, texts the page's
script shows) is checked. Plates, references, invoice numbers, names and what people typed,
units and the language switch are not codes nor English and are left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from borderflow.app import create_app
from borderflow.bootstrap import demo_accounts
from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.demo import run as demo_run
from borderflow.demo.traffic import GATE_SHARES
from borderflow.domain import labels
from borderflow.network import service as networks
from borderflow.web import i18n
from tests.conftest import PASSWORD, Database
from tests.demo_data import USERNAMES, Demo, demo_site
from tests.web.test_catalogues import used_texts

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

LANGS = ("vi", "zh")
PER_KIND = 3
"""Pages of one kind (the same address but for references and numbers) opened per crawl."""
PER_CRAWL = 70
"""Pages opened per account and language at most."""
SKIP = ("/lang/", "/static/", "/api/", "/docs", "/redoc", "/openapi", "/metrics", "/logout",
        "/sandbox")
DOWNLOADS = ("/reports/download/",)

# --- what is not a code nor English -------------------------------------------------------------

KEPT = [
    r"\b\d{2}[A-Z][A-Z0-9]?-[0-9A-Z]{3}\.?[0-9A-Z]{2}\b",  # plates (and a camera's misread)
    r"\bBF-[0-9A-Z]{4}-[0-9A-Z]{4}(?:-\d+)?\b",  # declaration and trip references
    r"\b[A-Z]{2,5}-[0-9A-Z-]{4,}\b",  # invoice, receipt and certificate numbers
    r"\b[\w.-]+\.yaml\b",  # scenario files
    r"\b[\w-]+@[\w.-]+\b",  # e-mail addresses
    r"\bdemo-phone-[\w-]+",  # the phones' device ids
]
UNITS = ("kg", "USD", "VND", "GPS", "QR", "API", "CSV", "PDF", "Excel", "XLSX", "SMS", "ID",
         "HS", "OsmAnd", "OwnTracks", "Traccar", "Borderflow", "htmx", "p95")
"""Units, formats and product names, the same in every language."""

_COMMON = """
the is are was were be been being of and or that this these those you your yours must should
would could cannot please field fields required valid invalid input not with for from error
errors has have had there their they them which what when where will into than then only
any some more each every here yet its our we it by as if but about after before between
while does did done shown found missing unknown allowed already pending passed held none
yes enter choose select sign save send submit search name type number value date page trip
trips truck trucks gate gates step steps goods driver drivers enterprise declaration
declarations invoice payment paid open closed waiting called today tomorrow yesterday
vehicle vehicles hour hours minute minutes day days week month year show hide back next
previous list new edit add remove delete cancel confirm print download upload note reason
status total count per least most over under out off again also just because how who whom
why such same other another own many much few"""
COMMON_ENGLISH = frozenset(_COMMON.split())
"""Words that mark a sentence as English. Words that Vietnamese writes the same without
diacritics (to, an, in, do, may, can, so, no, on, me, hay, tin, long, man, ban, con, cho) are
not in it; nor are words of a Vietnamese or Chinese translation (see ``native_words``)."""


def _words(text: str) -> set[str]:
    """Latin-letter words of a text (not its ``{placeholders}``, nor codes a translation
    quotes, such as ``staging:<mã>`` or ``warmup_days``)."""
    found = re.findall(r"[A-Za-z0-9][\w.:{}<>-]*", text)
    return {w.rstrip(".:") for w in found if re.fullmatch(r"[A-Za-z0-9]+[.:]?", w)}


def native_words() -> set[str]:
    """Latin-letter words that the Vietnamese and Chinese catalogues and labels use (loanwords,
    units): found there, they are words of that language, not English."""
    words: set[str] = set()
    for lang in LANGS:
        for path in (i18n.LOCALES / lang / "LC_MESSAGES").glob("*.po"):
            with path.open("rb") as f:
                words |= {t for m in read_po(f) if m.string for t in _words(str(m.string))}
        for table in labels.TABLES.values():
            for names in table.values():
                words |= _words(str(getattr(names, lang)))
    return words


def english_texts() -> list[str]:
    """The English texts of the catalogues (two words or more), as a page would show them
    verbatim: a text with placeholders by its literal parts of three words or more."""
    texts: set[str] = set(used_texts())
    for lang in LANGS:
        for path in (i18n.LOCALES / lang / "LC_MESSAGES").glob("*.po"):
            with path.open("rb") as f:
                texts |= {str(m.id) for m in read_po(f) if m.id and isinstance(m.id, str)}
    out: set[str] = set()
    for t in texts:
        parts = re.split(r"\{[^}]*\}", t)
        if len(parts) == 1:
            if len(t.split()) >= 2:
                out.add(t.strip())
        else:
            out |= {p.strip() for p in parts if len(p.split()) >= 3}
    return sorted(out, key=len, reverse=True)


def codes() -> set[str]:
    """Every code a page must name: the tables' codes, events, and the network's gates,
    yards, parks, corridors, goods groups, procedures, steps, reasons and areas."""
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    found = {code for table in labels.TABLES.values() for code in table}
    found |= {g.code for g in network.gates}
    found |= {y.code for g in network.gates for y in g.yards}
    found |= {s.code for s in network.staging_areas}
    found |= {c.code for c in network.corridors}
    found |= {g.code for g in network.goods}
    found |= {p.code for p in network.procedures}
    found |= {s.code for p in network.procedures for s in p.steps}
    found |= {r.code for r in network.reason_codes}
    found |= set(network.area_codes())
    return found


# --- reading a page -------------------------------------------------------------------------------

SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
TEXT_INPUTS = {"text", "number", "date", "datetime-local", "time", "email", "tel", "password",
               "search", "url", "month", "week", ""}


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)
    """Names of the fields a person types into."""
    button: tuple[str, str] | None = None
    selects: dict[str, str | None] = field(default_factory=dict)


VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "param", "source", "track", "wbr"})


def _as_typed(attrs: dict[str, str]) -> bool:
    """An element showing a name or what someone typed, as it is: ``translate="no"`` (the
    HTML way to say so) or the class ``actor`` (who did something)."""
    return attrs.get("translate") == "no" or "actor" in attrs.get("class", "").split()


class Page(HTMLParser):
    """The visible texts of a page (each text node and shown attribute, in order), its links
    and its forms."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.kept_from: int | None = None
        """Depth of the element whose text is shown as typed (see :func:`_as_typed`)."""
        self.texts: list[str] = []
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._skip = 0
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("script", "style"):
            self._skip += 1
            return
        if tag not in VOID:
            self.open.append(tag)
            if self.kept_from is None and _as_typed(a):
                self.kept_from = len(self.open)
        for name, value in a.items():
            if value and (name in SHOWN_ATTRIBUTES or name.startswith("data-text")):
                self.texts.append(value)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("hx-get"):
            self.links.append(a["hx-get"])
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        form = self._form
        kind = a.get("type", "").lower()
        if tag == "input":
            if kind in ("submit", "button", "reset") and a.get("value"):
                self.texts.append(a["value"])
            if form is None or not a.get("name"):
                return
            if kind == "submit":
                if form.button is None:
                    form.button = (a["name"], a.get("value", ""))
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((a["name"], a.get("value", "on")))
            elif kind == "hidden":
                form.fields.append((a["name"], a.get("value", "")))
            elif kind in TEXT_INPUTS:
                form.fields.append((a["name"], a.get("value", "")))
                form.typed.append(a["name"])
        elif tag == "button" and form is not None and kind in ("", "submit"):
            if form.button is None:
                form.button = (a.get("name", ""), a.get("value", ""))
        elif tag == "select" and form is not None and a.get("name"):
            self._select = a["name"]
            form.selects.setdefault(a["name"], None)
        elif tag == "option" and form is not None and self._select is not None:
            if form.selects[self._select] is None or "selected" in a:
                form.selects[self._select] = a.get("value", "")
        elif tag == "textarea" and form is not None and a.get("name"):
            form.fields.append((a["name"], ""))
            form.typed.append(a["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
            return
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass
            if self.kept_from is not None and len(self.open) < self.kept_from:
                self.kept_from = None
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if not self._skip and self.kept_from is None and data.strip():
            self.texts.append(" ".join(data.split()))


# --- the checks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: str  # code | english text | english words | status
    who: str
    lang: str
    url: str
    token: str
    context: str


class Checker:
    """Finds codes and English in a page's visible texts; ``names``: proper names and free
    text typed by people, shown as typed."""

    def __init__(self, names: Iterable[str]) -> None:
        native = native_words()
        self.codes = sorted(c for c in codes() if c not in native and c not in UNITS)
        self.code_re = re.compile(r"(?<![\w.:/-])(" + "|".join(
            re.escape(c) for c in sorted(self.codes, key=len, reverse=True))
            + r")(?![\w:/-]|\.\w)")
        self.english = [t for t in english_texts() if not any(
            t == n or t in n for n in i18n.NAMES.values())]
        self.words = COMMON_ENGLISH - {w.lower() for w in native}
        kept = {*names, *i18n.NAMES.values(), *UNITS}
        for d in demo_accounts("", "", ""):
            kept.add(d.display_name)
        kept |= {u for u in USERNAMES if u not in self.codes}
        kept |= {f"Demo traffic ({u})" for u in (demo_run.ENTERPRISE, demo_run.OFFICERS)}
        kept |= {f"Demo traffic (demo-driver-{i:02d})" for i in range(1, demo_run.DRIVERS + 1)}
        kept |= {f"Demo entry camera, {g}" for g in GATE_SHARES}
        names = sorted((k for k in kept if k), key=len, reverse=True)
        self.kept = re.compile("|".join([*KEPT, *(
            r"(?<!\w)" + re.escape(n) + r"(?!\w)" for n in names)]))

    def check(self, who: str, lang: str, url: str, texts: Iterable[str]) -> list[Finding]:
        out: list[Finding] = []
        shown = [self.kept.sub("•", t) for t in texts]
        page = " ¦ ".join(shown)

        def context(text: str, start: int, end: int) -> str:
            return text[max(0, start - 50):end + 50]

        for m in self.code_re.finditer(page):
            out.append(Finding("code", who, lang, url, m.group(1),
                               context(page, m.start(), m.end())))
        shown = [self.code_re.sub("•", t) for t in shown]
        for t in self.english:
            at = page.find(t)
            if at >= 0 and re.match(r"(?<!\w)", page[at - 1:at] or " ") and not re.match(
                    r"\w", page[at + len(t):at + len(t) + 1]):
                out.append(Finding("english text", who, lang, url, t,
                                   context(page, at, at + len(t))))
        for text in shown:
            words = sorted({w for w in re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)
                            if w.lower() in self.words})
            if words:
                out.append(Finding("english words", who, lang, url, " ".join(words),
                                   text[:160]))
        return out


# --- the crawl ----------------------------------------------------------------------------------


def kind_of(url: str) -> str:
    """A page's kind: its path with references, numbers and ids as ``*``, and its query's
    names."""
    parts = urlsplit(url)
    path = re.sub(r"BF-[0-9A-Z-]+|[A-Z]{2,5}-[0-9A-Z-]{4,}|\b[0-9a-f-]{32,36}\b|\d+", "*",
                  parts.path)
    keys = sorted({p.split("=")[0] for p in parts.query.split("&") if p})
    return path + ("?" + "&".join(keys) if keys else "")


def local(base: str, href: str) -> str | None:
    """The address of a link on this site (path and query), or None."""
    href = href.strip()
    if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
        return None
    if parts.path.startswith(SKIP):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Crawl:
    client: TestClient
    checker: Checker
    who: str
    lang: str
    findings: list[Finding]
    forms: dict[str, tuple[str, Form]] = field(default_factory=dict)
    """Each form's kind -> the page it is on and the form."""
    seen: set[str] = field(default_factory=set)
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    downloads: set[str] = field(default_factory=set)
    """Files checked to open (shared by the crawls of a language: each once)."""
    opened: int = 0
    cookies: dict[str, str] = field(default_factory=dict)
    """The signed-in session, to send the forms later."""

    def get(self, url: str, referer: str | None = None) -> tuple[str, Any]:
        """Open a page, following redirects on this site; the final address and answer."""
        headers = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        if referer:
            headers["referer"] = f"http://testserver{referer}"
        for _ in range(6):
            r = self.client.get(url, headers=headers, follow_redirects=False)
            if r.status_code not in (301, 302, 303, 307, 308):
                return url, r
            target = local(f"http://testserver{url}", r.headers["location"])
            if target is None:
                return url, r
            url = target
        return url, r

    def status(self, url: str, r: Any, referer: str | None) -> None:
        if r.status_code >= 400 or (self.who != "anonymous" and url.startswith("/login")):
            self.findings.append(Finding("status", self.who, self.lang, url,
                                         str(r.status_code), f"linked from {referer}"))

    def look(self, url: str, html: str) -> Page:
        page = Page(html)
        self.findings.extend(self.checker.check(self.who, self.lang, url, page.texts))
        return page

    def run(self, starts: list[str]) -> None:
        """Breadth-first from the starts (each opened; other pages a few of a kind)."""
        queue: list[tuple[str, str | None]] = [(s, None) for s in starts]
        while queue and self.opened < PER_CRAWL:
            url, referer = queue.pop(0)
            if url in self.seen:
                continue
            self.seen.add(url)
            if url.startswith(DOWNLOADS):
                if url.split("?")[0] not in self.downloads:
                    self.downloads.add(url.split("?")[0])
                    _, r = self.get(url, referer)
                    self.status(url, r, referer)
                continue
            kind = kind_of(url)
            if self.kinds[kind] >= PER_KIND and url not in starts:
                continue
            self.kinds[kind] += 1
            self.opened += 1
            final, r = self.get(url, referer)
            self.status(final, r, referer)
            if "text/html" not in r.headers.get("content-type", ""):
                continue
            page = self.look(final, r.text)
            for href in page.links:
                target = local(f"http://testserver{final}", href)
                if target is not None and target not in self.seen:
                    queue.append((target, final))
            for form in page.forms:
                action = local(f"http://testserver{final}", form.action or final)
                if action is None:
                    continue
                if form.method == "get":
                    values = [(k, v) for k, v in form.fields if k != "csrf"]
                    values += [(k, v or "") for k, v in form.selects.items()]
                    query = urlencode(values)
                    target = action.split("?")[0] + (f"?{query}" if query else "")
                    if target not in self.seen:
                        queue.append((target, final))
                elif form.typed:
                    what = sorted(v for k, v in form.fields if k not in form.typed
                                  and k not in ("csrf", "revision", "next"))
                    self.forms.setdefault(f"{kind_of(action)} {' '.join(what)}".strip(),
                                          (final, form))

    def send_forms(self) -> None:
        """Each form once, as it comes, with nothing typed."""
        for action_kind, (page_url, form) in sorted(self.forms.items()):
            _, fresh = self.get(page_url)
            if "text/html" not in fresh.headers.get("content-type", ""):
                continue
            again = next((f for f in Page(fresh.text).forms
                          if f.action == form.action and f.method == "post"
                          and _hidden(f) == _hidden(form)), None)
            if again is None:
                continue
            data: list[tuple[str, str]] = []
            for name, value in again.fields:
                data.append((name, "" if name in again.typed else value))
            data += [(k, v or "") for k, v in again.selects.items()]
            if again.button and again.button[0]:
                data.append(again.button)
            action = local(f"http://testserver{page_url}", again.action) or page_url
            r = self.client.post(action, data=_fields(data), headers={
                "accept": "text/html", "referer": f"http://testserver{page_url}"},
                follow_redirects=False)
            where = f"{action} (sent empty from {page_url})"
            if r.status_code in (302, 303, 307):
                target = local(f"http://testserver{action}", r.headers["location"])
                if target is None:
                    continue
                where, r = self.get(target, page_url)
                where = f"{where} (after sending {action} empty)"
            if r.status_code >= 500:
                self.findings.append(Finding("status", self.who, self.lang, where,
                                             str(r.status_code), action_kind))
            if "text/html" in r.headers.get("content-type", ""):
                self.look(where, r.text)


def _hidden(form: Form) -> list[tuple[str, str]]:
    return [(k, v) for k, v in form.fields if k not in form.typed and k != "csrf"]


def _fields(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as the client sends them (a name may repeat)."""
    out: dict[str, list[str]] = defaultdict(list)
    for name, value in pairs:
        out[name].append(value)
    return dict(out)


def _sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf": token.group(1), "next": ""},
                    follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code, r.text[:500])
    return str(r.headers["location"])


def starts_for(demo: Demo, who: str, home: str, menu: list[str]) -> list[str]:
    """Where a crawl begins: the home page, the menu, and the pages of the trips worth seeing
    (every state) that the account may open (the demo's declarations are the enterprise's)."""
    out = [home, *menu]
    if "/officer" in menu:
        out += [f"/officer/trips/{ref}" for ref in demo.trips.values()]
    if who == "enterprise":
        out += [f"/portal/trips/{ref}" for ref in demo.trips.values()]
        out += [f"/portal/declarations/{demo.trips['declared'].rsplit('-', 1)[0]}/amend"]
    if "/board" in menu:
        out += ["/board?screen=large"]
    if "/sim" in menu:
        out += ["/sim"]
    return out


def _menu(html: str) -> list[str]:
    nav = re.search(r'<nav[^>]*class="menu"[^>]*>(.*?)</nav>', html, re.S)
    return re.findall(r'href="([^"]+)"', nav.group(1)) if nav else []


def _lab(client: TestClient, crawl: Crawl) -> None:
    """A comparison of two scenarios in the lab."""
    page = client.get("/sim")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    r = client.post("/sim", data=_fields([("csrf", token.group(1)),
                                          ("scenario", "lang-son-baseline.yaml"),
                                          ("scenario", "priority-off.yaml"), ("days", "1"),
                                          ("replications", "1"), ("seed", "1")]),
                    headers={"accept": "text/html"})
    crawl.status("/sim (a comparison)", r, "/sim")
    crawl.look("/sim (a comparison)", r.text)


def crawl_everything(demo: Demo) -> tuple[list[Finding], dict[str, int]]:
    """Every account's pages in each language: what is wrong, and how many pages each
    crawl opened."""
    checker = Checker(demo.names)
    findings: list[Finding] = []
    opened: dict[str, int] = {}
    app = create_app(demo.settings.model_copy(update={"public_base_url": demo.base_url}),
                     clock=demo.clock)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for lang in LANGS:
                crawls: list[Crawl] = []
                downloads: set[str] = set()
                lab = False
                for who in ("anonymous", *USERNAMES):
                    client.cookies.clear()
                    client.cookies.set("lang", lang)
                    crawl = Crawl(client, checker, who, lang, findings, downloads=downloads)
                    if who == "anonymous":
                        crawl.run(["/board", "/board?screen=large", "/login",
                                   "/portal", "/reports"])
                    else:
                        home = _sign_in(client, who)
                        first = client.get(home)
                        menu = _menu(first.text)
                        crawl.run(starts_for(demo, who, home, menu))
                        if "/sim" in menu and not lab:
                            _lab(client, crawl)
                            lab = True
                    crawl.cookies = dict(client.cookies)
                    crawls.append(crawl)
                for crawl in crawls:  # the forms after every page was seen: they change data
                    client.cookies.clear()
                    for k, v in crawl.cookies.items():
                        client.cookies.set(k, v)
                    crawl.send_forms()
                opened.update({f"{c.who}/{lang}": c.opened for c in crawls})
    finally:
        app.state.ctx.engine.dispose()
    return findings, opened


def report(findings: list[Finding], opened: dict[str, int]) -> str:
    """The findings by page kind, then kind of problem and token, with where and its
    context; then the pages each crawl opened."""
    grouped: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        grouped[(kind_of(f.url.split(" ")[0]), f.kind, f.token)].append(f)
    lines = [f"{len(findings)} problems on {len({f.url for f in findings})} pages:"]
    page = None
    for (kind, problem, token), items in sorted(grouped.items()):
        if kind != page:
            lines.append(f"\n== {kind}")
            page = kind
        first = items[0]
        who = sorted({f"{f.who}/{f.lang}" for f in items})
        lines.append(f"  [{problem}] {token!r} ({len(items)}x; {', '.join(who[:6])}"
                     f"{' ...' if len(who) > 6 else ''})\n      at {first.url}\n"
                     f"      … {first.context} …")
    lines.append("\nPages opened: " + ", ".join(f"{k} {n}" for k, n in opened.items()))
    return "\n".join(lines)


def test_the_checker_finds_codes_and_english_and_leaves_names_and_numbers() -> None:
    checker = Checker({"Cong ty TNHH Xuat nhap khau Demo", "Nguyen Van Tai"})
    page = Page("""<html><head><title>Chuyến xe</title><script>var s = "in_gate_area";</script>
        </head><body><h1>Chuyến BF-ABCD-EFGH-1 · 29C-123.45</h1>
        <p>Trạng thái: in_gate_area</p><p>Cửa khẩu huu-nghi, nhóm hàng fresh-fruit</p>
        <ul><li>step.held · <span class="actor">customs</span></li></ul>
        <select><option value="refrigerated_truck">refrigerated_truck</option></select>
        <input placeholder="Enter the plate"><p>This field is required.</p>
        <p>Cong ty TNHH Xuat nhap khau Demo · Nguyen Van Tai · 1.500.000 ₫ · 15.000 kg</p>
        <p>Xe to đang ở bãi, an toàn · lang-son-baseline.yaml · GPS · QR</p>
        <nav><a href="/lang/en">English</a> <a href="/lang/zh">中文</a></nav></body></html>""")
    found = checker.check("enterprise", "vi", "/portal", page.texts)
    assert sorted({(f.kind, f.token) for f in found}) == [
        ("code", "fresh-fruit"), ("code", "huu-nghi"), ("code", "in_gate_area"),
        ("code", "refrigerated_truck"), ("code", "step.held"),
        ("english text", "This field is required."), ("english words", "Enter the"),
        ("english words", "This field is required")]
    held = next(f for f in found if f.token == "step.held")
    assert "step.held" in held.context


@pytest.fixture(scope="module")
def demo(database_template: Database, tmp_path_factory: pytest.TempPathFactory,
         run_folder: Path) -> Iterator[Demo]:
    with demo_site(database_template, tmp_path_factory.mktemp("crawl"),
                   shared=run_folder) as (found, _client):
        yield found


@pytest.mark.slow
def test_every_page_in_vietnamese_and_chinese_shows_labels_never_codes_nor_english(
    demo: Demo
) -> None:
    findings, opened = crawl_everything(demo)
    text = report(findings, opened)
    Path(__file__).resolve().parents[2].joinpath("test-artifacts").mkdir(exist_ok=True)
    Path(__file__).resolve().parents[2].joinpath(
        "test-artifacts", "crawler-findings.txt").write_text(text, encoding="utf-8")
    assert not findings, text
