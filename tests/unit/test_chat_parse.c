/* The output parsers on recorded outputs of each family: fed whole, split at every byte
 * boundary and one byte at a time, the content, reasoning and tool calls must be the same. */
#include "base/buf.h"
#include "base/err.h"
#include "chat/chat_parse.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* The result as one string: content, reasoning, each call, the number of warnings; also
 * checks that the deltas add up to the totals. */
static char *summary(struct chat_parser *p, struct buf *dc, struct buf *dr, struct buf *dt)
{
    size_t cl, rl;
    const char *c = chat_parser_content(p, &cl);
    const char *r = chat_parser_reasoning(p, &rl);
    CHECK(cl == dc->len && (!cl || !memcmp(c, dc->data, cl)));
    CHECK(rl == dr->len && (!rl || !memcmp(r, dr->data, rl)));
    struct buf s;
    buf_init(&s, 0);
    buf_printf(&s, "C[%.*s] R[%.*s]", (int)cl, c, (int)rl, r);
    size_t i;
    json_t *call;
    struct buf calls;
    buf_init(&calls, 0);
    json_array_foreach(chat_parser_tool_calls(p), i, call)
    {
        json_t *fn = json_object_get(call, "function");
        char *a = json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT | JSON_PRESERVE_ORDER);
        buf_printf(&calls, " T[%s %s]", json_string_value(json_object_get(fn, "name")), a);
        free(a);
    }
    CHECK(calls.len == dt->len && (!calls.len || !strcmp(calls.data, dt->data)));
    buf_append(&s, calls.data ? calls.data : "", calls.len);
    buf_free(&calls);
    buf_printf(&s, " W%zu", json_array_size(chat_parser_warnings(p)));
    return buf_steal(&s);
}

static void take(struct chat_parser *p, struct buf *dc, struct buf *dr, struct buf *dt)
{
    size_t n;
    const struct chat_delta *d = chat_parser_deltas(p, &n);
    for (size_t i = 0; i < n; i++) {
        if (d[i].kind == CHAT_DELTA_CONTENT)
            buf_append(dc, d[i].text, d[i].len);
        else if (d[i].kind == CHAT_DELTA_REASONING)
            buf_append(dr, d[i].text, d[i].len);
        else {
            CHECK(d[i].index == (int)(json_array_size(chat_parser_tool_calls(p)) - (n - i)) ||
                  d[i].index >= 0);
            CHECK(d[i].id && !strncmp(d[i].id, "call_", 5) ? 1 : d[i].id != NULL);
            buf_printf(dt, " T[%s %s]", d[i].name, d[i].arguments);
        }
    }
}

/* Parses text cut at the given points (cuts: ascending offsets, n_cuts of them). */
static char *parse_cut(const struct chat_parse_opts *o, const char *text, const size_t *cuts,
                       size_t n_cuts)
{
    struct chat_parser *p = chat_parser_new(o);
    struct buf dc, dr, dt;
    buf_init(&dc, 0);
    buf_init(&dr, 0);
    buf_init(&dt, 0);
    size_t at = 0, len = strlen(text);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = cuts && i < n_cuts ? cuts[i] : len;
        chat_parser_feed(p, text + at, to - at);
        take(p, &dc, &dr, &dt);
        at = to;
    }
    chat_parser_finish(p);
    take(p, &dc, &dr, &dt);
    char *s = summary(p, &dc, &dr, &dt);
    buf_free(&dc);
    buf_free(&dr);
    buf_free(&dt);
    chat_parser_free(p);
    return s;
}

static int n_cases;

static void check_parse(enum chat_syntax syn, int in_reasoning, const char *text,
                        const char *expect)
{
    struct chat_parse_opts o = {.syntax = syn,
                                .tools = 1,
                                .in_reasoning = in_reasoning,
                                .split_reasoning = 1,
                                .id_seed = 7};
    n_cases++;
    char *whole = parse_cut(&o, text, NULL, 0);
    CHECK_STR(whole, expect);
    size_t len = strlen(text);
    /* Every split in two. */
    for (size_t i = 1; i < len; i++) {
        char *s = parse_cut(&o, text, &i, 1);
        if (strcmp(s, whole) != 0)
            fprintf(stderr, "split at %zu of %s:\n  %s\n  %s\n", i, chat_syntax_name(syn), s,
                    whole);
        CHECK(!strcmp(s, whole));
        free(s);
    }
    /* One byte at a time. */
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    char *s = parse_cut(&o, text, cuts, len ? len - 1 : 0);
    CHECK_STR(s, whole);
    free(s);
    free(cuts);
    free(whole);
}

