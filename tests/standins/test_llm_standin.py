"""The LLM stand-in, driven over real HTTP by the real openai SDK."""

from __future__ import annotations

import json
import random
import threading
import time

import httpx
import openai
import pydantic
import pytest

from shared.devstack.standins import LlmStandin
from shared.devstack.standins.llm_standin import (DEFAULT_REPLY, Delay, Fail, Garbage, RawArguments, Reply, ToolCalls,
                                         count_tokens)
from tests.standins import serve

API_KEY = "sk-test-bookwell-standin"
MODEL = "bookwell-local"

FIND_SLOTS = {"type": "function", "function": {
    "name": "find_slots", "description": "Free slots for a service on a day",
    "parameters": {"type": "object", "properties": {"service": {"type": "string"}, "day": {"type": "string"}},
                   "required": ["service", "day"]}}}
BOOK = {"type": "function", "function": {
    "name": "book", "description": "Book a slot",
    "parameters": {"type": "object", "properties": {"slot": {"type": "string"}}, "required": ["slot"]}}}
TOOLS = [FIND_SLOTS, BOOK]


@pytest.fixture
def llm():
    return LlmStandin(API_KEY, MODEL)


@pytest.fixture
def url(llm):
    with serve(llm.wsgi, "/llm") as url:
        yield url


@pytest.fixture
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=10)


def ask(text: str = "Book me a haircut tomorrow") -> list[dict]:
    return [{"role": "system", "content": "You are Bookwell's booking assistant."},
            {"role": "user", "content": text}]


def assistant_message(message) -> dict:
    """The SDK's message as the product sends it back (see shared.providers.ai.runtime)."""
    out: dict = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.function.name, "arguments": c.function.arguments}}
                             for c in message.tool_calls]
    return out


def compact_tokens(value) -> int:
    return count_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


# ------------------------------------------------------------ tool exchanges

def test_a_scripted_tool_exchange_round_trips_through_the_sdk(llm, client):
    llm.script(ToolCalls([("find_slots", {"service": "haircut", "day": "2026-11-22"})]),
               Reply("You're booked for 10:00 tomorrow."))
    messages = ask()

    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="auto")
    assert first.id.startswith("chatcmpl-") and first.object == "chat.completion" and first.model == MODEL
    choice = first.choices[0]
    assert choice.index == 0 and choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "find_slots"
    assert json.loads(call.function.arguments) == {"service": "haircut", "day": "2026-11-22"}
    prompt = compact_tokens(messages) + compact_tokens(TOOLS)
    completion = count_tokens("find_slots" + call.function.arguments)
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == \
        (prompt, completion, prompt + completion)

    messages += [assistant_message(choice.message),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"slots": ["10:00", "14:30"]})}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "You're booked for 10:00 tomorrow."
    assert second.choices[0].message.tool_calls is None
    assert second.usage.completion_tokens == count_tokens("You're booked for 10:00 tomorrow.")
    assert second.id != first.id

    assert llm.remaining() == 0
    assert [len(r["messages"]) for r in llm.requests] == [2, 4]
    assert llm.last_request["messages"][-1] == {"role": "tool", "tool_call_id": call.id,
                                                "content": '{"slots": ["10:00", "14:30"]}'}
    assert llm.last_request["tools"] == TOOLS


def test_several_tool_calls_in_one_message_get_their_own_ids(llm, client):
    llm.script(ToolCalls([("find_slots", {"service": "cut", "day": "mon"}), ("find_slots", {"service": "cut",
                                                                                          "day": "tue"}),
                          ("book", {"slot": "s1"})], content="Let me check both days."))
    response = client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS)
    message = response.choices[0].message
    assert message.content == "Let me check both days."
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("find_slots", {"service": "cut", "day": "mon"}), ("find_slots", {"service": "cut", "day": "tue"}),
        ("book", {"slot": "s1"})]
    assert len({c.id for c in message.tool_calls}) == 3
    assert response.choices[0].finish_reason == "tool_calls"


def test_malformed_arguments_arrive_as_the_raw_string(llm, client):
    llm.script(RawArguments("book", '{"slot": "s1"'),
               ToolCalls([("find_slots", {"service": "cut", "day": "mon"}), RawArguments("book", "slot=s1")]))
    [call] = client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS).choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("book", '{"slot": "s1"')
    with pytest.raises(ValueError):
        json.loads(call.function.arguments)

    good, bad = client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS).choices[0].message.tool_calls
    assert json.loads(good.function.arguments) == {"service": "cut", "day": "mon"}
    assert bad.function.arguments == "slot=s1"


