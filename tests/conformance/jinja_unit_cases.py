#!/usr/bin/env python3
"""Prints the table of tests/unit/test_jinja.c: each template rendered by Python's jinja2 with
transformers' settings (the expected outputs are jinja2's, never typed by hand), and the
templates jinja2 refuses. Usage: jinja_unit_cases.py > table.inc, then paste it over the table
in tests/unit/test_jinja.c."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_conformance import hf_env  # noqa: E402

V = {"msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
     "d": {"b": 1, "a": [1, 2], "c": None}, "s": "héllo wörld", "n": 7, "f": 2.5,
     "t": True, "z": None, "l": [3, 1, 2], "e": "", "q": "it's \"x\"\n"}
CASES = [
 # printing as Python
 ("{{ l }}|{{ d }}|{{ t }}|{{ z }}|{{ f }}|{{ 1.0 }}|{{ 10/4 }}|{{ 10//4 }}|{{ -7//2 }}|{{ -7%3 }}", V),
 ("{{ [1, 'a', none, true, 1.5e20, 1e-5, 0.1] }}|{{ (1,) }}|{{ (1, 'b') }}|{{ {'k': 'v'} }}", V),
 ("{{ q }}|{{ [q] }}|{{ ['\\u00e9\\t'] }}", V),
 ("{{ undefined_thing }}|{{ d.nope }}|{{ z.attr }}|{{ msgs[5] }}", V),
 ("{{ 3 * 'ab' }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 7 / 7 }}|{{ 1 + 2.0 }}|{{ 'a' ~ 1 ~ none }}", V),
 # strings
 ("{{ s|length }}|{{ s[1] }}|{{ s[-1] }}|{{ s[::-1] }}|{{ s[1:4] }}|{{ s[:-6:2] }}|{{ l[::-1] }}|{{ l[-2:] }}", V),
 ("{{ s|upper }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ '  x  '|trim }}|{{ 'a-b'|replace('-', '+') }}", V),
 ("{{ 'a,b,,c'.split(',') }}|{{ '  a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'xxhixx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}", V),
 ("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'aXbX'.replace('X', '-', 1) }}{{ 'Hi There'.lower() }}{{ 'hi there'.title() }}", V),
 ("{{ '{} and {}'.format(1, 'b') }}|{{ '{0}{0}'.format('x') }}|{{ '%s-%d' % ('a', 3) }}|{{ 'ab'.find('b') }}|{{ 'a.b.c'.rsplit('.', 1) }}", V),
 ("{{ '12'.isdigit() }}{{ 'a1'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'AB1'.isupper() }}{{ 'ab'.islower() }}{{ ''.isdigit() }}{{ 'a.b'.count('.') }}{{ 'abc'.removeprefix('a') }}", V),
 ("{{ 'é' in s }}{{ 'x' in s }}{{ 1 in l }}{{ 'a' in d }}{{ 'q' not in d }}", V),
 # filters
 ("{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ s|tojson }}|{{ [1.0, none, true]|tojson }}|{{ d|tojson(sort_keys=true) }}", V),
 ("{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ '\\x01\\n\"'|tojson }}", V),
 ("{{ l|join(', ') }}|{{ l|sort }}|{{ l|sort(reverse=true) }}|{{ l|first }}|{{ l|last }}|{{ l|min }}|{{ l|max }}|{{ l|sum }}", V),
 ("{{ d|items|list }}|{{ d.items()|list }}|{{ d.keys()|list }}|{{ d|dictsort }}|{{ d|length }}", V),
 ("{{ msgs|selectattr('role', 'equalto', 'user')|list }}|{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}", V),
 ("{{ msgs|map(attribute='role')|join('/') }}|{{ ['a', 'B']|map('upper')|list }}|{{ [1, 0, 2]|select|list }}|{{ [1, 2, 3]|reject('odd')|list }}", V),
 ("{{ nope|default('dflt') }}|{{ e|default('x', true) }}|{{ z|default('y') }}|{{ '12'|int + 1 }}|{{ 'x'|int }}|{{ 3|float }}|{{ 2.567|round(2) }}|{{ -3|abs }}", V),
 ("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ ['b', 'A', 'a']|unique|list }}|{{ n|string ~ 'x' }}|{{ l|reverse|list }}|{{ 'ab'|list }}", V),
 ("{{ '<a & b>'|e }}|{{ 'x'|safe + '<' }}|{{ l|count }}|{{ 'a b  c'|wordcount }}", V),
 # tests
 ("{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ d is mapping }}{{ l is sequence }}{{ s is string }}{{ n is number }}{{ f is float }}{{ n is integer }}", V),
 ("{{ t is true }}{{ t is false }}{{ t is boolean }}{{ z is none }}{{ nope is defined }}{{ nope is undefined }}{{ l is iterable }}{{ n is iterable }}{{ 'AB' is upper }}", V),
 ("{{ 3 is gt 2 }}{{ 3 is lt(2) }}{{ 2 is in [1, 2] }}{{ none is sameas none }}{{ n is not none }}", V),
 # statements and whitespace control
 ("{% for m in msgs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{% endfor %}", V),
 ("{% for m in msgs %}{{ loop.previtem.role if loop.previtem is defined else '-' }}{{ loop.nextitem.role if loop.nextitem else '-' }}{{ loop.cycle('a', 'b') }}{% endfor %}", V),
 ("{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", V),
 ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for c in 'ab' %}{{ c }}.{% endfor %}", V),
 ("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", V),
 ("{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }}|{% set ns = namespace(x=1) %}{% for i in l %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", V),
 ("{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}|{{ 'y' if t else 'n' }}|{{ 'y' if z }}|{{ t and 'A' or 'B' }}|{{ z or 'C' }}|{{ not t }}", V),
 ("{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set blk %}in {{ n }}{% endset %}{{ blk|upper }}|{% filter upper %}f{{ n }}{% endfilter %}", V),
 ("{% macro hi(name, p='!') %}Hi {{ name }}{{ p }}{% endmacro %}{{ hi('a') }}|{{ hi('b', p='?') }}|{{ hi(name='c') }}", V),
 ("{% macro wrap(x) %}[{{ caller() }}{{ x }}]{% endmacro %}{% call wrap(1) %}body{% endcall %}|{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}", V),
 ("a\n  {% if t %}\n    yes\n  {% endif %}\nb\n{# c #}\nc  {%- if t -%}  d  {%- endif %}\n{{- ' e ' -}}\n f{% raw %}{{ x }}{% endraw %}\n", V),
 ("  {%+ if t %}x{% endif %}\n{% if t +%}\ny{% endif %}", V),
 ("{{ range(3)|list }}|{{ range(1, 7, 2)|list }}|{{ range(5, 0, -2)|list }}|{{ dict(a=1, b=2) }}|{{ namespace(a=1).a }}", V),
 ("{% if nope|items %}generator{% endif %}|{% if {}.items() %}view{% endif %}|a\x0bb\x0c{#", V),
 ("{{ 1 < 2 < 3 }}{{ 1 < 2 > 3 }}{{ 1 == 1.0 }}{{ 'a' < 'b' }}{{ [1, 2] == [1, 2] }}{{ d == {'b': 1, 'a': [1, 2], 'c': none} }}{{ true == 1 }}", V),
 ("{{ \"a\" 'b' }}|{{ 'it\\'s' }}|{{ \"\\x41\\u00e9\\n\" }}|{{ 1_000 }}|{{ 1.5e3 }}", V),
]
# errors: (template, vars, substring of hearth's message)
ERRORS = [
 ("line1\n{{ raise_exception('Nope: ' ~ n) }}", V, "template line 2: Nope: 7"),
 ("a\nb\n{% if x %}", V, "template line 3: unexpected end of template, expected 'elif'"),
 ("{{ nope.x }}", V, "template line 1: 'nope' is undefined"),
 ("\n{{ 1 + 'a' }}", V, "template line 2: unsupported operand type(s) for +: 'int' and 'str'"),
 ("{{ x|nosuchfilter }}", V, "template line 1: no filter named 'nosuchfilter'"),
 ("{{ d.pop('a') }}", V, "is unsafe"),
 ("{% for a in n %}{% endfor %}", V, "'int' object is not iterable"),
 ("{{ 1 / 0 }}", V, "division by zero"),
 ("{% include 'x' %}", V, "not supported"),
 ("{{ msgs|map(attribute='role')|length }}", V, "has no len()"),
 ("{{ (1, 2)|tojson }}x{{ nope|tojson }}", V, "not JSON serializable"),
 ("{% break %}", V, "outside a loop"),
 ("{{ 'a' ", V, "unexpected end of template"),
 ("{% set a, b = [1] %}", V, "not enough values to unpack"),
 ("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", V, "macro 'm' takes not more than 1 argument(s)"),
 ("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, b=2) }}", V, "macro 'm' takes no keyword argument 'b'"),
 ("{% macro m() %}x{% endmacro %}{% call m() %}y{% endcall %}", V, "special caller argument"),
 ("{{ 'a'|replace(old='a', new='b', x=1) }}", V, "unexpected keyword argument 'x'"),
 ("{{ range(a=1, 2) }}", V, "invalid syntax for function call expression"),
 ("{% if 1 if t %}x{% endif %}", V, "expected"),
 ("{{ d.update.x }}", V, "is unsafe"),
 ("{{ d|tojson(separators=',') }}", V, "separators"),
]


def c_string(s):
    out = '"'
    for ch in s.encode("utf-8"):
        if ch == 0x22:
            out += '\\"'
        elif ch == 0x5c:
            out += "\\\\"
        elif ch == 0x0a:
            out += "\\n"
        elif ch == 0x09:
            out += "\\t"
        elif ch < 0x20 or ch >= 0x7f:
            out += "\\%03o" % ch
        else:
            out += chr(ch)
    return out + '"'


def main():
    env = hf_env()
    lines = ["static const char *const VARS = %s;" % c_string(json.dumps(V, ensure_ascii=False)),
             "",
             "/* Each expected output is what Python's jinja2 printed for the template (HF's "
             "settings). */",
             "static const struct {\n    const char *tmpl, *want;\n} renders[] = {"]
    for t, v in CASES:
        lines.append("    {%s,\n     %s}," % (c_string(t), c_string(env.from_string(t).render(**v))))
    lines += ["};", "", "/* Templates jinja2 refuses too; want: a part of hearth's message. */",
              "static const struct {\n    const char *tmpl, *want;\n} failures[] = {"]
    for t, v, m in ERRORS:
        try:
            env.from_string(t).render(**v)
            sys.exit("jinja2 renders %r: not a failure case" % t)
        except Exception:
            pass
        lines.append("    {%s, %s}," % (c_string(t), c_string(m)))
    lines.append("};")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