#define DS_CALLS_BEGIN                                                                             \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "begin\xef\xbd\x9c>"
#define DS_CALLS_END                                                                               \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN                                                                              \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "begin\xef\xbd\x9c>"
#define DS_CALL_END                                                                                \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "end\xef\xbd\x9c>"
#define DS_SEP                                                                                     \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "sep\xef\xbd\x9c>"

static void test_hermes(void)
{
    /* Qwen 2.5 / Hermes 2 Pro. */
    check_parse(CHAT_SYNTAX_HERMES, 0,
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                "</tool_call>",
                "C[] R[] T[get_weather {\"city\":\"Paris\"}] W0");
    check_parse(CHAT_SYNTAX_HERMES, 0,
                "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
                "<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": [1, 2]}\"}\n"
                "</tool_call>",
                "C[Let me check.] R[] T[a {}] T[b {\"x\":[1,2]}] W0");
    /* Qwen3: thinking first, the prompt did not open it. */
    check_parse(CHAT_SYNTAX_HERMES, 0,
                "<think>\nThe user wants the weather.\n</think>\n\n<tool_call>\n{\"name\": "
                "\"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
                "C[] R[The user wants the weather.] T[get_weather {\"city\":\"Oslo\"}] W0");
    /* The prompt opened <think> (Qwen3 thinking, DeepSeek-R1). */
    check_parse(CHAT_SYNTAX_HERMES, 1, "Two plus two.\n</think>\n\nIt is 4.",
                "C[It is 4.] R[Two plus two.] W0");
    /* Malformed: back as text with a warning. */
    check_parse(
        CHAT_SYNTAX_HERMES, 0,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>",
        "C[<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n"
        "</tool_call>] R[] W1");
    check_parse(CHAT_SYNTAX_HERMES, 0, "<tool_call>\n{\"arguments\": {}}\n</tool_call>",
                "C[<tool_call>\n{\"arguments\": {}}\n</tool_call>] R[] W1");
    /* Cut off before the closing tag: the call is tried as it is. */
    check_parse(CHAT_SYNTAX_HERMES, 0, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}",
                "C[] R[] T[f {\"a\":1}] W0");
    /* A marker's prefix that turns out to be text. */
    check_parse(CHAT_SYNTAX_HERMES, 0, "a <tool_ b <think> c\n",
                "C[a <tool_ b <think> c\n] R[] W0");
}

static void test_llama3(void)
{
    check_parse(CHAT_SYNTAX_LLAMA3, 0,
                "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Tokyo\"}}",
                "C[] R[] T[get_weather {\"location\":\"Tokyo\"}] W0");
    check_parse(CHAT_SYNTAX_LLAMA3, 0,
                "<|python_tag|>{\"name\": \"search\", \"parameters\": {\"q\": \"x\"}}",
                "C[] R[] T[search {\"q\":\"x\"}] W0");
    check_parse(CHAT_SYNTAX_LLAMA3, 0, "<|python_tag|>print(1 + 1)",
                "C[] R[] T[python {\"code\":\"print(1 + 1)\"}] W0");
    check_parse(CHAT_SYNTAX_LLAMA3, 0, "{\"answer\": 42} is JSON",
                "C[{\"answer\": 42} is JSON] R[] W0");
    check_parse(CHAT_SYNTAX_LLAMA3, 0, "Hello there.", "C[Hello there.] R[] W0");
    check_parse(CHAT_SYNTAX_LLAMA3, 0, "{\"name\": \"f\", \"parameters\": {\"a\": ",
                "C[{\"name\": \"f\", \"parameters\": {\"a\": ] R[] W1");
}

static void test_mistral(void)
{
    check_parse(CHAT_SYNTAX_MISTRAL, 0,
                "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}, "
                "\"id\": \"abc123xyz\"}, {\"name\": \"b\", \"arguments\": {}}]",
                "C[] R[] T[get_weather {\"city\":\"Rome\"}] T[b {}] W0");
    check_parse(CHAT_SYNTAX_MISTRAL, 0, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}",
                "C[] R[] T[get_weather {\"city\":\"Rome\"}] W0");
    check_parse(CHAT_SYNTAX_MISTRAL, 0, "[THINK]Hmm.[/THINK]Fine.", "C[Fine.] R[Hmm.] W0");
    check_parse(CHAT_SYNTAX_MISTRAL, 0, "[TOOL_CALLS][{\"name\": 3}]",
                "C[[TOOL_CALLS][{\"name\": 3}]] R[] W1");
}

