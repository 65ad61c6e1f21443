"""The action server: rasa-sdk's app plus the knowledge base's endpoints.

    python -m actions.server --port 5055

The action server owns the local knowledge store (Qdrant local mode allows one process),
so refreshing while the assistant runs goes through it:

- ``POST /kb/refresh`` (``{"rebuild": false}``) syncs the store with the brand's sources/
- ``GET /kb/status`` and ``GET /kb/search?q=...&k=5&mode=hybrid``
- ``GET /health/knowledge``: whether the knowledge store answers (503 when a Qdrant server is
  down; the knowledge answers then get Rasa's "having trouble" reply, flows go on)

They need ``Authorization: Bearer <token>`` (the stack's API token, $TANDEM_HOME/rasa-token).
``/webhook``, ``/actions`` and ``/nlg`` are Rasa's alone: they need the internal token
($TANDEM_HOME/actions-token) that endpoints.yml sends as ``?token=``.

``POST /nlg`` renders Rasa's responses (Rasa's NLG endpoint protocol; actions/nlg.py) and
rephrases the ones marked for it in the brand's voice (adapters/serve.py).

It serves the support team's console (``/agent/``: the agents' inbox and the dashboard,
behind the agent token; actions/console_routes.py).

It also serves the web widget's static files (``/widget/tandem-widget.js`` and what it
loads) and the brand's demo site (``/demo/``: the pages of its site/ folder), which embeds
the widget.

Its actions are this package's and, when the brand has one, those of its own actions.py.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hmac
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request

from actions.console_routes import add_console_routes
from bot.core.rephrased import REPHRASED, text_digest
from bot.core.settings import BOT_DIR, current_brand, get_settings

logger = logging.getLogger(__name__)


def _bearer(request: Request) -> str:
    return (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()


def _authorised(request: Request) -> bool:
    given = _bearer(request)
    return bool(given) and hmac.compare_digest(given, get_settings().rasa_token)


# What only the Rasa server may call: it sends the internal token as `?token=`
# (endpoints.yml). rasa-sdk checks no token of its own.
INTERNAL_ROUTES = ("/webhook", "/nlg", "/actions")


def require_internal_token(app: Sanic) -> None:
    expected = get_settings().actions_token

    @app.on_request
    async def check_token(request: Request):
        if request.path.rstrip("/") not in INTERNAL_ROUTES:
            return None
        given = request.args.get("token") or _bearer(request)
        if given and hmac.compare_digest(given, expected):
            return None
        logger.warning("refused %s %s without the internal token", request.method, request.path)
        return response.json(
            {"error": "this endpoint is internal: the stack's token is required"}, status=401
        )


def add_knowledge_routes(app: Sanic) -> None:
    from knowledge.base import knowledge_base
    from knowledge.outage import StoreUnavailable

    async def in_thread(function, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, lambda: function(*args, **kwargs))

    @app.exception(StoreUnavailable)
    async def store_unavailable(request: Request, error: StoreUnavailable):
        """A Qdrant server that does not answer: 503, which Rasa takes as a failed action (the
        customer gets the "having trouble" reply and the turn is not saved)."""
        logger.warning("%s %s: %s", request.method, request.path, error)
        return response.json(
            {"error": "the knowledge store is unavailable; try again in a moment"}, status=503
        )

    @app.get("/health/knowledge")
    async def knowledge_health(request: Request):
        """200 when the knowledge store answers a search, else 503 (a monitor's question:
        scripted flows go on meanwhile, so Rasa's own health does not depend on it)."""
        try:
            kb = await in_thread(knowledge_base)
            await in_thread(kb.search, "health", 1)
        except StoreUnavailable:
            return response.json({"knowledge_store": "unavailable"}, status=503)
        except Exception:  # not built, not configured: the log says why
            logger.warning("the knowledge store is not ready", exc_info=True)
            return response.json({"knowledge_store": "not ready"}, status=503)
        return response.json({"knowledge_store": "ok"})

    @app.post("/kb/refresh")
    async def kb_refresh(request: Request):
        if not _authorised(request):
            return response.json({"error": "a valid token is required"}, status=401)
        rebuild = bool((request.json or {}).get("rebuild")) if request.body else False
        kb = await in_thread(knowledge_base)
        report = await in_thread(kb.refresh, None, rebuild)
        result = report.to_dict()
        result["cached_answers_removed"] = await in_thread(_invalidate_answers, report.changed_sources)
        return response.json(result)

    @app.get("/kb/status")
    async def kb_status(request: Request):
        if not _authorised(request):
            return response.json({"error": "a valid token is required"}, status=401)
        kb = await in_thread(knowledge_base)
        return response.json(await in_thread(kb.status))

    @app.get("/kb/search")
    async def kb_search(request: Request):
        if not _authorised(request):
            return response.json({"error": "a valid token is required"}, status=401)
        query = request.args.get("q", "")
        k = int(request.args.get("k", 5))
        mode = request.args.get("mode", "hybrid")
        if mode not in ("hybrid", "dense", "sparse"):
            return response.json({"error": "mode is hybrid, dense or sparse"}, status=400)
        kb = await in_thread(knowledge_base)
        hits = await in_thread(kb.search, query, k, mode)
        return response.json([dataclasses.asdict(hit) for hit in hits])


def _invalidate_answers(sources: list[str]) -> int:
    """Drop cached answers citing a changed document (their keys already cannot match new
    passages; this frees them at once)."""
    from actions.services import redis_client
    from knowledge.answer_cache import AnswerCache

    try:
        return AnswerCache(redis_client()).invalidate(sources)
    except Exception:
        logger.warning("could not clear cached answers of %s", sources, exc_info=True)
        return 0


WIDGET_DIR = BOT_DIR / "widget"
WIDGET_FILES = {  # name -> (file, content type); nothing else under /widget is served
    "tandem-widget.js": (WIDGET_DIR / "tandem-widget.js", "text/javascript"),
    "tandem-widget.css": (WIDGET_DIR / "tandem-widget.css", "text/css"),
    "socket.io.min.js": (
        WIDGET_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js",
        "text/javascript",
    ),
}
SITE_TYPES = {".html": "text/html", ".css": "text/css"}  # what /demo/ serves from the brand's site/


def public_rasa_url() -> str:
    """Where browsers reach the Rasa server: $TANDEM_PUBLIC_RASA_URL behind a proxy."""
    return os.environ.get("TANDEM_PUBLIC_RASA_URL") or get_settings().rasa_url


def add_widget_routes(app: Sanic) -> None:
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

    @app.get("/widget/<name>")
    async def widget_file(request: Request, name: str):
        if name not in WIDGET_FILES:
            return response.text("not found", status=404)
        path, content_type = WIDGET_FILES[name]
        if not path.exists():
            return response.text(
                f"{path.name} is missing: run `make setup` (it runs `npm ci` in bot/widget)", status=503
            )
        return await response.file(path, mime_type=content_type, headers=headers)

    def page(name: str):
        path = current_brand().site_dir / name
        if "/" in name or name.startswith(".") or path.suffix not in SITE_TYPES or not path.is_file():
            return response.text("not found", status=404)
        text = path.read_text()
        text = text.replace("{{RASA_URL}}", public_rasa_url()).replace("{{WIDGET_URL}}", "/widget")
        return response.text(text, content_type=f"{SITE_TYPES[path.suffix]}; charset=utf-8", headers=headers)

    @app.get("/demo/")
    async def demo_index(request: Request):
        return page("index.html")

    @app.get("/demo/<name>")
    async def demo_page(request: Request, name: str):
        return page(name)


def add_nlg_route(app: Sanic) -> None:
    from actions import nlg

    @app.get("/health/voice")
    async def voice_health(request: Request):
        """Whether the voice model is loaded yet (it loads in the background at start-up),
        its decoder, and what it writes."""
        from adapters.serve import load_voice_settings, loaded_voice_model

        voice = loaded_voice_model()
        settings = voice.settings if voice is not None else load_voice_settings()
        return response.json(
            {
                "loaded": voice is not None,
                "decoder": voice.decoder.name if voice is not None else None,
                "knowledge_answers": bool((settings.get("knowledge_answers") or {}).get("enabled")),
                "rephrase": bool((settings.get("rephrase") or {}).get("enabled")),
                # the start-up warm-up is over: the marked responses are written (or sent as
                # written), and nothing generates in the background any more
                "warm": WARM.is_set(),
            }
        )

    @app.post("/nlg")
    async def render_response(request: Request):
        """Rasa's response, with the brand's wording of a marked response when the voice model
        has written it (`warm_rephrasings`): no customer waits for a generation here."""
        message = nlg.render(request.json or {}, REWORDED)
        return response.json(message)


def _rephrase(template: str) -> str:
    """The template (slots as placeholders) in the brand's voice, or as written (no model
    yet, rephrasing off, or no rephrasing that passes the checks: adapters/serve.py)."""
    from adapters.serve import loaded_voice_model

    voice = loaded_voice_model()
    options = (voice.settings.get("rephrase") or {}) if voice is not None else {}
    if voice is None or not options.get("enabled"):
        return template
    try:
        from actions.services import redis_client
        from knowledge.answer import embedding_scorer
        from knowledge.base import knowledge_base

        scorer = embedding_scorer(knowledge_base().embeddings)
        examples = options.get("example_values") or {}
        similarity = lambda a, b: scorer(a, [b])[0]  # noqa: E731
        done = voice.rephrase_template(template, examples, similarity, redis_client())
        if done.problems and not done.cached:
            logger.info("%r is sent as written: %s", template[:60], "; ".join(done.problems))
        return done.text
    except Exception:
        logger.exception("rephrasing failed; sending the template as written")
        return template


def brand_actions(path: Path):
    """The brand's own actions module (its actions.py), imported from its folder, or None."""
    if not path.is_file():
        return None
    name = f"tandem_brand_actions_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_app(actions_package: str = "actions") -> Sanic:
    executor = ActionExecutor()
    executor.register_package(actions_package)
    own = brand_actions(current_brand().actions_file)
    if own is not None:
        executor.register_package(own)
        logger.info("the brand's own actions: %s", current_brand().actions_file)
    app = create_app(executor, cors_origins=None)
    require_internal_token(app)
    add_knowledge_routes(app)
    add_widget_routes(app)
    add_nlg_route(app)
    add_console_routes(app)
    return app


def _warm_up() -> None:
    """Open the knowledge store, load the embedding model, embed the NLU examples and fit
    the gate's embedding classifier (bot/gate/neighbours.py; cached on disk after the first
    start), and load the voice model now, not on the first question. Until the voice model
    is loaded, answers are extractive and responses are sent as written."""
    from actions.knowledge_answer import embedding_opinion
    from knowledge.base import knowledge_base
    from knowledge.outage import StoreUnavailable

    try:
        knowledge_base().search("warm up", k=1)
        logger.info("knowledge base ready")
    except StoreUnavailable as error:  # a Qdrant server down: tried again on each question
        logger.warning("%s: questions get the 'having trouble' reply until it answers", error)
    except Exception:
        logger.exception("knowledge base not ready: knowledge answers will fail until it is")
    try:
        embedding_opinion("warm up")  # the sentence model, with or without the store
        logger.info("the gate's embedding signals ready")
    except Exception:
        logger.exception("the gate's embedding signals are not ready: it decides without them")
    try:
        from adapters.serve import load_voice_settings, voice_model

        settings = load_voice_settings()
        if (settings.get("rephrase") or {}).get("enabled") or (settings.get("knowledge_answers") or {}).get(
            "enabled"
        ):
            voice_model()
            logger.info("voice model ready")
            if (settings.get("rephrase") or {}).get("enabled"):
                warm_rephrasings()
        if not (settings.get("rephrase") or {}).get("enabled"):
            publish_rephrasings({})  # none from an earlier run with it on
    except Exception:
        logger.exception("voice model not loaded: responses are sent as written, answers are extractive")
    finally:
        WARM.set()


# the marked responses' templates as they are to be sent (the brand's wording, or the template
# itself), by template: written when the voice model loads
REWORDED: dict[str, str] = {}
WARM = threading.Event()  # set when the start-up warm-up is over, whatever came of it


def warm_rephrasings() -> int:
    """Rephrase now every response template marked for it, with its slots as placeholders
    (adapters/serve.py ``rephrase_template``), so that no customer waits for a generation:
    a marked response is then its template's wording, filled as Rasa fills it, here
    (`REWORDED`) and in the Rasa process (published in Redis). Returns how many come out
    reworded (one that fails a check, or says the same, is sent as written)."""
    from actions import nlg

    marked = [
        variation["text"]
        for variations in nlg.responses().values()
        for variation in variations
        if variation.get("text") and (variation.get("metadata") or {}).get("rephrase")
    ]
    said = {text: _rephrase(text) for text in dict.fromkeys(marked)}
    reworded = sum(rewrite != text for text, rewrite in said.items())
    REWORDED.clear()
    REWORDED.update(said)
    publish_rephrasings(said)
    logger.info(
        "rephrasings ready: %d marked responses, %d of them reworded (the others sent as written)",
        len(said),
        reworded,
    )
    return reworded


def publish_rephrasings(said: dict[str, str]) -> None:
    """The marked responses' templates as they are to be sent (rephrased, or as written when
    the rephrasing failed a check), by the digest of the template, for the Rasa process to
    fill and send instead of calling /nlg (bot/rasa_side/nlg.py); empty `said`: none
    (rephrasing is off)."""
    from actions.services import redis_client

    key = REPHRASED + current_brand().root.name
    try:
        store = redis_client()
        with store.pipeline() as pipe:
            pipe.delete(key)
            if said:
                pipe.hset(key, mapping={text_digest(t): v for t, v in said.items()})
            pipe.execute()
    except Exception:  # Rasa then asks the action server for each one, as before
        logger.warning("could not publish the rephrased responses", exc_info=True)


def _sweep_forever(interval: float) -> None:
    """Enforce the brand's retention every `interval` seconds (bot/stack/retention.py):
    old handoff entries and rotated logs go, and Redis' file is rewritten."""
    import time

    from bot.stack import retention

    while True:
        time.sleep(interval)
        try:
            settings = get_settings()
            report = retention.sweep(settings, settings.retention_days)
            if report.removed_anything:
                logger.info("retention sweep: %s", report.to_dict())
        except Exception:
            logger.warning("the retention sweep failed; it runs again in %.0f s", interval, exc_info=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=get_settings().actions_port)
    parser.add_argument("--actions", default="actions", help="package of the custom actions")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-8s %(name)s - %(message)s")
    app = build_app(args.actions)
    threading.Thread(target=_warm_up, name="kb-warm-up", daemon=True).start()
    sweep_every = float(os.environ.get("TANDEM_SWEEP_SECONDS") or 3600)
    threading.Thread(target=_sweep_forever, args=(sweep_every,), name="retention", daemon=True).start()
    host = os.environ.get("SANIC_HOST", get_settings().host)
    logger.info("action server on http://%s:%s", host, args.port)
    app.run(host=host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
