"""Drives lmx serve's Messages API with the official Anthropic Python SDK
(pinned in .venv): a greedy message whole and streamed (recording the raw
event order), count_tokens, and the second half of a tool call. Prints the
answers as JSON."""
import json
import sys

from anthropic import Anthropic

spec = json.loads(sys.argv[1])
client = Anthropic(base_url=spec["url"], api_key="unused", max_retries=0)
model, n = spec["model"], spec["max_tokens"]
system = [{"type": "text", "text": spec["system"], "cache_control": {"type": "ephemeral"}}]
story = [{"role": "user", "content": spec["user"]}]
# This SDK has no sampling parameters (Anthropic retired them); greedy goes
# in the body as an extra field.
GREEDY = {"temperature": 0}
RAW = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
       "message_delta", "message_stop", "ping"}

msg = client.messages.create(model=model, max_tokens=n, system=system, messages=story, extra_body=GREEDY,
                             metadata={"user_id": "u1"})
out = {"text": msg.content[0].text, "stop_reason": msg.stop_reason,
       "input_tokens": msg.usage.input_tokens, "output_tokens": msg.usage.output_tokens,
       "cache_read_input_tokens": msg.usage.cache_read_input_tokens or 0}

events = []
with client.messages.stream(model=model, max_tokens=n, system=system, messages=story, extra_body=GREEDY) as stream:
    for event in stream:
        if event.type in RAW:
            events.append(event.type)
    final = stream.get_final_message()
out["stream_text"], out["events"] = final.content[0].text, events

out["count"] = client.messages.count_tokens(model=model, system=system, messages=story).input_tokens

tool = client.messages.create(model=model, max_tokens=n, extra_body=GREEDY, tools=[spec["tool"]], messages=[
    {"role": "user", "content": spec["tool_user"]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": spec["tool_id"], "name": spec["tool_name"],
                                       "input": spec["tool_args"]}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": spec["tool_id"],
                                  "content": spec["tool_result"]}]},
])
out["tool"] = tool.content[0].text
print(json.dumps(out))