static void test_deepseek(void)
{
    /* DeepSeek R1. */
    check_parse(CHAT_SYNTAX_DEEPSEEK, 1,
                "I should call it.\n</think>\n\n" DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP
                "get_weather\n```json\n{\"city\": \"Lima\"}\n```" DS_CALL_END "\n" DS_CALL_BEGIN
                "function" DS_SEP "get_time\n```json\n{}\n```" DS_CALL_END DS_CALLS_END,
                "C[] R[I should call it.] T[get_weather {\"city\":\"Lima\"}] T[get_time {}] W0");
    /* DeepSeek V3.1. */
    check_parse(CHAT_SYNTAX_DEEPSEEK, 0,
                DS_CALLS_BEGIN DS_CALL_BEGIN "get_weather" DS_SEP
                                             "{\"city\": \"Lima\"}" DS_CALL_END DS_CALLS_END,
                "C[] R[] T[get_weather {\"city\":\"Lima\"}] W0");
    check_parse(CHAT_SYNTAX_DEEPSEEK, 0,
                DS_CALLS_BEGIN DS_CALL_BEGIN "get_weather" DS_SEP "{bad" DS_CALL_END DS_CALLS_END,
                "C[" DS_CALLS_BEGIN DS_CALL_BEGIN "get_weather" DS_SEP
                "{bad" DS_CALL_END DS_CALLS_END "] R[] W1");
}

static void test_functionary(void)
{
    check_parse(CHAT_SYNTAX_FUNCTIONARY, 0,
                "Sure. <function=get_weather>{\"city\": \"Bern\"}</function>",
                "C[Sure.] R[] T[get_weather {\"city\":\"Bern\"}] W0");
    check_parse(CHAT_SYNTAX_FUNCTIONARY_V32, 0,
                "get_weather\n{\"city\": \"Bern\"}>>>get_time\n{\"tz\": \"CET\"}",
                "C[] R[] T[get_weather {\"city\":\"Bern\"}] T[get_time {\"tz\":\"CET\"}] W0");
    check_parse(CHAT_SYNTAX_FUNCTIONARY_V32, 0, "all\nHello, how can I help?",
                "C[Hello, how can I help?] R[] W0");
}

static void test_generic(void)
{
    check_parse(CHAT_SYNTAX_GENERIC, 0,
                "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {\"a\": \"}\"}}]}",
                "C[] R[] T[f {\"a\":\"}\"}] W0");
    check_parse(CHAT_SYNTAX_GENERIC, 0, "{\"tool_call\": {\"name\": \"g\", \"arguments\": {}}}",
                "C[] R[] T[g {}] W0");
    check_parse(CHAT_SYNTAX_GENERIC, 0, "{\"response\": \"Hi there\"}", "C[Hi there] R[] W0");
}

