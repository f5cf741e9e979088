"""Tools and the tool-calling loop.

One turn: send the conversation and the tool schemas; if the model asks for
tools, run each (arguments validated by the tool's pydantic model) and send
the results back; repeat until the model answers in words or a limit is hit.
A tool's failure, bad arguments or an unknown tool name go back to the model
as the tool's result, never as a crash. Provider failures (HTTP errors,
timeouts, answers that are not chat completions) raise a 502 DomainError and
leave the caller's conversation as it was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import openai
import pydantic

from shared.platform import errors

C = TypeVar("C")
logger = logging.getLogger("bookwell.ai")


@dataclass(frozen=True)
class Tool(Generic[C]):
    name: str
    description: str
    args: type[pydantic.BaseModel]
    run: Callable[[C, Any], dict]

    def schema(self) -> dict:
        parameters = self.args.model_json_schema()
        parameters.pop("title", None)
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": parameters}}


class Toolset(Generic[C]):
    def __init__(self, tools: list[Tool[C]]):
        self.tools = {t.name: t for t in tools}

    def schemas(self) -> list[dict]:
        return [t.schema() for t in self.tools.values()]

    def parse(self, name: str, arguments: str | dict) -> tuple[Tool[C], pydantic.BaseModel]:
        """The tool and its validated arguments; DomainError 404/422 otherwise."""
        tool = self.tools.get(name)
        if tool is None:
            raise errors.not_found("unknown_tool", f"There is no tool called {name!r}")
        try:
            data = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            raise errors.unprocessable("invalid_arguments", "The arguments are not valid JSON") from None
        try:
            return tool, tool.args.model_validate(data if data is not None else {})
        except pydantic.ValidationError as exc:
            raise errors.unprocessable(
                "invalid_arguments", "The arguments do not fit the tool",
                [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                 for e in exc.errors(include_url=False, include_context=False, include_input=False)],
            ) from None

    def call(self, name: str, arguments: str | dict, context: C) -> tuple[dict, bool]:
        """Run a tool for the model: (result, ok). Every failure becomes a result."""
        try:
            tool, args = self.parse(name, arguments)
            return tool.run(context, args), True
        except errors.DomainError as exc:
            return exc.body(), False
        except Exception:
            logger.exception("tool %s failed", name)
            return {"error": {"code": "tool_failed", "message": "The tool failed; try something else",
                              "details": None}}, False


@dataclass(frozen=True)
class Limits:
    max_steps: int = 6
    max_tokens: int = 8000
    timeout_seconds: float = 30.0


@dataclass
class TurnResult:
    reply: str
    messages: list[dict]          # what this turn adds: assistant and tool messages
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    stopped: str = "answered"     # answered | max_steps | max_tokens
    tool_calls: list[dict] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _provider_failed(exc: Exception) -> errors.DomainError:
    if isinstance(exc, openai.APITimeoutError):
        message = "The AI provider did not answer in time"
    elif isinstance(exc, openai.APIStatusError):
        message = f"The AI provider answered {exc.status_code}"
    else:
        message = "The AI provider's answer could not be used"
    return errors.bad_gateway("ai_provider_error", message, {"provider_error": type(exc).__name__})


def run_turn(client: openai.OpenAI, model: str, conversation: list[dict], toolset: Toolset[C], context: C,
             limits: Limits = Limits(), *, user: str | None = None,
             clock: Callable[[], float] = time.monotonic) -> TurnResult:
    """One user turn over `conversation` (system + history + the new user message)."""
    messages = list(conversation)
    result = TurnResult(reply="", messages=[])
    deadline = clock() + limits.timeout_seconds
    schemas = toolset.schemas()
    for step in range(limits.max_steps):
        remaining = deadline - clock()
        if remaining <= 0:
            raise _provider_failed(openai.APITimeoutError(request=None))  # type: ignore[arg-type]
        try:
            response = client.chat.completions.create(
                model=model, messages=messages, tools=schemas or openai.NOT_GIVEN,
                user=user or openai.NOT_GIVEN, timeout=remaining)
            choice = response.choices[0]
            message = choice.message
        except (openai.APIError, ValueError, IndexError, AttributeError, TypeError) as exc:
            raise _provider_failed(exc) from exc
        result.steps = step + 1
        if response.usage:
            result.prompt_tokens += response.usage.prompt_tokens or 0
            result.completion_tokens += response.usage.completion_tokens or 0

        calls = message.tool_calls or []
        assistant: dict[str, Any] = {"role": "assistant", "content": message.content}
        if calls:
            assistant["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in calls]
        messages.append(assistant)
        result.messages.append(assistant)
        if not calls:
            result.reply = message.content or ""
            return result

        for c in calls:
            output, ok = toolset.call(c.function.name, c.function.arguments, context)
            tool_message = {"role": "tool", "tool_call_id": c.id, "content": json.dumps(output, default=str)}
            messages.append(tool_message)
            result.messages.append(tool_message)
            result.tool_calls.append({"name": c.function.name, "ok": ok})
        if result.total_tokens >= limits.max_tokens:
            result.stopped = "max_tokens"
            result.reply = "I stopped here: this turn used up its token allowance. Ask me to carry on."
            return result
    result.stopped = "max_steps"
    result.reply = f"I stopped after {limits.max_steps} steps without finishing. Ask me to carry on."
    return result
