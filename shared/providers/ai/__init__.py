"""A small agent runtime over any OpenAI-compatible chat completions endpoint.

- `provider`: the client, built from settings (OpenAI, a gateway, Ollama, vLLM).
- `runtime`: tools with pydantic-typed arguments and the tool-calling loop
  (step, token and time limits; tool errors go back to the model).
- `budget`: the per-user rate limit and daily token budget, kept in Postgres.

Toolsets are plain values, so the event wizard and later assistants (PAM,
the member assistant) each bring their own.
"""

from shared.providers.ai.runtime import Limits, Tool, Toolset, TurnResult, run_turn

__all__ = ["Limits", "Tool", "Toolset", "TurnResult", "run_turn"]
