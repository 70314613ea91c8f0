/* The Jinja engine (chat/jinja.h) and chat_render (chat/chat.h): every construct against what
 * Python's jinja2 prints, whitespace control, errors with their template line, every cap. */
#include "chat/chat.h"
#include "chat/jinja.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static const char *const VARS =
    "{\"msgs\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": "
    "\"yo\"}], \"d\": {\"b\": 1, \"a\": [1, 2], \"c\": null}, \"s\": \"h\303\251llo "
    "w\303\266rld\", \"n\": 7, \"f\": 2.5, \"t\": true, \"z\": null, \"l\": [3, 1, 2], \"e\": "
    "\"\", \"q\": \"it's \\\"x\\\"\\n\"}";

/* Each expected output is what Python's jinja2 printed for the template (HF's settings). */
static const struct {
    const char *tmpl, *want;
} renders[] = {
    {"{{ l }}|{{ d }}|{{ t }}|{{ z }}|{{ f }}|{{ 1.0 }}|{{ 10/4 }}|{{ 10//4 }}|{{ -7//2 }}|{{ -7%3 "
     "}}",
     "[3, 1, 2]|{'b': 1, 'a': [1, 2], 'c': None}|True|None|2.5|1.0|2.5|2|-4|2"},
    {"{{ [1, 'a', none, true, 1.5e20, 1e-5, 0.1] }}|{{ (1,) }}|{{ (1, 'b') }}|{{ {'k': 'v'} }}",
     "[1, 'a', None, True, 1.5e+20, 1e-05, 0.1]|(1,)|(1, 'b')|{'k': 'v'}"},
    {"{{ q }}|{{ [q] }}|{{ ['\\u00e9\\t'] }}", "it's \"x\"\n|['it\\'s \"x\"\\n']|['\303\251\\t']"},
    {"{{ undefined_thing }}|{{ d.nope }}|{{ z.attr }}|{{ msgs[5] }}", "|||"},
    {"{{ 3 * 'ab' }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 7 / 7 }}|{{ 1 + 2.0 }}|{{ 'a' ~ 1 ~ none }}",
     "ababab|1024|0.5|1.0|3.0|a1None"},
    {"{{ s|length }}|{{ s[1] }}|{{ s[-1] }}|{{ s[::-1] }}|{{ s[1:4] }}|{{ s[:-6:2] }}|{{ l[::-1] "
     "}}|{{ l[-2:] }}",
     "11|\303\251|d|dlr\303\266w oll\303\251h|\303\251ll|hlo|[2, 1, 3]|[1, 2]"},
    {"{{ s|upper }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ '  x  '|trim }}|{{ "
     "'a-b'|replace('-', '+') }}",
     "H\303\211LLO W\303\226RLD|Hello World|Hello|x|a+b"},
    {"{{ 'a,b,,c'.split(',') }}|{{ '  a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ "
     "'xxhixx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}",
     "['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|hi|a | a"},
    {"{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'aXbX'.replace('X', '-', 1) "
     "}}{{ 'Hi There'.lower() }}{{ 'hi there'.title() }}",
     "TrueTruea-bXhi thereHi There"},
    {"{{ '{} and {}'.format(1, 'b') }}|{{ '{0}{0}'.format('x') }}|{{ '%s-%d' % ('a', 3) }}|{{ "
     "'ab'.find('b') }}|{{ 'a.b.c'.rsplit('.', 1) }}",
     "1 and b|xx|a-3|1|['a.b', 'c']"},
    {"{{ '12'.isdigit() }}{{ 'a1'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ "
     "'AB1'.isupper() }}{{ 'ab'.islower() }}{{ ''.isdigit() }}{{ 'a.b'.count('.') }}{{ "
     "'abc'.removeprefix('a') }}",
     "TrueFalseTrueTrueTrueTrueFalse1bc"},
    {"{{ '\303\251' in s }}{{ 'x' in s }}{{ 1 in l }}{{ 'a' in d }}{{ 'q' not in d }}",
     "TrueFalseTrueTrueTrue"},
    {"{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ s|tojson }}|{{ [1.0, none, true]|tojson }}|{{ "
     "d|tojson(sort_keys=true) }}",
     "{\"b\": 1, \"a\": [1, 2], \"c\": null}|{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],\n  "
     "\"c\": null\n}|\"h\303\251llo w\303\266rld\"|[1.0, null, true]|{\"a\": [1, 2], \"b\": 1, "
     "\"c\": null}"},
    {"{{ d|tojson(separators=(',', ':')) }}|{{ '\303\251'|tojson(ensure_ascii=true) }}|{{ "
     "'\\x01\\n\"'|tojson }}",
     "{\"b\":1,\"a\":[1,2],\"c\":null}|\"\\u00e9\"|\"\\u0001\\n\\\"\""},
    {"{{ l|join(', ') }}|{{ l|sort }}|{{ l|sort(reverse=true) }}|{{ l|first }}|{{ l|last }}|{{ "
     "l|min }}|{{ l|max }}|{{ l|sum }}",
     "3, 1, 2|[1, 2, 3]|[3, 2, 1]|3|2|1|3|6"},
    {"{{ d|items|list }}|{{ d.items()|list }}|{{ d.keys()|list }}|{{ d|dictsort }}|{{ d|length }}",
     "[('b', 1), ('a', [1, 2]), ('c', None)]|[('b', 1), ('a', [1, 2]), ('c', None)]|['b', 'a', "
     "'c']|[('a', [1, 2]), ('b', 1), ('c', None)]|3"},
    {"{{ msgs|selectattr('role', 'equalto', 'user')|list }}|{{ msgs|rejectattr('role', 'eq', "
     "'user')|map(attribute='content')|list }}",
     "[{'role': 'user', 'content': 'hi'}]|['yo']"},
    {"{{ msgs|map(attribute='role')|join('/') }}|{{ ['a', 'B']|map('upper')|list }}|{{ [1, 0, "
     "2]|select|list }}|{{ [1, 2, 3]|reject('odd')|list }}",
     "user/assistant|['A', 'B']|[1, 2]|[2]"},
    {"{{ nope|default('dflt') }}|{{ e|default('x', true) }}|{{ z|default('y') }}|{{ '12'|int + 1 "
     "}}|{{ 'x'|int }}|{{ 3|float }}|{{ 2.567|round(2) }}|{{ -3|abs }}",
     "dflt|x|None|13|0|3.0|2.57|3"},
    {"{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ ['b', 'A', 'a']|unique|list "
     "}}|{{ n|string ~ 'x' }}|{{ l|reverse|list }}|{{ 'ab'|list }}",
     "a\n  b\n\n  c|  a\n  b|['b', 'A']|7x|[2, 1, 3]|['a', 'b']"},
    {"{{ '<a & b>'|e }}|{{ 'x'|safe + '<' }}|{{ l|count }}|{{ 'a b  c'|wordcount }}",
     "&lt;a &amp; b&gt;|x&lt;|3|3"},
    {"{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ d is mapping }}{{ l is sequence }}{{ "
     "s is string }}{{ n is number }}{{ f is float }}{{ n is integer }}",
     "TrueFalseTrueTrueTrueTrueTrueTrueTrue"},
    {"{{ t is true }}{{ t is false }}{{ t is boolean }}{{ z is none }}{{ nope is defined }}{{ nope "
     "is undefined }}{{ l is iterable }}{{ n is iterable }}{{ 'AB' is upper }}",
     "TrueFalseTrueTrueFalseTrueTrueFalseTrue"},
    {"{{ 3 is gt 2 }}{{ 3 is lt(2) }}{{ 2 is in [1, 2] }}{{ none is sameas none }}{{ n is not none "
     "}}",
     "TrueFalseTrueTrueTrue"},
    {"{% for m in msgs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ "
     "loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{% endfor %}",
     "10TrueFalse22121FalseTrue210"},
    {"{% for m in msgs %}{{ loop.previtem.role if loop.previtem is defined else '-' }}{{ "
     "loop.nextitem.role if loop.nextitem else '-' }}{{ loop.cycle('a', 'b') }}{% endfor %}",
     "-assistantauser-b"},
    {"{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] "
     "%}{{ x }}{% else %}empty{% endfor %}",
     "3222|empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor "
     "%}|{% for c in 'ab' %}{{ c }}.{% endfor %}",
     "b=1;a=[1, 2];c=None;|bac|a.b."},
    {"{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break "
     "%}{% endif %}{{ x }}{% endfor %}",
     "13"},
    {"{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }}|{% set ns = namespace(x=1) "
     "%}{% for i in l %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
     "1|7"},
    {"{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}|{{ 'y' if t else 'n' }}|{{ "
     "'y' if z }}|{{ t and 'A' or 'B' }}|{{ z or 'C' }}|{{ not t }}",
     "big|y||A|C|False"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set blk %}in {{ n }}{% endset %}{{ blk|upper }}|{% "
     "filter upper %}f{{ n }}{% endfilter %}",
     "12|IN 7|F7"},
    {"{% macro hi(name, p='!') %}Hi {{ name }}{{ p }}{% endmacro %}{{ hi('a') }}|{{ hi('b', p='?') "
     "}}|{{ hi(name='c') }}",
     "Hi a!|Hi b?|Hi c!"},
    {"{% macro wrap(x) %}[{{ caller() }}{{ x }}]{% endmacro %}{% call wrap(1) %}body{% endcall "
     "%}|{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}",
     "[body1]|(1, 2){'k': 3}"},
    {"a\n  {% if t %}\n    yes\n  {% endif %}\nb\n{# c #}\nc  {%- if t -%}  d  {%- endif %}\n{{- ' "
     "e ' -}}\n f{% raw %}{{ x }}{% endraw %}\n",
     "a\n    yes\nb\ncd e f{{ x }}"},
    {"  {%+ if t %}x{% endif %}\n{% if t +%}\ny{% endif %}", "  x\ny"},
    {"{{ range(3)|list }}|{{ range(1, 7, 2)|list }}|{{ range(5, 0, -2)|list }}|{{ dict(a=1, b=2) "
     "}}|{{ namespace(a=1).a }}",
     "[0, 1, 2]|[1, 3, 5]|[5, 3, 1]|{'a': 1, 'b': 2}|1"},
    {"{% if nope|items %}generator{% endif %}|{% if {}.items() %}view{% endif %}|a\013b\014{#",
     "generator||a\013b\014"},
    {"{{ 1 < 2 < 3 }}{{ 1 < 2 > 3 }}{{ 1 == 1.0 }}{{ 'a' < 'b' }}{{ [1, 2] == [1, 2] }}{{ d == "
     "{'b': 1, 'a': [1, 2], 'c': none} }}{{ true == 1 }}",
     "TrueFalseTrueTrueTrueTrueTrue"},
    {"{{ \"a\" 'b' }}|{{ 'it\\'s' }}|{{ \"\\x41\\u00e9\\n\" }}|{{ 1_000 }}|{{ 1.5e3 }}",
     "ab|it's|A\303\251\n|1000|1500.0"},
};

