"""Drives lmx serve's Responses API with the official OpenAI Python SDK
(pinned in .venv): a greedy response whole (raw body kept for the schema)
and streamed (recording the event order), a previous_response_id
follow-up, and the second half of a function call. Prints the answers as
JSON."""
import json
import sys

from openai import OpenAI

spec = json.loads(sys.argv[1])
client = OpenAI(base_url=spec["url"], api_key="unused", max_retries=0)
story = dict(model=spec["model"], instructions=spec["instructions"], input=spec["input"], temperature=0,
             max_output_tokens=spec["max_tokens"])

raw = client.responses.with_raw_response.create(**story)
first = raw.parse()
out = {"text": first.output_text, "status": first.status, "bodies": [json.loads(raw.text)]}

events, text = [], ""
for event in client.responses.create(**story, stream=True):
    events.append(event.type)
    if event.type in ("response.completed", "response.incomplete"):
        text = event.response.output_text
out["events"], out["stream_text"] = events, text

follow = dict(story, input=spec["follow_up"], previous_response_id=first.id)
out["follow_up"] = client.responses.create(**follow).output_text

tool = client.responses.create(model=spec["model"], input=spec["tool_input"], tools=[spec["tool"]], temperature=0,
                               max_output_tokens=spec["max_tokens"])
out["tool"] = tool.output_text
print(json.dumps(out))
