# The oracle for chat templates: Python's Jinja2 (Debian python3-jinja2, under /usr/bin/python3)
# set up as transformers' apply_chat_template sets it up (transformers/utils/chat_template_utils.py,
# _compile_jinja_template and render_jinja_template):
#   ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
#   filters: tojson (json.dumps, ensure_ascii=False); globals: raise_exception, strftime_now
#   render(messages=…, tools=…, documents=…, add_generation_prompt=…, **special_tokens_map, **kwargs)
# stdin: a JSON list of {template, messages, add_generation_prompt, specials, kwargs, tools};
# stdout: a JSON list of {text} or {error}.
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

out = []
for case in json.load(sys.stdin):
    try:
        t = env.from_string(case["template"])
        text = t.render(
            messages=case["messages"],
            tools=case.get("tools"),
            documents=None,
            add_generation_prompt=case["add_generation_prompt"],
            **case.get("specials", {}),
            **case.get("kwargs", {}),
        )
        out.append({"text": text})
    except Exception as e:  # reported to the test, which decides
        out.append({"error": f"{type(e).__name__}: {e}"})
json.dump(out, sys.stdout, ensure_ascii=False)