def test_the_conversation_is_checked_like_openai_does(llm, client):
    llm.script(ToolCalls([("find_slots", {"service": "cut", "day": "mon"}), ("book", {"slot": "s1"})]))
    message = client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS).choices[0].message
    first, second = message.tool_calls
    history = ask() + [assistant_message(message)]

    with pytest.raises(openai.BadRequestError) as unanswered:  # one tool call left without its result
        client.chat.completions.create(model=MODEL, tools=TOOLS, messages=history + [
            {"role": "tool", "tool_call_id": first.id, "content": "[]"}])
    assert second.id in unanswered.value.message and first.id not in unanswered.value.message
    assert unanswered.value.body["param"] == "messages.[2].role"

    with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding message"):
        client.chat.completions.create(model=MODEL, messages=ask() + [
            {"role": "tool", "tool_call_id": "call_nobody_asked", "content": "{}"}])
    with pytest.raises(openai.BadRequestError, match="tool_call_id"):
        client.chat.completions.create(model=MODEL, tools=TOOLS, messages=history + [
            {"role": "tool", "content": "{}"}])
    with pytest.raises(openai.BadRequestError, match="only allowed when 'tools' are specified"):
        client.chat.completions.create(model=MODEL, messages=ask(), tool_choice="auto")
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument supplied: temprature"):
        client.chat.completions.create(model=MODEL, messages=ask(), extra_body={"temprature": 0.2})
    with pytest.raises(openai.NotFoundError) as wrong_model:
        client.chat.completions.create(model="gpt-4o", messages=ask())
    assert wrong_model.value.code == "model_not_found"

    answered = history + [{"role": "tool", "tool_call_id": first.id, "content": "[]"},
                          {"role": "tool", "tool_call_id": second.id, "content": '{"ok": true}'}]
    assert client.chat.completions.create(model=MODEL, tools=TOOLS, messages=answered).choices[0].message.content
    assert len(llm.requests) == 8  # refused requests are recorded too, for inspection


def test_max_tokens_cuts_a_reply_short_with_finish_reason_length(llm, client):
    llm.script(Reply("x" * 100), Reply("y" * 100))
    cut = client.chat.completions.create(model=MODEL, messages=ask(), max_completion_tokens=5)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("x" * 20, "length")
    assert cut.usage.completion_tokens == 5
    legacy = client.chat.completions.create(model=MODEL, messages=ask(), max_tokens=1000)
    assert legacy.choices[0].finish_reason == "stop"


# ------------------------------------------------------------------ failures

def test_fail_raises_the_sdks_status_errors(llm, client):
    llm.script(Fail(500), Fail(429, headers={"retry-after": "1"}),
               Fail(503, body={"error": {"message": "down for lunch", "type": "server_error", "param": None,
                                         "code": None}}),
               Reply("back"))
    with pytest.raises(openai.InternalServerError) as server_error:
        client.chat.completions.create(model=MODEL, messages=ask())
    assert server_error.value.status_code == 500 and server_error.value.type == "server_error"
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=ask())
    assert limited.value.code == "rate_limit_exceeded" and limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError, match="down for lunch"):
        client.chat.completions.create(model=MODEL, messages=ask())
    assert client.chat.completions.create(model=MODEL, messages=ask()).choices[0].message.content == "back"


def test_each_sdk_retry_consumes_a_turn(llm, url):
    retrying = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=2)
    llm.script(Fail(500, headers={"retry-after-ms": "1"}), Fail(502, headers={"retry-after-ms": "1"}),
               Reply("third time lucky"))
    response = retrying.chat.completions.create(model=MODEL, messages=ask())
    assert response.choices[0].message.content == "third time lucky"
    assert len(llm.requests) == 3 and llm.remaining() == 0


def test_a_delay_beyond_the_client_timeout_raises_api_timeout_error(llm, client):
    llm.script(Delay(1.0, then=Reply("too late")), Delay(0.05, then=Reply("in time")))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=ask(), timeout=0.3)
    assert time.monotonic() - started < 0.9
    response = client.chat.completions.create(model=MODEL, messages=ask(), timeout=2)
    assert response.choices[0].message.content == "in time"


