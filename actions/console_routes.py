"""The support team's console, served by the action server under /agent/.

- ``GET /agent/login``, ``POST /agent/login`` (name and the team's agent token, form
  fields), ``POST /agent/logout``: a signed, HttpOnly, SameSite=Strict cookie for 12 hours.
  The token is $TANDEM_AGENT_TOKEN or $TANDEM_HOME/agent-token; nothing under /agent/
  answers without it.
- ``GET /agent/``: the inbox (bot/console/static/): the queue, a conversation's transcript
  and evidence pack, replies, claim, release, hand back.
- ``GET /agent/api/queue``; ``GET /agent/api/conversations/<id>``; ``POST
  /agent/api/conversations/<id>/{claim,release,reply,handback}`` (JSON bodies: a cross-site
  form cannot send one).
- ``GET /agent/dashboard[?since=30d]`` and ``GET /agent/gaps.csv``: analytics from Rasa's
  event broker (bot/console/analytics.py), the knowledge gaps clustered with the knowledge
  base's embedding model.

The work is bot/console/; this module is the HTTP glue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from sanic import Sanic, response
from sanic.request import Request

from bot.console import analytics, evidence, handoffs
from bot.console.dashboard import render_dashboard
from bot.core.settings import current_brand, get_settings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[1] / "bot" / "console" / "static"
STATIC_FILES = {"inbox.js": "text/javascript", "console.css": "text/css"}
COOKIE = "tandem_agent"
SESSION_SECONDS = 12 * 3600
AGENT_NAME = re.compile(r"^[\w][\w .'-]{0,39}$")
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def _sign(payload: str) -> str:
    key = get_settings().agent_token.encode()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def session_cookie(agent: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    payload = f"{base64.urlsafe_b64encode(agent.encode()).decode()}.{expires}"
    return f"{payload}.{_sign(payload)}"


def agent_of(cookie: str | None, now: float | None = None) -> str | None:
    """The agent a session cookie names, or None (missing, forged, expired)."""
    if not cookie or cookie.count(".") != 2:
        return None
    name, expires, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _sign(f"{name}.{expires}")):
        return None
    try:
        if int(expires) < (time.time() if now is None else now):
            return None
        return base64.urlsafe_b64decode(name.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


async def _in_thread(function, *args):
    # the console calls Rasa, which calls this server back (/nlg): never block its loop
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def add_console_routes(app: Sanic) -> None:
    settings = get_settings()

    def signed_in(request: Request) -> str | None:
        return agent_of(request.cookies.get(COOKIE))

    def refused(request: Request):
        if request.path.startswith("/agent/api/") or request.method != "GET":
            return response.json({"error": "sign in to the console first"}, status=401, headers=HEADERS)
        return response.redirect("/agent/login")

    @app.get("/agent/login")
    async def login_page(request: Request):
        return response.html(_page("login.html").replace("{{ERROR}}", ""), headers=HEADERS)

    @app.post("/agent/login")
    async def login(request: Request):
        name = (request.form.get("name") or "").strip()
        token = request.form.get("token") or ""
        if not AGENT_NAME.match(name) or not hmac.compare_digest(
            token.encode(), settings.agent_token.encode()
        ):
            logger.warning("console: a sign-in was refused")
            await asyncio.sleep(0.5)  # slows guessing
            error = '<p class="error" role="alert">That name or token is not right.</p>'
            return response.html(_page("login.html").replace("{{ERROR}}", error), status=401, headers=HEADERS)
        reply = response.redirect("/agent/")
        reply.add_cookie(
            COOKIE,
            session_cookie(name),
            httponly=True,
            samesite="Strict",
            path="/agent",
            max_age=SESSION_SECONDS,
            secure=False,  # served over http on loopback; behind TLS the proxy adds it
        )
        return reply

    @app.post("/agent/logout")
    async def logout(request: Request):
        reply = response.redirect("/agent/login")
        reply.delete_cookie(COOKIE, path="/agent")
        return reply

    @app.get("/agent/")
    async def inbox(request: Request):
        agent = signed_in(request)
        if agent is None:
            return refused(request)
        return response.html(_page("inbox.html"), headers=HEADERS)

    @app.get("/agent/static/<name>")
    async def static(request: Request, name: str):
        if name not in STATIC_FILES:
            return response.text("not found", status=404)
        return await response.file(STATIC / name, mime_type=STATIC_FILES[name], headers=HEADERS)

    @app.get("/agent/api/me")
    async def me(request: Request):
        agent = signed_in(request)
        return refused(request) if agent is None else response.json({"agent": agent}, headers=HEADERS)

    @app.get("/agent/api/queue")
    async def queue(request: Request):
        if signed_in(request) is None:
            return refused(request)
        return response.json(await _in_thread(_queue, settings), headers=HEADERS)

    @app.get("/agent/api/conversations/<sender>")
    async def conversation(request: Request, sender: str):
        if signed_in(request) is None:
            return refused(request)
        return await _answer(_conversation, settings, sender)

    @app.post("/agent/api/conversations/<sender>/<what>")
    async def act(request: Request, sender: str, what: str):
        agent = signed_in(request)
        if agent is None:
            return refused(request)
        if request.content_type.split(";")[0].strip() != "application/json":
            return response.json({"error": "send JSON"}, status=415, headers=HEADERS)
        body = request.json if isinstance(request.json, dict) else {}
        if what == "claim":
            return await _answer(lambda: _act(handoffs.claim, sender, agent))
        if what == "release":
            return await _answer(lambda: _act(handoffs.release, sender, agent))
        if what == "reply":
            text = body.get("text")
            if not isinstance(text, str):
                return response.json({"error": "text is required"}, status=400, headers=HEADERS)
            store = handoffs.store_for(settings)
            return await _answer(lambda: {"event": handoffs.reply(settings, store, sender, agent, text)})
        if what == "handback":
            store = handoffs.store_for(settings)
            return await _answer(lambda: {"said": handoffs.hand_back(settings, store, sender, agent)})
        return response.json({"error": f"no action {what!r}"}, status=404, headers=HEADERS)

    @app.get("/agent/dashboard")
    async def dashboard(request: Request):
        if signed_in(request) is None:
            return refused(request)
        since_text = request.args.get("since", "30d")
        try:
            since = analytics.parse_since(since_text)
        except ValueError as error:
            return response.text(str(error), status=400)
        numbers, found = await _in_thread(_report, since)
        title = current_brand().name.capitalize()
        page = render_dashboard(
            numbers, found, title, f"since {since_text}", urlencode({"since": since_text})
        )
        return response.html(page, headers=HEADERS)

    @app.get("/agent/gaps.csv")
    async def gaps_csv(request: Request):
        if signed_in(request) is None:
            return refused(request)
        try:
            since = analytics.parse_since(request.args.get("since", "30d"))
        except ValueError as error:
            return response.text(str(error), status=400)
        _, found = await _in_thread(_report, since)
        headers = {**HEADERS, "Content-Disposition": 'attachment; filename="knowledge-gaps.csv"'}
        return response.text(
            analytics.gaps_csv(found), content_type="text/csv; charset=utf-8", headers=headers
        )


async def _answer(function, *args):
    try:
        return response.json(await _in_thread(function, *args), headers=HEADERS)
    except handoffs.ConsoleError as error:
        return response.json({"error": str(error)}, status=error.status, headers=HEADERS)


def _act(function, sender: str, agent: str) -> dict:
    store = handoffs.store_for(get_settings())
    function(store, sender, agent)
    return {"ok": True, "held_by": handoffs.holder(store, sender)}


def _last_message(settings, sender: str) -> str:
    try:
        return evidence.last_customer_message(handoffs.tracker(settings, sender).get("events") or [])
    except (handoffs.ConsoleError, OSError):
        return ""


def _queue(settings) -> list[dict]:
    store = handoffs.store_for(settings)
    now = time.time()
    waiting = handoffs.queue(store)
    with ThreadPoolExecutor(max_workers=8) as pool:  # one tracker each, read side by side
        last = list(pool.map(lambda w: _last_message(settings, w.sender), waiting))
    rows = []
    for entry, message in zip(waiting, last, strict=True):
        row = entry.to_dict(now)
        row["reason_text"] = evidence.REASONS.get(entry.reason, entry.reason)
        row["last_message"] = message
        rows.append(row)
    return rows


def _report(since: float):
    """The dashboard's figures and gaps, with the knowledge base this server owns."""
    from knowledge.base import knowledge_base
    from knowledge.config import KnowledgeSettings

    kb = knowledge_base()

    def embed(texts: list[str]):
        return kb.embeddings.embed_documents(texts)

    def closest(text: str):
        hits = kb.search(text, k=1, mode="dense")
        return (hits[0].metadata.get("source"), hits[0].score) if hits else None

    documents = analytics.document_names(KnowledgeSettings().sources)
    return analytics.report(get_settings().events_db_url, documents, embed, closest, since)


def _conversation(settings, sender: str) -> dict:
    store = handoffs.store_for(settings)
    state = handoffs.tracker(settings, sender)
    pack = evidence.evidence(state).to_dict()
    pack["sender"] = sender
    pack["held_by"] = handoffs.holder(store, sender)
    pack["waiting"] = store.hexists(handoffs.HANDOFF_KEY, sender)
    pack["paused"] = bool(state.get("paused"))
    return pack
