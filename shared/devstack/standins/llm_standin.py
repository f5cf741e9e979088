"""A local LLM for dev mode and tests: OpenAI's chat completions API with
tool calls, answered from a script (or a fixed default), all in memory.

The product talks to it with the real openai SDK; only the base URL changes:

    client = openai.OpenAI(base_url="http://127.0.0.1:54321/llm/v1", api_key=key)

Served (paths relative to where the app is mounted):

    POST /v1/chat/completions   OpenAI's request and response shapes, tool calls included;
                                stream=true answers with `chat.completion.chunk` SSE events
                                ending in `data: [DONE]` (stream_options.include_usage honoured)
    GET  /v1/models, /v1/models/{id}

Like OpenAI: `Authorization: Bearer <key>` is required when an api_key is
set (401 otherwise); only the stand-in's `model` exists (404 model_not_found
for any other); unknown parameters are refused; the conversation is checked
as OpenAI checks it (every assistant tool call answered by a role=tool
message with its tool_call_id, no stray tool messages); errors have OpenAI's
shape `{"error": {"message", "type", "param", "code"}}`, so the SDK raises
its own exception classes.

What the "model" answers is scripted from Python:

    llm.script(ToolCalls([("suggest_venues", {"city": "Leeds"})]), Reply("Booked!"))
    llm.script(Reply("Hi Ann"), conversation=str(wizard_session_id))

Each HTTP request (SDK retries included) consumes one turn, first in first
out. Conversations are keyed by the request's `user` field (what
`shared.providers.ai.run_turn(..., user=...)` sends): a request whose `user` has turns
queued under `conversation=that value` takes the next of those; otherwise it
takes the next unkeyed turn; otherwise the `improvise` hook, when given,
may answer (dev mode gives it the event wizard's demo agent,
shared/devstack/wizard_demo.py); otherwise it gets the default answer:

- the last message is a tool result -> one sentence summarising it;
- anything else -> `DEFAULT_REPLY` (no tool calls).

Turns: `Reply`, `ToolCalls`, `RawArguments`, `Fail`, `Delay`, `Garbage`.
`latency` (seconds) is added before every answer, for benchmarks.

Tokens are counted deterministically with `count_tokens` (ceil(chars / 4)):
prompt = the compact JSON of `messages` plus that of `tools` (when sent);
completion = the reply text plus each tool call's name and arguments.
A text reply longer than max_completion_tokens / max_tokens is cut to fit
and finishes with "length".
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import math
import re
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.devstack.standins.plumbing import ApiError, json_response

logger = logging.getLogger("bookwell.standins.llm")

DEFAULT_MODEL = "bookwell-local"
DEFAULT_REPLY = ("Hello! I'm Bookwell's local model stand-in, not a real language model. "
                 "I can call tools when a test or dev script asks me to; otherwise I answer with this message.")
SYSTEM_FINGERPRINT = "fp_bookwell_local"

_ALPHABET = string.ascii_letters + string.digits
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_STREAM_PIECE = re.compile(r"\S+\s*|\s+")
_ARGUMENT_PIECE = 12  # characters of tool-call arguments per streamed chunk

# Parameters the real endpoint accepts (openai SDK's completion_create_params);
# the stand-in acts on a few and ignores the rest. Anything else is refused.
_PARAMS = frozenset("""
    messages model audio frequency_penalty function_call functions logit_bias logprobs max_completion_tokens
    max_tokens metadata modalities moderation n parallel_tool_calls prediction presence_penalty prompt_cache_key
    prompt_cache_options prompt_cache_retention reasoning_effort response_format safety_identifier seed
    service_tier stop store stream stream_options temperature tool_choice tools top_logprobs top_p user
    verbosity web_search_options
""".split())


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def count_tokens(text: str) -> int:
    """The stand-in's token count for a piece of text: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ----------------------------------------------------------------------- turns