def test_garbage_makes_the_sdk_fail_fast_not_hang(llm, client, url):
    llm.script(Garbage(), Garbage("html"), Garbage("schema"), Garbage("html"), Garbage("schema"))
    started = time.monotonic()
    # The default (lenient) client: not openai errors, but the ValueError / TypeError /
    # AttributeError family shared.providers.ai.runtime catches.
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model=MODEL, messages=ask())
    html = client.chat.completions.create(model=MODEL, messages=ask())
    assert isinstance(html, str) and "502 Bad Gateway" in html
    with pytest.raises(AttributeError):
        html.choices  # noqa: B018
    hollow = client.chat.completions.create(model=MODEL, messages=ask())
    with pytest.raises(TypeError):
        hollow.choices[0]  # noqa: B018
    # A strict client turns the last two into openai.APIResponseValidationError.
    strict = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=5,
                           _strict_response_validation=True)
    for _ in range(2):
        with pytest.raises(openai.APIResponseValidationError):
            strict.chat.completions.create(model=MODEL, messages=ask())
    assert time.monotonic() - started < 3


# ----------------------------------------------------------------- streaming

def test_a_streamed_reply_arrives_in_chunks_the_sdk_reads(llm, client):
    llm.script(Reply("Your haircut is booked for ten tomorrow."))
    stream = client.chat.completions.create(model=MODEL, messages=ask(), stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your haircut is booked for ten tomorrow."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == count_tokens(text)
    assert all(c.usage is None for c in chunks[:-1])


def test_streamed_tool_calls_assemble_into_the_final_completion(llm, client):
    llm.script(ToolCalls([("find_slots", {"service": "haircut", "day": "2026-11-22"}), ("book", {"slot": "s-42"})]),
               ToolCalls([("book", {"slot": "s-7"})]))
    raw = list(client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS, stream=True))
    calls: dict[int, dict] = {}
    for chunk in raw:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("find_slots", {"service": "haircut", "day": "2026-11-22"}), ("book", {"slot": "s-42"})]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert sum(1 for chunk in raw if chunk.choices[0].delta.tool_calls) > 4  # arguments really arrive in pieces
    assert raw[-1].choices[0].finish_reason == "tool_calls"

    strict_book = {"type": "function", "function": {**BOOK["function"], "strict": True, "parameters": {
        **BOOK["function"]["parameters"], "additionalProperties": False}}}
    with client.chat.completions.stream(model=MODEL, messages=ask(), tools=[strict_book]) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    [call] = final.choices[0].message.tool_calls
    assert (call.function.name, call.function.parsed_arguments) == ("book", {"slot": "s-7"})
    assert final.choices[0].finish_reason == "tool_calls"


def test_failures_and_garbage_in_streaming_mode(llm, client):
    llm.script(Fail(500), Garbage())
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=ask(), stream=True)
    stream = client.chat.completions.create(model=MODEL, messages=ask(), stream=True)
    with pytest.raises(json.JSONDecodeError):
        list(stream)


# ------------------------------------------------------------- conversations

def test_per_conversation_scripts_stay_separate_under_concurrency(llm, url):
    llm.latency = 0.02  # keep the 20 conversations in flight together
    keys = [f"wizard-session-{i}" for i in range(20)]
    for i, key in enumerate(keys):
        llm.script(ToolCalls([("find_slots", {"service": f"service-{i}", "day": "mon"})]),
                   Reply(f"Done for conversation {i}."), conversation=key)
    results: dict[int, object] = {}
    barrier = threading.Barrier(len(keys))

    def converse(i: int) -> None:
        try:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=10)
            messages = ask(f"conversation {i}")
            barrier.wait()
            message = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS,
                                                     user=keys[i]).choices[0].message
            [call] = message.tool_calls
            time.sleep(random.random() / 50)
            messages += [assistant_message(message),
                         {"role": "tool", "tool_call_id": call.id, "content": '{"slots": []}'}]
            final = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, user=keys[i])
            results[i] = (json.loads(call.function.arguments)["service"], final.choices[0].message.content)
        except Exception as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=converse, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == {i: (f"service-{i}", f"Done for conversation {i}.") for i in range(len(keys))}
    assert all(llm.remaining(key) == 0 for key in keys)
    assert len(llm.requests) == 40
    assert [r["messages"][1]["content"] for r in llm.requests_for(keys[7])] == ["conversation 7"] * 2


def test_keyed_requests_fall_back_to_unkeyed_turns_then_the_default(llm, client):
    llm.script(Reply("for ann"), conversation="ann")
    llm.script(Reply("for anyone"))
    assert client.chat.completions.create(model=MODEL, messages=ask(), user="bob").choices[0].message.content \
        == "for anyone"
    assert client.chat.completions.create(model=MODEL, messages=ask(), user="ann").choices[0].message.content \
        == "for ann"
    assert client.chat.completions.create(model=MODEL, messages=ask(), user="ann").choices[0].message.content \
        == DEFAULT_REPLY
    assert client.chat.completions.create(model=MODEL, messages=ask()).choices[0].message.content == DEFAULT_REPLY


