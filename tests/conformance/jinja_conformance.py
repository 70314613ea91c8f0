#!/usr/bin/env python3
"""Chat-template conformance: hearth's Jinja engine against Python's jinja2.

Renders every template in the llama.cpp tree's models/templates/ and every chat template embedded
in its models/ggml-vocab-*.gguf over a set of conversations, once with jinja2 set up as Hugging
Face's transformers sets it up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, its tojson, raise_exception, strftime_now and generation tag) and once through
hearth's chat_render (tests/tools/jinja_render.c), and compares the outputs byte for byte. Where
jinja2 raises, hearth must fail too.

A template matches when every conversation matches. The test fails when a template that is not in
the known-mismatches file stops matching.

usage: jinja_conformance.py JINJA_RENDER LLAMA_DATA KNOWN_MISMATCHES
"""
import copy
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    """transformers' {% generation %} tag; its output is its body's."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def hf_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# ---- GGUF metadata (only what this test needs) ----
def gguf_meta(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        return {}
    off = 4
    version, = struct.unpack_from("<I", data, off)
    off += 4
    n_tensors, n_kv = struct.unpack_from("<QQ", data, off)
    off += 16
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
              11: "<q", 12: "<d"}

    def read_str(o):
        n, = struct.unpack_from("<Q", data, o)
        return data[o + 8:o + 8 + n].decode("utf-8", "replace"), o + 8 + n

    def read_val(t, o):
        if t == 8:
            return read_str(o)
        if t == 9:
            at, n = struct.unpack_from("<IQ", data, o)
            o += 12
            vals = []
            for _ in range(n):
                v, o = read_val(at, o)
                vals.append(v)
            return vals, o
        fmt = scalar[t]
        return struct.unpack_from(fmt, data, o)[0], o + struct.calcsize(fmt)

    meta = {}
    for _ in range(n_kv):
        key, off = read_str(off)
        t, = struct.unpack_from("<I", data, off)
        off += 4
        val, off = read_val(t, off)
        meta[key] = val
    return meta


# ---- the conversations ----
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}, {
    "type": "function",
    "function": {
        "name": "python",
        "description": "Runs Python code",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}},
                       "required": ["code"]},
    },
}]

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Be brief."}
USER1 = {"role": "user", "content": "What is the capital of France?"}
ASSIST1 = {"role": "assistant", "content": "The capital of France is Paris."}
USER2 = {"role": "user", "content": "And of Germany? Answer in \"quotes\" — ünïcödé ok."}
CALL = {"role": "assistant", "content": "",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather",
                                     "arguments": {"city": "Paris", "unit": "celsius"}}}]}
RESULT = {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
          "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}
USER_W = {"role": "user", "content": "What's the weather in Paris?"}
THOUGHT = {"role": "assistant", "content": "Paris.",
           "reasoning_content": "The user asks about France; its capital is Paris."}

PARTS_USER = {"role": "user", "content": [{"type": "text", "text": "Describe this: "},
                                         {"type": "text", "text": "a red {{ fox }} \\ jumps\n"}]}
CALL_NULL = {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_a", "type": "function",
                             "function": {"name": "get_weather",
                                          "arguments": {"city": "Berlin", "days": 3,
                                                        "precise": True, "ratio": 0.5,
                                                        "extra": None, "tags": ["a", "b"],
                                                        "nested": {"k": "v"}}}},
                            {"id": "call_b", "type": "function",
                             "function": {"name": "python",
                                          "arguments": {"code": "print('hi')\nprint(\"x\")"}}}]}
RESULT_A = {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "sunny"}
RESULT_B = {"role": "tool", "tool_call_id": "call_b", "name": "python", "content": "hi\nx"}
THOUGHT_CALL = dict(CALL, reasoning_content="I should call the weather tool.")

CASES = [
    ("system+user", {"messages": [SYSTEM, USER1], "add_generation_prompt": True}),
    ("user, no generation prompt", {"messages": [USER1], "add_generation_prompt": False}),
    ("multi-turn", {"messages": [SYSTEM, USER1, ASSIST1, USER2], "add_generation_prompt": True}),
    ("multi-turn ending with the assistant",
     {"messages": [USER1, ASSIST1], "add_generation_prompt": False}),
    ("tools given", {"messages": [SYSTEM, USER_W], "tools": TOOLS, "add_generation_prompt": True}),
    ("tool call and result",
     {"messages": [SYSTEM, USER_W, CALL, RESULT], "tools": TOOLS, "add_generation_prompt": True}),
    ("tool call, thinking off",
     {"messages": [USER_W, CALL, RESULT], "tools": TOOLS, "add_generation_prompt": True,
      "kwargs": {"enable_thinking": False}}),
    ("thinking on, reasoning in history",
     {"messages": [USER1, THOUGHT, USER2], "add_generation_prompt": True,
      "kwargs": {"enable_thinking": True}}),
    ("thinking off", {"messages": [SYSTEM, USER1], "add_generation_prompt": True,
                      "kwargs": {"enable_thinking": False}}),
    ("content parts", {"messages": [SYSTEM, PARTS_USER], "add_generation_prompt": True}),
    ("parallel calls, null content, typed arguments",
     {"messages": [USER_W, CALL_NULL, RESULT_A, RESULT_B], "tools": TOOLS,
      "add_generation_prompt": True}),
    ("reasoning with a tool call",
     {"messages": [USER_W, THOUGHT_CALL, RESULT, ASSIST1, USER2], "tools": TOOLS,
      "add_generation_prompt": True, "kwargs": {"enable_thinking": True,
                                                "reasoning_effort": "high"}}),
    ("system only", {"messages": [SYSTEM], "add_generation_prompt": True}),
    ("no messages", {"messages": [], "add_generation_prompt": True}),
]


def first_object_arguments(messages):
    for m in messages:
        for tc in m.get("tool_calls") or []:
            args = tc.get("function", {}).get("arguments")
            if isinstance(args, dict) and args:
                return args
    return None


def nonnull_content(messages):
    if not any(m.get("content", "") is None for m in messages):
        return None
    messages = copy.deepcopy(messages)
    for m in messages:
        if m.get("content", "") is None:
            m["content"] = ""
    return messages


def string_arguments(messages):
    messages = copy.deepcopy(messages)
    for m in messages:
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function", {})
            if isinstance(fn.get("arguments"), dict):
                fn["arguments"] = tojson(fn["arguments"])
    return messages


_compiled = {}


def py_render(env, source, inp):
    """What transformers renders; returns ("ok", text) or ("error", message)."""
    try:
        if source not in _compiled:
            _compiled[source] = env.from_string(source)
        tmpl = _compiled[source]
    except Exception as e:  # a template jinja2 cannot compile
        return ("error", "%s: %s" % (type(e).__name__, e))

    def render(messages):
        ctx = dict(inp.get("kwargs") or {})
        ctx.update(messages=copy.deepcopy(messages),
                   add_generation_prompt=inp["add_generation_prompt"],
                   bos_token=inp["bos_token"], eos_token=inp["eos_token"])
        if inp.get("tools") is not None:
            ctx["tools"] = copy.deepcopy(inp["tools"])
        return tmpl.render(**ctx)

    # The same rules as chat_render: a template that prints object arguments as they come
    # (Python's repr shows in its output) is given OpenAI's JSON strings instead; one that fails
    # is tried with null contents made "", then with string arguments, then with both.
    messages = inp["messages"]
    args = first_object_arguments(messages)
    try:
        out = render(messages)
        if args is not None and str(args) in out:
            try:
                out = render(string_arguments(messages))
            except Exception:
                pass
        return ("ok", out)
    except Exception as e:
        first = e
    nn = nonnull_content(messages)
    sa = string_arguments(messages) if args is not None else None
    both = string_arguments(nn) if nn is not None and sa is not None else None
    for msgs in (nn, sa, both):
        if msgs is None:
            continue
        try:
            return ("ok", render(msgs))
        except Exception:
            pass
    return ("error", "%s: %s" % (type(first).__name__, first))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    renderer, data, known_path = sys.argv[1:4]
    known = {}
    with open(known_path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                known[name] = reason.strip()

    templates = []  # (name, path, bos, eos)
    tmp = tempfile.TemporaryDirectory(prefix="jinja-conf-")
    tmpdir = tmp.name
    for path in sorted(glob.glob(os.path.join(data, "templates", "*.jinja"))):
        templates.append((os.path.basename(path), path, "<s>", "</s>"))
    for path in sorted(glob.glob(os.path.join(data, "ggml-vocab-*.gguf"))):
        meta = gguf_meta(path)
        toks = meta.get("tokenizer.ggml.tokens") or []

        def tok(key):
            i = meta.get(key)
            return toks[i] if isinstance(i, int) and 0 <= i < len(toks) else ""
        bos, eos = tok("tokenizer.ggml.bos_token_id"), tok("tokenizer.ggml.eos_token_id")
        for key in sorted(k for k in meta if k.startswith("tokenizer.chat_template")):
            if not isinstance(meta[key], str):
                continue
            name = os.path.basename(path) + ":" + key
            tpath = os.path.join(tmpdir, name.replace(":", "_") + ".jinja")
            with open(tpath, "w") as f:
                f.write(meta[key])
            templates.append((name, tpath, bos, eos))

    env = hf_env()
    jobs, expected = [], []
    for name, path, bos, eos in templates:
        with open(path) as f:
            source = f.read()
        for case_name, case in CASES:
            inp = dict(case, bos_token=bos, eos_token=eos)
            jobs.append({"template": path, "input": inp})
            expected.append((name, case_name, py_render(env, source, inp)))
    jobs_path = os.path.join(tmpdir, "jobs.json")
    with open(jobs_path, "w") as f:
        json.dump(jobs, f, ensure_ascii=False)
    t0 = time.time()
    res = subprocess.run([renderer, "--chat", jobs_path], capture_output=True, timeout=120)
    t_c = time.time() - t0
    if res.returncode != 0:
        print("jinja_render failed:", res.stderr.decode(errors="replace"))
        return 1
    got = json.loads(res.stdout)

    bad = {}  # template -> first differing case
    n_renders_ok = 0
    for (name, case_name, (kind, text)), g in zip(expected, got):
        if kind == "ok":
            same = g["ok"] and g["out"] == text
        else:
            same = not g["ok"]
        if same:
            n_renders_ok += 1
        elif name not in bad:
            bad[name] = (case_name, kind, text, g)

    names = [t[0] for t in templates]
    n_ok = sum(1 for n in names if n not in bad)
    n_raise = sum(1 for _, _, (kind, _) in expected if kind == "error")
    print("jinja conformance: %d of %d templates match jinja2 (%d of %d renders, %d of them errors "
          "in both; hearth rendered them in %.2f s)"
          % (n_ok, len(names), n_renders_ok, len(expected), n_raise, t_c))
    failed = 0
    for name in names:
        if name not in bad:
            if name in known:
                print("  now matches (remove it from the known mismatches): %s" % name)
            continue
        case_name, kind, text, g = bad[name]
        label = "known mismatch" if name in known else "MISMATCH"
        print("  %s: %s [%s]" % (label, name, case_name))
        if name not in known or os.environ.get("VERBOSE"):
            if kind == "ok" and g["ok"]:
                # from a little before the first byte that differs
                at = next((i for i, (x, y) in enumerate(zip(text, g["out"])) if x != y),
                          min(len(text), len(g["out"])))
                start = max(0, at - 100)
                print("    first difference at character %d" % at)
                print("    jinja2: %r" % text[start:at + 300])
                print("    hearth: %r" % g["out"][start:at + 300])
            else:
                print("    jinja2: %r" % (text[:600] if kind == "ok" else "raised " + text[:300]))
                print("    hearth: %r" % (g["out"][:600] if g["ok"] else "error: " + g["error"]))
        if name not in known:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