/* Templates jinja2 refuses too; want: a part of hearth's message. */
static const struct {
    const char *tmpl, *want;
} failures[] = {
    {"line1\n{{ raise_exception('Nope: ' ~ n) }}", "template line 2: Nope: 7"},
    {"a\nb\n{% if x %}", "template line 3: unexpected end of template, expected 'elif'"},
    {"{{ nope.x }}", "template line 1: 'nope' is undefined"},
    {"\n{{ 1 + 'a' }}", "template line 2: unsupported operand type(s) for +: 'int' and 'str'"},
    {"{{ x|nosuchfilter }}", "template line 1: no filter named 'nosuchfilter'"},
    {"{{ d.pop('a') }}", "is unsafe"},
    {"{% for a in n %}{% endfor %}", "'int' object is not iterable"},
    {"{{ 1 / 0 }}", "division by zero"},
    {"{% include 'x' %}", "not supported"},
    {"{{ msgs|map(attribute='role')|length }}", "has no len()"},
    {"{{ (1, 2)|tojson }}x{{ nope|tojson }}", "not JSON serializable"},
    {"{% break %}", "outside a loop"},
    {"{{ 'a' ", "unexpected end of template"},
    {"{% set a, b = [1] %}", "not enough values to unpack"},
    {"{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
     "macro 'm' takes not more than 1 argument(s)"},
    {"{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, b=2) }}",
     "macro 'm' takes no keyword argument 'b'"},
    {"{% macro m() %}x{% endmacro %}{% call m() %}y{% endcall %}", "special caller argument"},
    {"{{ 'a'|replace(old='a', new='b', x=1) }}", "unexpected keyword argument 'x'"},
    {"{{ range(a=1, 2) }}", "invalid syntax for function call expression"},
    {"{% if 1 if t %}x{% endif %}", "expected"},
    {"{{ d.update.x }}", "is unsafe"},
    {"{{ d|tojson(separators=',') }}", "separators"},
};