def test_the_product_tool_loop_runs_against_the_standin(llm, client):
    from shared.providers.ai import Tool, Toolset, run_turn

    class SlotArgs(pydantic.BaseModel):
        service: str
        day: str

    seen = []
    tools = Toolset([Tool("find_slots", "Free slots", SlotArgs,
                          lambda ctx, args: seen.append(args.service) or {"slots": ["10:00"]})])
    llm.script(ToolCalls([("find_slots", {"service": "cut", "day": "mon"})]), RawArguments("find_slots", "{oops"),
               Reply("10:00 is free."), conversation="session-1")
    turn = run_turn(client, MODEL, ask(), tools, None, user="session-1")
    assert (turn.reply, turn.steps, seen) == ("10:00 is free.", 3, ["cut"])
    assert [c["ok"] for c in turn.tool_calls] == [True, False]
    assert turn.total_tokens == sum(compact_tokens(r["messages"]) + compact_tokens(r["tools"])
                                    for r in llm.requests) + turn.completion_tokens


# ------------------------------------------------------------ the rest of it

def test_auth_is_required_when_an_api_key_is_set(url):
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-wrong-key-123456", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.chat.completions.create(model=MODEL, messages=ask())
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    assert "sk-wrong-key-123456" not in refused.value.message
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    bare = httpx.post(f"{url}/v1/chat/completions", json={"model": MODEL, "messages": ask()})
    assert bare.status_code == 401
    assert set(bare.json()["error"]) == {"message", "type", "param", "code"}


def test_no_key_configured_means_no_auth(url):
    open_llm = LlmStandin()
    with serve(open_llm.wsgi, "/llm") as open_url:
        client = openai.OpenAI(base_url=f"{open_url}/v1", api_key="anything", max_retries=0)
        assert client.chat.completions.create(model=MODEL, messages=ask()).choices[0].message.content


def test_unscripted_answers_are_the_default_reply_or_a_tool_summary(llm, client):
    first = client.chat.completions.create(model=MODEL, messages=ask(), tools=TOOLS)
    assert first.choices[0].message.content == DEFAULT_REPLY and first.choices[0].message.tool_calls is None
    assert "stand-in" in DEFAULT_REPLY and "tools" in DEFAULT_REPLY
    messages = ask() + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "find_slots", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"slots": ["10:00", "14:30"]}'}]
    summary = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message.content
    assert summary == 'Done: find_slots returned {"slots": ["10:00", "14:30"]}.'


def test_models_are_listed(client, llm):
    assert [m.id for m in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "bookwell"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5")


def test_inspection_is_copied_and_reset_forgets(llm, client):
    llm.script(Reply("one"), Reply("two"), Reply("three"), conversation="c")
    llm.script(Reply("unkeyed"))
    client.chat.completions.create(model=MODEL, messages=ask(), user="c", temperature=0.2)
    snapshot = llm.last_request
    snapshot["messages"].clear()
    assert llm.last_request["messages"] == ask() and llm.last_request["temperature"] == 0.2
    assert (llm.remaining("c"), llm.remaining()) == (2, 1)
    llm.reset()
    assert (llm.requests, llm.last_request, llm.remaining("c"), llm.remaining()) == ([], None, 0, 0)
    with pytest.raises(TypeError):
        llm.script("not a turn")  # type: ignore[arg-type]


def test_latency_is_added_to_every_answer(llm, client):
    llm.latency = 0.15
    started = time.monotonic()
    client.chat.completions.create(model=MODEL, messages=ask())
    assert time.monotonic() - started >= 0.15


def test_an_improvise_hook_answers_what_is_not_scripted_and_scripts_still_come_first():
    seen = []

    def improvise(body):
        seen.append(body["messages"][-1]["content"])
        return ToolCalls([("find_slots", {"day": "tomorrow"})]) if "slot" in seen[-1] else None

    llm = LlmStandin(API_KEY, MODEL, improvise=improvise)
    with serve(llm.wsgi, "/llm") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=10)
        llm.script(Reply("scripted"))
        assert client.chat.completions.create(model=MODEL, messages=ask("any slot?")).choices[0].message.content \
            == "scripted"
        improvised = client.chat.completions.create(model=MODEL, messages=ask("any slot?"), tools=TOOLS)
        [call] = improvised.choices[0].message.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == ("find_slots", {"day": "tomorrow"})
        assert client.chat.completions.create(model=MODEL, messages=ask("hello")).choices[0].message.content \
            == DEFAULT_REPLY  # the hook passed (None): the default answer
    assert seen == ["any slot?", "hello"]