@dataclass(frozen=True)
class Reply:
    """An assistant message in words. finish_reason "length" simulates a cut-off answer."""

    text: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class RawArguments:
    """One tool call whose `arguments` string is sent exactly as given (e.g. malformed JSON).

    As a turn it is a message with this single call; it may also appear
    inside `ToolCalls([...])` beside well-formed calls.
    """

    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCalls:
    """One assistant message asking for one or more tool calls (finish_reason "tool_calls").

    `calls`: (name, arguments) pairs, arguments a dict (sent as JSON) or a
    str (sent as is), or RawArguments. `content` is optional text beside them.
    """

    calls: Sequence[Union[tuple[str, Any], RawArguments]]
    content: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.calls, (str, bytes)) or not self.calls:
            raise TypeError("ToolCalls needs a non-empty list of (name, arguments) pairs")
        for call in self.calls:
            if isinstance(call, RawArguments):
                continue
            if not (isinstance(call, tuple) and len(call) == 2 and isinstance(call[0], str)):
                raise TypeError(f"ToolCalls: expected (name, arguments) or RawArguments, got {call!r}")
        object.__setattr__(self, "calls", tuple(self.calls))

    def encoded(self) -> list[tuple[str, str]]:
        out = []
        for call in self.calls:
            if isinstance(call, RawArguments):
                out.append((call.name, call.arguments))
            else:
                name, arguments = call
                out.append((name, arguments if isinstance(arguments, str) else json.dumps(arguments)))
        return out


@dataclass(frozen=True)
class Fail:
    """An HTTP error. `body`: None -> OpenAI's error shape for `status`; a dict -> sent as JSON;
    str/bytes -> sent as is (text/plain)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    """Sleep `seconds`, then answer with `then` (None: the default answer). For client timeouts."""

    seconds: float
    then: "Turn | None" = None


@dataclass(frozen=True)
class Garbage:
    """HTTP 200 whose body is not a chat completion. What the openai SDK (3.x, default
    non-strict client) then does, by `kind`:

    - "truncated" (default): `application/json` cut off mid-object -> the SDK raises
      `json.JSONDecodeError` (a ValueError, not an openai error).
    - "html": an HTML error page as `text/html` -> the SDK does not raise: create()
      returns the body as a `str`, so `.choices` raises AttributeError (strict clients
      raise APIResponseValidationError).
    - "schema": valid JSON that is not a chat completion -> the SDK does not raise: it
      returns a hollow ChatCompletion whose `.choices` is None, so `choices[0]` raises
      TypeError (strict clients raise APIResponseValidationError).

    For stream=true every kind is one SSE event whose data is not JSON; iterating
    the stream raises `json.JSONDecodeError`.
    `body` / `content_type` override what is sent.
    """

    kind: str = "truncated"
    body: str | bytes | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("truncated", "html", "schema"):
            raise ValueError(f"Garbage kind must be 'truncated', 'html' or 'schema', not {self.kind!r}")


Turn = Union[Reply, ToolCalls, RawArguments, Fail, Delay, Garbage]
_TURN_TYPES = (Reply, ToolCalls, RawArguments, Fail, Delay, Garbage)


# ---------------------------------------------------------------------- errors

class LlmError(ApiError):
    """A refusal in OpenAI's shape."""

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _error_for_status(status: int) -> LlmError:
    if status == 401:
        return LlmError(401, "Incorrect API key provided (simulated by the LLM stand-in).", code="invalid_api_key")
    if status == 429:
        return LlmError(429, "Rate limit reached for requests (simulated by the LLM stand-in).",
                        type="requests", code="rate_limit_exceeded")
    if status == 503:
        return LlmError(503, "The engine is currently overloaded, please try again later.", type="server_error")
    if status >= 500:
        return LlmError(status, "The server had an error while processing your request. Sorry about that! "
                                "(simulated by the LLM stand-in)", type="server_error")
    return LlmError(status, f"Request refused with {status} (simulated by the LLM stand-in).")


# ---------------------------------------------------------------- the stand-in

@dataclass
class _Answer:
    content: str | None
    tool_calls: list[tuple[str, str]]  # (name, arguments string)
    finish_reason: str