static char *render(const char *tmpl, json_t *vars, const struct jinja_limits *lim, struct err *e)
{
    char *out = NULL;
    memset(e, 0, sizeof *e);
    if (jinja_render(tmpl, strlen(tmpl), vars, lim, &out, e))
        return NULL;
    return out;
}

static void test_renders(json_t *vars)
{
    for (size_t i = 0; i < sizeof renders / sizeof renders[0]; i++) {
        struct err e;
        char *out = render(renders[i].tmpl, vars, NULL, &e);
        if (!out)
            fprintf(stderr, "case %zu failed: %s\n", i, e.msg);
        CHECK_STR(out, renders[i].want);
        free(out);
    }
}

static void test_failures(json_t *vars)
{
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        struct err e;
        char *out = render(failures[i].tmpl, vars, NULL, &e);
        CHECK(out == NULL);
        CHECK(e.code == ERR_BAD_REQUEST);
        if (!strstr(e.msg, failures[i].want))
            fprintf(stderr, "failure %zu: \"%s\" lacks \"%s\"\n", i, e.msg, failures[i].want);
        CHECK(strstr(e.msg, failures[i].want) != NULL);
        free(out);
    }
}

static void expect_cap(const char *tmpl, const struct jinja_limits *lim, int code, const char *want)
{
    struct err e;
    char *out = render(tmpl, NULL, lim, &e);
    CHECK(out == NULL);
    CHECK(e.code == code);
    if (!strstr(e.msg, want))
        fprintf(stderr, "cap: \"%s\" lacks \"%s\"\n", e.msg, want);
    CHECK(strstr(e.msg, want) != NULL);
    free(out);
}

