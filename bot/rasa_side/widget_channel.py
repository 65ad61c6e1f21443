"""The web widget's socket.io channel: Rasa's own, with structured messages kept whole.

Runs inside the Rasa server (Python 3.10, rasa 3.6); credentials.yml names it instead of
the stock ``socketio`` channel, with the same settings and the same name, so the URL
(``/socket.io``) and the session protocol (``session_request`` / ``session_confirm`` /
``user_uttered`` / ``bot_uttered``) do not change. Two things differ:

- Rasa 3.6 sends a custom payload as ``emit(event, **payload)``, which fails for any
  payload (the keys become keyword arguments of ``emit``). Here it arrives as
  ``{"custom": {...}}``: the route, citations and handoff flag the widget shows.
- A text is sent as one message; Rasa splits it at blank lines, which would separate a
  knowledge answer from the citations that follow it.

Import nothing from the rest of ``bot/``: that code runs on the other venv.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint


class WidgetOutput(SocketIOOutput):
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"text": text.strip()})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        quick_replies = [
            {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
        ]
        await self._send_message(recipient_id, {"text": text.strip(), "quick_replies": quick_replies})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class WidgetSocketIO(SocketIOInput):
    """Rasa's socket.io input channel, answering through :class:`WidgetOutput`."""

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()  # None, with Rasa's warning
        return WidgetOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def answer_through_widget_output(message: UserMessage) -> None:
            message.output_channel = WidgetOutput(self.sio, self.bot_message_evt)
            await on_new_message(message)

        return super().blueprint(answer_through_widget_output)