class LlmStandin:
    """An in-memory OpenAI chat completions endpoint. One instance per app; thread-safe.

    Scripting: `script(*turns, conversation=None)`, `remaining(conversation=None)`.
    Inspection (deep copies): `requests` (every authenticated JSON request body to
    /v1/chat/completions, in arrival order), `last_request`, `requests_for(conversation)`.
    `reset()` forgets requests and scripts. `latency` may be changed at any time.
    """

    def __init__(self, api_key: str | None = None, model: str = DEFAULT_MODEL, *, latency: float = 0.0,
                 improvise: Callable[[dict], "Turn | None"] | None = None):
        self.api_key = api_key
        self.model = model
        self.latency = latency
        self.improvise = improvise  # the unscripted answer to a request body, or None for the default
        self.created = int(time.time())
        self._lock = threading.RLock()
        self._queue: deque[Turn] = deque()
        self._keyed: dict[str, deque[Turn]] = {}
        self._requests: list[dict] = []
        self._routes = Map([
            Rule("/v1/chat/completions", endpoint="chat", methods=["POST"]),
            Rule("/v1/models", endpoint="models", methods=["GET"]),
            Rule("/v1/models/<path:model_id>", endpoint="model", methods=["GET"]),
        ], strict_slashes=False)

    # -------------------------------------------------------------- scripting

    def script(self, *turns: Turn, conversation: str | None = None) -> None:
        """Queue turns, one per request. conversation: only for requests whose `user` equals it."""
        for turn in turns:
            _check_turn(turn)
        with self._lock:
            if conversation is None:
                self._queue.extend(turns)
            else:
                self._keyed.setdefault(str(conversation), deque()).extend(turns)

    def remaining(self, conversation: str | None = None) -> int:
        """How many turns are still queued (unkeyed, or for one conversation)."""
        with self._lock:
            if conversation is None:
                return len(self._queue)
            return len(self._keyed.get(str(conversation), ()))

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._keyed.clear()
            self._requests.clear()

    def _next_turn(self, key: str | None) -> Turn | None:
        with self._lock:
            if key is not None and self._keyed.get(key):
                return self._keyed[key].popleft()
            if self._queue:
                return self._queue.popleft()
            return None

    # ------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def last_request(self) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._requests[-1]) if self._requests else None

    def requests_for(self, conversation: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy([r for r in self._requests if r.get("user") == conversation])

    # ------------------------------------------------------------------- WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)

    def wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._routes.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed):
            return _json(404, LlmError(404, f"Invalid URL ({request.method} {request.path})").body())
        except HTTPException as exc:
            return exc.get_response(request.environ)
        refusal = self._authenticate(request)
        if refusal is not None:
            return _json(refusal.status, refusal.body())
        try:
            return getattr(self, f"_api_{endpoint}")(request, **args)
        except LlmError as exc:
            return _json(exc.status, exc.body())
        except Exception:  # a stand-in bug: answer like OpenAI would, keep the traceback in the log
            logger.exception("LLM stand-in failed on %s %s", request.method, request.path)
            return _json(500, LlmError(500, "The LLM stand-in hit an internal error; see the log.",
                                       type="server_error").body())

    def _authenticate(self, request: Request) -> LlmError | None:
        if self.api_key is None:
            return None
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        if not token:
            return LlmError(401, "You didn't provide an API key. You need to provide your API key in an "
                                 "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        if not hmac.compare_digest(token.encode(), self.api_key.encode()):
            shown = f"{token[:3]}*****{token[-4:]}" if len(token) > 8 else "*****"
            return LlmError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        return None

    # -------------------------------------------------------------------- API

    def _model_object(self) -> dict:
        return {"id": self.model, "object": "model", "created": self.created, "owned_by": "bookwell"}

    def _api_models(self, request: Request) -> Response:
        return _json(200, {"object": "list", "data": [self._model_object()]})

    def _api_model(self, request: Request, model_id: str) -> Response:
        if model_id != self.model:
            raise _no_model(model_id)
        return _json(200, self._model_object())

    def _api_chat(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            raise LlmError(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                                "but what was sent was not valid JSON.)") from None
        if not isinstance(body, dict):
            raise LlmError(400, "The request body must be a JSON object.")
        with self._lock:
            self._requests.append(copy.deepcopy(body))
        _validate(body, self.model)

        stream = bool(body.get("stream"))
        key = body.get("user") if isinstance(body.get("user"), str) else None
        turn = self._next_turn(key)
        if turn is None and self.improvise is not None:
            turn = self.improvise(copy.deepcopy(body))
        delay = self.latency
        while isinstance(turn, Delay):
            delay += max(0.0, turn.seconds)
            turn = turn.then
        if delay > 0:
            time.sleep(delay)

        if isinstance(turn, Fail):
            return _failure(turn)
        if isinstance(turn, Garbage):
            return _garbage(turn, stream)
        answer = self._answer(turn, body)
        completion_id = new_id("chatcmpl-", 29)
        created = int(time.time())
        usage = _usage(body, answer)
        headers = {"x-request-id": new_id("req_", 32), "openai-model": self.model,
                   "openai-processing-ms": str(int(delay * 1000))}
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _chunks(completion_id, created, self.model, answer, usage if include_usage else None)
            response = Response(_sse(chunks), status=200, content_type="text/event-stream; charset=utf-8",
                                direct_passthrough=True)
            response.headers["Cache-Control"] = "no-cache"
        else:
            response = _json(200, _completion(completion_id, created, self.model, answer, usage))
        for name, value in headers.items():
            response.headers[name] = value
        return response

    def _answer(self, turn: Turn | None, body: dict) -> _Answer:
        if isinstance(turn, ToolCalls):
            answer = _Answer(turn.content, turn.encoded(), "tool_calls")
        elif isinstance(turn, RawArguments):
            answer = _Answer(None, [(turn.name, turn.arguments)], "tool_calls")
        elif isinstance(turn, Reply):
            answer = _Answer(turn.text, [], turn.finish_reason)
        else:
            answer = _Answer(_default_reply(body["messages"]), [], "stop")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit and not answer.tool_calls and answer.content and count_tokens(answer.content) > limit:
            answer.content = answer.content[:limit * 4]
            answer.finish_reason = "length"
        return answer


# ------------------------------------------------------------------ validation

def _check_turn(turn: Any) -> None:
    if not isinstance(turn, _TURN_TYPES):
        raise TypeError(f"Not a turn: {turn!r} (use Reply, ToolCalls, RawArguments, Fail, Delay or Garbage)")
    if isinstance(turn, Delay) and turn.then is not None:
        _check_turn(turn.then)


def _no_model(model: str) -> LlmError:
    return LlmError(404, f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found")


def _invalid(message: str, param: str | None = None, code: str | None = "invalid_value") -> LlmError:
    return LlmError(400, message, param=param, code=code)


def _missing(param: str) -> LlmError:
    return LlmError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _validate(body: dict, model: str) -> None:
    """Refuse what OpenAI refuses (the cases a tool-calling client can get wrong)."""
    for name in body:
        if name not in _PARAMS:
            raise LlmError(400, f"Unrecognized request argument supplied: {name}")
    if "model" not in body:
        raise _missing("model")
    if body["model"] != model:
        raise _no_model(str(body["model"]))
    if "messages" not in body:
        raise _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        raise _invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, "
                       "but got an empty array instead.", "messages", "empty_array")
    _validate_messages(messages)
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise _invalid(f"Invalid value for 'tools[{i}].type': expected 'function'.", f"tools[{i}].type")
            function = tool.get("function")
            if not isinstance(function, dict) or "name" not in function:
                raise _missing(f"tools[{i}].function.name")
            if not isinstance(function["name"], str) or not _TOOL_NAME.match(function["name"]):
                raise _invalid(f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                               "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                               f"tools[{i}].function.name", "invalid_value")
            if "parameters" in function and not isinstance(function["parameters"], dict):
                raise _invalid(f"Invalid type for 'tools[{i}].function.parameters': expected an object.",
                               f"tools[{i}].function.parameters", "invalid_type")
            names.add(function["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            raise _invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                           "specified.", "tool_choice", None)
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise _invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                               "tool_choice")
        elif isinstance(choice, dict) and choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
            if name not in names:
                raise _invalid(f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
                               "the 'tools' parameter.", "tool_choice", None)
        elif not (isinstance(choice, dict) and choice.get("type") in ("allowed_tools", "custom")):
            raise _invalid("Invalid value for 'tool_choice'.", "tool_choice")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise _invalid(f"Invalid '{name}': integer below minimum value. Expected a value >= 1.", name,
                           "integer_below_min_value")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise _invalid("Invalid 'temperature': expected a number between 0 and 2.", "temperature",
                       "decimal_out_of_range")
    if body.get("n") not in (None, 1):
        raise _invalid("The LLM stand-in answers with one choice only (n=1).", "n")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise _invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       "stream_options", None)
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise _invalid("Invalid type for 'user': expected a string.", "user", "invalid_type")


def _validate_messages(messages: list) -> None:
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that asked
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]", "invalid_type")
        role = message.get("role")
        if role is None:
            raise _missing(f"messages[{i}].role")
        if role not in _ROLES:
            raise _invalid(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                           "'function', 'tool', and 'developer'.", f"messages[{i}].role")
        if role != "tool" and pending:
            raise _unanswered(pending, i)
        if role in ("system", "developer", "user", "tool") and "content" not in message:
            raise _missing(f"messages[{i}].content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                raise _missing(f"messages[{i}].tool_call_id")
            if call_id not in pending:
                raise LlmError(400, "Invalid parameter: messages with role 'tool' must be a response to a "
                                    "preceeding message with 'tool_calls'.", param=f"messages.[{i}].role")
            del pending[call_id]
        elif role == "assistant":
            calls = message.get("tool_calls")
            if message.get("content") is None and not calls and not message.get("function_call"):
                raise _missing(f"messages[{i}].content")
            for j, call in enumerate(calls or []):
                if not isinstance(call, dict) or not call.get("id"):
                    raise _missing(f"messages[{i}].tool_calls[{j}].id")
                function = call.get("function") or {}
                if not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
                    raise _missing(f"messages[{i}].tool_calls[{j}].function")
                pending[call["id"]] = i
    if pending:
        raise _unanswered(pending, len(messages))


def _unanswered(pending: dict[str, int], index: int) -> LlmError:
    asked_at = min(pending.values())
    return LlmError(400, "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                         "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                         + ", ".join(pending), param=f"messages.[{asked_at}].role")


# ------------------------------------------------------------------- answering

def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content)


def _default_reply(messages: list[dict]) -> str:
    """The unscripted answer: summarise trailing tool results, else DEFAULT_REPLY."""
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(message)
    if not results:
        return DEFAULT_REPLY
    names = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call.get("id")] = (call.get("function") or {}).get("name") or "tool"
    parts = []
    for message in reversed(results):
        text = " ".join(_text_of(message.get("content")).split())
        if len(text) > 160:
            text = text[:157] + "..."
        parts.append(f"{names.get(message.get('tool_call_id'), 'tool')} returned {text or 'nothing'}")
    return "Done: " + "; ".join(parts) + "."


def _usage(body: dict, answer: _Answer) -> dict:
    prompt = count_tokens(_compact(body["messages"]))
    if body.get("tools"):
        prompt += count_tokens(_compact(body["tools"]))
    completion = count_tokens((answer.content or "") + "".join(name + args for name, args in answer.tool_calls))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _tool_call_ids(answer: _Answer) -> list[str]:
    return [new_id("call_", 24) for _ in answer.tool_calls]


def _completion(completion_id: str, created: int, model: str, answer: _Answer, usage: dict) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None, "annotations": []}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, (name, arguments) in zip(_tool_call_ids(answer), answer.tool_calls)]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _chunks(completion_id: str, created: int, model: str, answer: _Answer, usage: dict | None) -> Iterator[dict]:
    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        out = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if usage is not None:
            out["usage"] = None
        return out

    if answer.tool_calls and not answer.content:
        yield chunk({"role": "assistant", "content": None, "refusal": None})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _STREAM_PIECE.findall(answer.content or ""):
        yield chunk({"content": piece})
    for index, (call_id, (name, arguments)) in enumerate(zip(_tool_call_ids(answer), answer.tool_calls)):
        yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                     "function": {"name": name, "arguments": ""}}]})
        for start in range(0, len(arguments), _ARGUMENT_PIECE):
            yield chunk({"tool_calls": [{"index": index,
                                         "function": {"arguments": arguments[start:start + _ARGUMENT_PIECE]}}]})
    yield chunk({}, answer.finish_reason)
    if usage is not None:
        yield {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT, "choices": [], "usage": usage}