static void test_caps(void)
{
    struct jinja_limits lim;
    jinja_default_limits(&lim);
    lim.max_iterations = 1000;
    expect_cap("\n{% for i in range(10) %}{% for j in range(200) %}{% endfor %}{% endfor %}", &lim,
               ERR_TOO_LARGE, "line 2: loops ran more than 1000 iterations");
    jinja_default_limits(&lim);
    lim.max_output = 100;
    expect_cap("{% for i in range(50) %}abc{% endfor %}", &lim, ERR_TOO_LARGE,
               "output is over 100 bytes");
    expect_cap("{{ 'x' * 1000 }}", &lim, ERR_TOO_LARGE, "over 100 bytes");
    jinja_default_limits(&lim);
    lim.max_depth = 10;
    expect_cap("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n\n{{ f(0) }}", &lim, ERR_TOO_LARGE,
               "line 1: macro calls nest deeper than 10");
    expect_cap("{{ "
               "((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))"
               ")))))) }}",
               &lim, ERR_TOO_LARGE, "nests too deeply");
    jinja_default_limits(&lim);
    lim.max_nodes = 50;
    expect_cap(
        "{{ [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, "
        "23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, "
        "44, 45, 46, 47, 48, 49, 50, 51] }}",
        &lim, ERR_TOO_LARGE, "more than 50 nodes");
    jinja_default_limits(&lim);
    lim.max_template = 10;
    expect_cap("{{ 'more than ten bytes' }}", &lim, ERR_TOO_LARGE, "over 10 bytes");
    jinja_default_limits(&lim);
    lim.max_memory = 1 << 20;
    expect_cap("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s "
               "%}{% endfor %}",
               &lim, ERR_TOO_LARGE, "bytes of memory");
    /* a deep parse without the cap would overflow the stack */
    char *deep = malloc(400010);
    size_t k = 0;
    deep[k++] = '{';
    deep[k++] = '{';
    for (int i = 0; i < 200000; i++)
        deep[k++] = '[';
    deep[k++] = '1';
    for (int i = 0; i < 200000; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k++] = '}';
    deep[k] = '\0';
    expect_cap(deep, NULL, ERR_TOO_LARGE, "nests too deeply");
    free(deep);
    /* range() is capped the way jinja2's sandbox caps it */
    expect_cap("{{ range(1000000)|length }}", NULL, ERR_BAD_REQUEST, "range too big");
}

