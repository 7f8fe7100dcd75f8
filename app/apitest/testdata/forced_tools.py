"""Forces tool calls through lmx serve with the official Python SDKs (pinned
in .venv): tool_choice required and a named function on chat completions
and the Responses API (openai), tool_choice any and tool on Messages
(anthropic), plus a json_schema response_format. Prints the calls as JSON."""
import json
import sys

from anthropic import Anthropic
from openai import OpenAI

spec = json.loads(sys.argv[1])
oa = OpenAI(base_url=spec["url"] + "/v1", api_key="unused", max_retries=0)
an = Anthropic(base_url=spec["url"], api_key="unused", max_retries=0)
model, n, user = spec["model"], spec["max_tokens"], spec["user"]
tools = spec["tools"]
out = {"calls": [], "formats": []}

for choice in ["required", {"type": "function", "function": {"name": spec["named"]}}]:
    r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": user}], tools=tools,
                                   tool_choice=choice, temperature=0, max_tokens=n, reasoning_effort="none")
    for c in r.choices[0].message.tool_calls or []:
        out["calls"].append({"api": "chat", "choice": str(choice), "name": c.function.name,
                             "arguments": c.function.arguments, "finish": r.choices[0].finish_reason})

flat = [{"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"],
         "strict": True} for t in tools]
for choice in ["required", {"type": "function", "name": spec["named"]}]:
    r = oa.responses.create(model=model, input=user, tools=flat, tool_choice=choice, temperature=0,
                            max_output_tokens=n, reasoning={"effort": "none"})
    for it in r.output:
        if it.type == "function_call":
            out["calls"].append({"api": "responses", "choice": str(choice), "name": it.name,
                                 "arguments": it.arguments, "finish": r.status})

atools = [{"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in tools]
for choice in [{"type": "any"}, {"type": "tool", "name": spec["named"]}]:
    r = an.messages.create(model=model, max_tokens=n, tools=atools, tool_choice=choice,
                           messages=[{"role": "user", "content": user}], thinking={"type": "disabled"},
                           extra_body={"temperature": 0})
    for b in r.content:
        if b.type == "tool_use":
            out["calls"].append({"api": "messages", "choice": str(choice), "name": b.name,
                                 "arguments": json.dumps(b.input), "finish": r.stop_reason})

r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": user}], temperature=0, max_tokens=n,
                               reasoning_effort="none",
                               response_format={"type": "json_schema", "json_schema": {"name": "weather", "strict": True,
                                                                                       "schema": spec["schema"]}})
out["formats"].append({"api": "chat", "text": r.choices[0].message.content, "finish": r.choices[0].finish_reason})
r = oa.responses.create(model=model, input=user, temperature=0, max_output_tokens=n, reasoning={"effort": "none"},
                        text={"format": {"type": "json_schema", "name": "weather", "strict": True, "schema": spec["schema"]}})
out["formats"].append({"api": "responses", "text": r.output_text, "finish": r.status})
print(json.dumps(out))