def _sse(chunks: Iterable[dict]) -> Iterator[bytes]:
    for data in chunks:
        yield f"data: {_compact(data)}\n\n".encode("utf-8")
    yield b"data: [DONE]\n\n"


def _failure(turn: Fail) -> Response:
    if turn.body is None:
        response = _json(turn.status, _error_for_status(turn.status).body())
    elif isinstance(turn.body, (str, bytes)):
        response = Response(turn.body, status=turn.status, content_type="text/plain; charset=utf-8")
    else:
        response = _json(turn.status, turn.body)
    for name, value in turn.headers.items():
        response.headers[name] = value
    return response


def _garbage(turn: Garbage, stream: bool) -> Response:
    if stream:
        body = turn.body if turn.body is not None else 'data: {"id": "chatcmpl-garb\n\n'
        return Response(body, status=200, content_type=turn.content_type or "text/event-stream; charset=utf-8")
    defaults = {
        "truncated": ('{"id": "chatcmpl-garbage", "object": "chat.completion", "choices": [{"index": 0, "mess',
                      "application/json"),
        "html": ("<html><body><h1>502 Bad Gateway</h1><p>The upstream model server went away.</p></body></html>",
                 "text/html; charset=utf-8"),
        "schema": ('{"status": "ok", "result": "this is not a chat completion"}', "application/json"),
    }
    body, content_type = defaults[turn.kind]
    return Response(turn.body if turn.body is not None else body, status=200,
                    content_type=turn.content_type or content_type)


_json = json_response