/* chat_render gives a template what transformers gives it. */
static void test_chat_render(void)
{
    const char *tmpl = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}"
                       "{% for tc in m.tool_calls or [] %}[{{ tc.function.name }} "
                       "{{ tc.function.arguments|tojson }}]{% endfor %}{% endfor %}"
                       "{% if tools is defined %}T{{ tools|length }}{% endif %}"
                       "{% if add_generation_prompt %}<assistant>{% endif %}{{ eos_token }}"
                       "{{ enable_thinking }}";
    json_t *msgs =
        json_loads("[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\","
                   "\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1,\"b\":\"é\"}}}]}]",
                   0, NULL);
    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", 0, NULL);
    json_t *kw = json_pack("{s:b}", "enable_thinking", 0);
    struct chat_input in = {
        .messages = msgs, .add_generation_prompt = 1, .bos_token = "<s>", .eos_token = "</s>"};
    char *out = NULL;
    struct err e = {0};
    CHECK(chat_render(tmpl, &in, &out, &e) == 0);
    CHECK_STR(out, "<s><user>hi<assistant>None[f {\"a\": 1, \"b\": \"é\"}]<assistant></s>");
    free(out);
    in.tools = tools;
    in.kwargs = kw;
    in.add_generation_prompt = 0;
    CHECK(chat_render(tmpl, &in, &out, &e) == 0);
    CHECK_STR(out, "<s><user>hi<assistant>None[f {\"a\": 1, \"b\": \"é\"}]T1</s>False");
    free(out);
    /* A template that prints the arguments as they come wants OpenAI's JSON string. */
    CHECK(chat_render("{% for m in messages %}{% for tc in m.tool_calls or [] %}"
                      "{{ tc.function.arguments }}{% endfor %}{% endfor %}",
                      &in, &out, &e) == 0);
    CHECK_STR(out, "{\"a\": 1, \"b\": \"é\"}");
    free(out);
    /* ... while one that iterates them keeps the object. */
    CHECK(chat_render("{% for m in messages %}{% for tc in m.tool_calls or [] %}"
                      "{% for k, v in tc.function.arguments.items() %}{{ k }}={{ v }};{% endfor %}"
                      "{% endfor %}{% endfor %}",
                      &in, &out, &e) == 0);
    CHECK_STR(out, "a=1;b=é;");
    free(out);
    /* A template that fails on a null content or on object arguments gets "" and JSON text. */
    CHECK(chat_render("{% for m in messages %}{{ m.content + '|' }}{% endfor %}", &in, &out, &e) ==
          0);
    CHECK_STR(out, "hi||");
    free(out);
    CHECK(chat_render("{{ '<f>' + messages[1].tool_calls[0].function.arguments }}", &in, &out,
                      &e) == 0);
    CHECK_STR(out, "<f>{\"a\": 1, \"b\": \"é\"}");
    free(out);
    CHECK(chat_render("{{ raise_exception('no tools here') }}", &in, &out, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "chat template: template line 1: no tools here") != NULL);
    CHECK(out == NULL);
    CHECK(chat_render("", &in, &out, &e) == ERR_BAD_REQUEST);
    /* the plain fallback and llama.h's built-ins */
    CHECK(chat_render_plain(&in, &out, &e) == 0);
    CHECK_STR(out, "User: hi\n\nAssistant: \n[call f {\"a\":1,\"b\":\"é\"}]\n\n");
    free(out);
    CHECK(chat_render_builtin("chatml", &in, &out, &e) == 0);
    CHECK_STR(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n");
    free(out);
    CHECK(chat_render_builtin("{{ .Prompt }}", &in, &out, &e) == ERR_BAD_REQUEST);
    /* a built-in format's name, as llama-server's --chat-template takes it */
    CHECK(chat_render("chatml", &in, &out, &e) == 0);
    CHECK_STR(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n");
    free(out);
    json_decref(msgs);
    json_decref(tools);
    json_decref(kw);
}

int main(void)
{
    json_t *vars = json_loads(VARS, 0, NULL);
    CHECK(vars != NULL);
    test_renders(vars);
    test_failures(vars);
    test_caps();
    test_chat_render();
    /* the length argument: the template need not be NUL-terminated */
    char *out = NULL;
    struct err e = {0};
    CHECK(jinja_render("{{ 1 }}{{ 2 }}", 7, NULL, NULL, &out, &e) == 0);
    CHECK_STR(out, "1");
    free(out);
    json_decref(vars);
    return check_done("test_jinja");
}