static void test_harmony(void)
{
    check_parse(CHAT_SYNTAX_HARMONY, 0,
                "<|channel|>analysis<|message|>User asks weather.<|end|><|start|>assistant"
                "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                "{\"city\": \"Kyiv\"}<|call|>",
                "C[] R[User asks weather.] T[get_weather {\"city\":\"Kyiv\"}] W0");
    check_parse(CHAT_SYNTAX_HARMONY, 0,
                "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final"
                "<|message|>The answer is 4.<|return|>",
                "C[The answer is 4.] R[Easy.] W0");
    check_parse(CHAT_SYNTAX_HARMONY, 0,
                "<|start|>assistant to=functions.lookup<|channel|>commentary json<|message|>"
                "{\"id\": 5}<|call|>",
                "C[] R[] T[lookup {\"id\":5}] W0");
}

static void test_no_tools(void)
{
    /* tools off: tool markup is content; reasoning still splits. */
    struct chat_parse_opts o = {.syntax = CHAT_SYNTAX_HERMES, .split_reasoning = 1};
    char *s = parse_cut(&o, "<think>x</think><tool_call>{\"name\":\"f\"}</tool_call>", NULL, 0);
    CHECK_STR(s, "C[<tool_call>{\"name\":\"f\"}</tool_call>] R[x] W0");
    free(s);
    /* split_reasoning off: the think tags stay. */
    o.split_reasoning = 0;
    s = parse_cut(&o, "<think>x</think>y", NULL, 0);
    CHECK_STR(s, "C[<think>x</think>y] R[] W0");
    free(s);
}

static void test_detect(void)
{
    CHECK(chat_syntax_detect(NULL) == CHAT_SYNTAX_NONE);
    CHECK(chat_syntax_detect("{{ messages }}") == CHAT_SYNTAX_NONE);
    CHECK(chat_syntax_detect("{% if tools %}<tool_call>{% endif %}") == CHAT_SYNTAX_HERMES);
    CHECK(chat_syntax_detect("<|channel|>final") == CHAT_SYNTAX_HARMONY);
    CHECK(chat_syntax_detect("[TOOL_CALLS]") == CHAT_SYNTAX_MISTRAL);
    CHECK(chat_syntax_detect("{% if tools %}{{ tools }}{% endif %}") == CHAT_SYNTAX_GENERIC);
    CHECK(chat_syntax_from_name("hermes") == CHAT_SYNTAX_HERMES);
    CHECK(chat_syntax_from_name("nope") == -1);
    CHECK_STR(chat_syntax_name(CHAT_SYNTAX_FUNCTIONARY_V32), "functionary-v3.2");
    CHECK(chat_prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
    CHECK(!chat_prompt_opens_reasoning("<|im_start|>assistant\n"));
}

/* A schema converter that answers with one rule, to see where the grammar places it. */
static int one_rule(json_t *schema, const char *prefix, char **out, struct err *e)
{
    (void)e;
    const char *city = json_string_value(
        json_object_get(json_object_get(json_object_get(schema, "properties"), "city"), "type"));
    char buf[128];
    snprintf(buf, sizeof buf, "%sroot ::= \"{\\\"city\\\": \\\"%s\\\"}\"", prefix,
             city ? city : "?");
    *out = strdup(buf);
    return 0;
}

static void test_grammar(void)
{
    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                               "\"parameters\":{\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
                               "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]",
                               0, NULL);
    struct err e = {0};
    char *g = NULL;
    CHECK(chat_tool_grammar(CHAT_SYNTAX_HERMES, tools, NULL, 1, 0, NULL, &g, &e) == 0);
    CHECK(g && strstr(g, "root ::= call ( \"\\n\" call )*"));
    CHECK(g &&
          strstr(
              g,
              "\"<tool_call>\\n{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \" t0-root"));
    CHECK(g && strstr(g, "get_time") && strstr(g, "t1-root ::="));
    free(g);
    g = NULL;
    CHECK(chat_tool_grammar(CHAT_SYNTAX_HERMES, tools, "get_time", 0, 1, one_rule, &g, &e) == 0);
    CHECK(g && !strstr(g, "get_weather") && strstr(g, "t0-root ::= \"{\\\"city\\\": \\\"?\\\"}\""));
    CHECK(g && strstr(g, "root ::= think call"));
    free(g);
    g = NULL;
    CHECK(chat_tool_grammar(CHAT_SYNTAX_HERMES, tools, "get_weather", 0, 0, one_rule, &g, &e) == 0);
    CHECK(g && strstr(g, "t0-root ::= \"{\\\"city\\\": \\\"string\\\"}\""));
    free(g);
    g = NULL;
    CHECK(chat_tool_grammar(CHAT_SYNTAX_HERMES, tools, "nope", 0, 0, NULL, &g, &e) ==
          ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "nope") != NULL);
    CHECK(chat_tool_grammar(CHAT_SYNTAX_NONE, tools, NULL, 0, 0, NULL, &g, &e) == ERR_BAD_REQUEST);
    CHECK(!g);
    CHECK(chat_tool_grammar(CHAT_SYNTAX_MISTRAL, tools, NULL, 1, 0, NULL, &g, &e) == 0);
    CHECK(g && strstr(g, "root ::= \"[TOOL_CALLS][\" call ( \", \" call )* \"]\""));
    free(g);
    json_decref(tools);
}

int main(void)
{
    test_hermes();
    test_llama3();
    test_mistral();
    test_deepseek();
    test_functionary();
    test_generic();
    test_harmony();
    test_no_tools();
    test_detect();
    test_grammar();
    return check_done("test_chat_parse");
}
