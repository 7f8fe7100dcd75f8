"""Drives lmx serve with the official OpenAI Python SDK (pinned in .venv):
list models, greedy chat whole and streamed, greedy completion whole and
streamed, and the second half of a tool call. Prints the answers as JSON."""
import json
import sys

from openai import OpenAI

spec = json.loads(sys.argv[1])
client = OpenAI(base_url=spec["url"], api_key="unused", max_retries=0)
model, n = spec["model"], spec["max_tokens"]
out = {"models": [m.id for m in client.models.list()]}

chat = client.chat.completions.create(model=model, messages=spec["story"], temperature=0, max_tokens=n)
out["chat"] = chat.choices[0].message.content

text, usage = "", 0
for chunk in client.chat.completions.create(model=model, messages=spec["story"], temperature=0, max_tokens=n,
                                            stream=True, stream_options={"include_usage": True}):
    for choice in chunk.choices:
        text += choice.delta.content or ""
    if chunk.usage:
        usage = chunk.usage.completion_tokens
out["chat_stream"], out["stream_usage"] = text, usage

comp = client.completions.create(model=model, prompt=spec["prompt"], temperature=0, max_tokens=n)
out["completion"] = comp.choices[0].text
out["completion_stream"] = "".join(
    c.choices[0].text for c in client.completions.create(model=model, prompt=spec["prompt"], temperature=0,
                                                          max_tokens=n, stream=True) if c.choices)

tool = client.chat.completions.create(model=model, messages=spec["tool_messages"], tools=[spec["tool"]],
                                      temperature=0, max_tokens=n)
out["tool"] = tool.choices[0].message.content
print(json.dumps(out))
