"""The offline model's part in the event wizard: a brief in plain words, drafted through the real tools.

Without a language model, `make dev` still shows what the wizard does. The
local LLM stand-in asks this module what to answer when nothing is scripted
(devserver wires it in), and for a request that offers the wizard's tools it
plays a simple, predictable agent:

1. the organiser's words (every user message; later ones win) are read for a
   title, a date and time, a city, how many people and the ticket prices:
   "A jazz night in Leeds on 14 March at 7pm for 120 people, £15 or VIP £40";
2. it asks `suggest_venues` for a venue in that city holding that many;
3. it calls `save_event_draft` with the first venue offered and
   `calculate_budget` with the tiers;
4. it sums up what was saved, or says what a tool refused.

The tools run as the signed-in organiser under RLS, exactly as with a real
model; only the reading of the brief is rules instead of a model. Dates are
read relative to the "Today is …" line of the wizard's system prompt, so the
answer depends on the wizard's clock, not this machine's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from shared.devstack.standins.llm_standin import Reply, ToolCalls, Turn

WIZARD_TOOLS = {"save_event_draft", "suggest_venues", "calculate_budget"}
MONTHS = {name: n for n, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], 1) for name in names}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CURRENCIES = {"£": "GBP", "€": "EUR", "$": "USD"}
MONTH_WORD = "|".join(sorted(MONTHS, key=len, reverse=True))
# Words before a price that do not name a ticket type ("tickets at £15", "120 people, £15").
NOT_A_TIER = {"a", "an", "the", "and", "or", "at", "for", "from", "is", "are", "cost", "costs", "price", "prices",
              "priced", "ticket", "tickets", "entry", "people", "guests", "attendees", "each", "per", "head",
              "with", "of", "to", "only", "just", "plus"}


@dataclass
class Brief:
    """What the organiser asked for, as far as the rules can tell."""

    title: str | None = None
    day: dt.date | None = None
    time: dt.time = dt.time(19, 0)
    city: str | None = None
    people: int | None = None
    tiers: list[dict] = field(default_factory=list)
    currency: str | None = None
    assumed: list[str] = field(default_factory=list)  # what was not said and had to be chosen


def _today(messages: list[dict]) -> dt.date:
    for message in messages:
        if message.get("role") == "system":
            found = re.search(r"Today is (\d{4}-\d\d-\d\d)", str(message.get("content")))
            if found:
                return dt.date.fromisoformat(found[1])
    return dt.date.today()


def _day(text: str, today: dt.date) -> dt.date | None:
    lowered = text.lower()
    if found := re.search(r"\b(\d{4})-(\d\d)-(\d\d)\b", lowered):
        return dt.date(int(found[1]), int(found[2]), int(found[3]))
    day_month = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_WORD})\b\.?(?:\s+(\d{{4}}))?", lowered)
    month_day = re.search(rf"\b({MONTH_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", lowered)
    if day_month or month_day:
        number, month, year = ((day_month[1], day_month[2], day_month[3]) if day_month
                               else (month_day[2], month_day[1], month_day[3]))
        try:
            candidate = dt.date(int(year) if year else today.year, MONTHS[month], int(number))
            if not year and candidate <= today:  # "14 March" said in April means next year's
                candidate = candidate.replace(year=today.year + 1)
        except ValueError:  # 31 February, or 29 February of a year without one
            return None
        return candidate
    if "tomorrow" in lowered:
        return today + dt.timedelta(days=1)
    if found := re.search(r"\b(" + "|".join(WEEKDAYS) + r")\b", lowered):  # the coming one
        return today + dt.timedelta(days=(WEEKDAYS.index(found[1]) - today.weekday()) % 7 or 7)
    return None


def _time(text: str) -> dt.time | None:
    lowered = text.lower()
    if found := re.search(r"\b(\d{1,2})(?::(\d\d))?\s*(am|pm)\b", lowered):
        hour = int(found[1]) % 12 + (12 if found[3] == "pm" else 0)
        return dt.time(hour, int(found[2] or 0))
    if found := re.search(r"\b([01]?\d|2[0-3]):([0-5]\d)\b", lowered):
        return dt.time(int(found[1]), int(found[2]))
    return None


def _tiers(text: str) -> tuple[list[dict], str | None]:
    """[{name, price_minor}] from "£15", "VIP £40", "tickets at 12.50 EUR", "free"."""
    tiers, currency = [], None
    money = re.compile(r"(?P<before>(?:[A-Za-z][\w-]*\s+){0,3})(?P<symbol>[£€$])(?P<amount>\d+(?:\.\d{1,2})?)")
    for found in money.finditer(text):
        currency = currency or CURRENCIES[found["symbol"]]
        words = found["before"].split()
        while words and words[-1].lower() in NOT_A_TIER:
            words.pop()
        words = words[-2:]
        while words and words[0].lower() in NOT_A_TIER:
            words.pop(0)
        name = " ".join(words) or "General admission"
        name = name[0].upper() + name[1:]
        if name.lower() not in {t["name"].lower() for t in tiers}:
            tiers.append({"name": name, "price_minor": round(float(found["amount"]) * 100)})
    if not tiers and re.search(r"\bfree\b", text.lower()):
        tiers.append({"name": "Free entry", "price_minor": 0})
    return tiers, currency


def read_brief(messages: list[dict]) -> Brief:
    """The brief from every user message, later statements overriding earlier ones."""
    today = _today(messages)
    brief = Brief()
    for message in messages:
        if message.get("role") != "user":
            continue
        text = str(message.get("content") or "")
        if found := re.search(r"[\"“']([^\"”']{3,120})[\"”']|\b(?:called|named)\s+([A-Z][^,.;!?]{2,80})", text):
            brief.title = (found[1] or found[2]).strip()
        elif brief.title is None and text.strip():
            first = re.split(r"\s+(?:on|in|at|for|with|from|tomorrow|today|next|this|\d)|[,.;!?£€$]", text.strip(),
                             maxsplit=1, flags=re.IGNORECASE)[0]
            first = re.sub(r"^(?:please\s+)?(?:plan|organi[sz]e|draft|create|make|set up)\s+(?:an?\s+|the\s+)?",
                           "", first, flags=re.IGNORECASE).strip()
            if first:
                brief.title = first[0].upper() + first[1:80]
        brief.day = _day(text, today) or brief.day
        brief.time = _time(text) or brief.time
        if found := re.search(r"\bin\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)", text):
            brief.city = found[1]
        if found := re.search(r"\b(\d{1,6})\s+(?:people|guests|attendees|seats|tickets|places)\b", text, re.I):
            brief.people = int(found[1])
        tiers, currency = _tiers(text)
        if tiers:
            brief.tiers, brief.currency = tiers, currency
    if not any(_time(str(m.get("content") or "")) for m in messages if m.get("role") == "user"):
        brief.assumed.append(f"a {brief.time:%H:%M} start")
    if brief.day is None:
        brief.day = today + dt.timedelta(weeks=4)
        brief.assumed.append("a date four weeks from today")
    if brief.people is None:
        brief.people = 100
        brief.assumed.append("room for 100 people")
    if not brief.tiers:
        brief.tiers = [{"name": "General admission", "price_minor": 1500}]
        brief.assumed.append("one ticket type at 15.00")
    if brief.title is None:
        brief.title = "New event"
    _share_capacity(brief)
    return brief


def _share_capacity(brief: Brief) -> None:
    """A tenth of the places for each premium tier (VIP, backstage …), the rest shared by the others."""
    premium = [t for t in brief.tiers if re.search(r"vip|premium|backstage|gold", t["name"], re.I)]
    others = [t for t in brief.tiers if t not in premium] or premium
    for tier in premium:
        if tier not in others:
            tier["capacity"] = max(1, brief.people // 10)
    left = max(len(others), brief.people - sum(t.get("capacity", 0) for t in premium if t not in others))
    for n, tier in enumerate(others):
        tier["capacity"] = left // len(others) + (1 if n < left % len(others) else 0)


def _since_last_user(messages: list[dict]) -> list[dict]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return messages[index + 1:]
    return messages


def _results(turn: list[dict]) -> dict[str, dict]:
    """{tool name: its parsed output} for the tool calls answered so far in this turn."""
    names = {c["id"]: c["function"]["name"] for m in turn for c in m.get("tool_calls") or []}
    out = {}
    for message in turn:
        if message.get("role") == "tool":
            try:
                out[names.get(message.get("tool_call_id"), "tool")] = json.loads(message.get("content") or "null")
            except json.JSONDecodeError:
                out[names.get(message.get("tool_call_id"), "tool")] = {"error": message.get("content")}
    return out


def _draft_calls(brief: Brief, venue_id: str | None) -> ToolCalls:
    starts = dt.datetime.combine(brief.day, brief.time)
    tiers = [{**t, **({"currency": brief.currency} if brief.currency else {})} for t in brief.tiers]
    draft = {"title": brief.title, "starts_at": starts.isoformat(),
             "ends_at": (starts + dt.timedelta(hours=3)).isoformat(), "tiers": tiers,
             **({"venue_id": venue_id} if venue_id else {})}
    budget = {"tiers": [{"name": t["name"], "price_minor": t["price_minor"], "capacity": t["capacity"]}
                        for t in tiers], **({"currency": brief.currency} if brief.currency else {})}
    return ToolCalls([("save_event_draft", draft), ("calculate_budget", budget)],
                     content="Saving the draft and working out the budget.")


def _summary(brief: Brief, results: dict[str, dict], venue: dict | None) -> str:
    saved = results.get("save_event_draft") or {}
    if "error" in saved or not saved.get("event_id"):
        why = (saved.get("error") or {}).get("message") if isinstance(saved.get("error"), dict) else saved.get("error")
        return f"I could not save the draft: {why or 'the tool refused it'}. Tell me what to change."
    day = brief.day
    when = f"{day:%A} {day.day} {day:%B %Y} at {brief.time:%H:%M}"
    where = f" at {venue['name']} ({venue['city']})" if venue else (
        f" in {brief.city} (no free venue of yours there holds {brief.people}; pick one later)" if brief.city else "")
    tiers = ", ".join(f"{t['name']} {t['price_minor'] / 100:.2f} x {t['capacity']}" for t in brief.tiers)
    lines = [f"Drafted \"{saved.get('title')}\" for {when}{where}. Tickets: {tiers}."]
    budget = results.get("calculate_budget") or {}
    if "profit_minor" in budget:
        lines.append(f"If 80% sell: {budget['gross_revenue_minor'] / 100:.2f} gross, "
                     f"{budget['net_revenue_minor'] / 100:.2f} after card fees ({budget['currency']}).")
    if brief.assumed:
        lines.append("I assumed " + ", ".join(brief.assumed) + ": tell me if that is wrong.")
    lines.append("It stays a draft until you publish it.")
    return " ".join(lines)


def improvise(body: dict) -> Turn | None:
    """The stand-in's unscripted answer to a wizard request (None: not a wizard request)."""
    offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
    messages = body.get("messages") or []
    if not WIZARD_TOOLS <= offered or not any(m.get("role") == "user" for m in messages):
        return None
    brief = read_brief(messages)
    turn = _since_last_user(messages)
    results = _results(turn)
    if not turn:
        return ToolCalls([("suggest_venues", {"min_capacity": brief.people, "date": brief.day.isoformat(),
                                              **({"city": brief.city} if brief.city else {})})],
                         content="Looking for a venue first.")
    if "save_event_draft" not in results:
        venues = (results.get("suggest_venues") or {}).get("venues") or []
        return _draft_calls(brief, venues[0]["id"] if venues else None)
    venues = (results.get("suggest_venues") or {}).get("venues") or []
    return Reply(_summary(brief, results, venues[0] if venues else None))
