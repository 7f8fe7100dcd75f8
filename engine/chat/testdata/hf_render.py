"""Reference renderer for engine/chat tests.

Reads JSON lines {template, messages, tools, add_generation_prompt, kwargs,
bos_token, eos_token} on stdin and writes {rendered} or {error, kind} lines,
rendering with Jinja2 set up the way transformers' render_jinja_template does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
json.dumps-based tojson, raise_exception, strftime_now).
"""
import json
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(jinja2.ext.Extension):
    """{% generation %} renders its body, as transformers' AssistantTracker does."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols, GenerationTag])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, req):
    tmpl = env.from_string(req["template"])
    kwargs = {"bos_token": req["bos_token"], "eos_token": req["eos_token"]}
    kwargs.update(req.get("kwargs") or {})
    return tmpl.render(messages=req["messages"], tools=req.get("tools"),
                       add_generation_prompt=req["add_generation_prompt"], **kwargs)


def main():
    env = environment()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = {"rendered": render(env, req)}
        except TemplateError as e:
            out = {"error": str(e), "kind": type(e).__name__}
        except Exception as e:  # the template crashed on this input
            out = {"error": str(e), "kind": type(e).__name__}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
