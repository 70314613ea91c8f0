/* Which family a chat template belongs to, and the grammar that forces a tool call in it. */
#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"
#include "chat/chat_parse_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[CHAT_SYNTAX_COUNT] = {
    [CHAT_SYNTAX_NONE] = "none",
    [CHAT_SYNTAX_HERMES] = "hermes",
    [CHAT_SYNTAX_LLAMA3] = "llama3",
    [CHAT_SYNTAX_MISTRAL] = "mistral",
    [CHAT_SYNTAX_DEEPSEEK] = "deepseek",
    [CHAT_SYNTAX_FUNCTIONARY] = "functionary",
    [CHAT_SYNTAX_FUNCTIONARY_V32] = "functionary-v3.2",
    [CHAT_SYNTAX_GENERIC] = "generic",
    [CHAT_SYNTAX_HARMONY] = "harmony",
};

const char *chat_syntax_name(enum chat_syntax s)
{
    return (unsigned)s < CHAT_SYNTAX_COUNT ? names[s] : "none";
}

int chat_syntax_from_name(const char *name)
{
    for (int i = 0; name && i < CHAT_SYNTAX_COUNT; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

/* The most specific markers first: several families' templates also hold others' words
 * (a DeepSeek template mentions "tools"; Functionary 3.1 holds <|python_tag|>). */
enum chat_syntax chat_syntax_detect(const char *t)
{
    if (!t || !*t)
        return CHAT_SYNTAX_NONE;
    if (strstr(t, "<|channel|>"))
        return CHAT_SYNTAX_HARMONY;
    if (strstr(t, "tool\xe2\x96\x81"
                  "calls\xe2\x96\x81"
                  "begin"))
        return CHAT_SYNTAX_DEEPSEEK;
    if (strstr(t, "[TOOL_CALLS]"))
        return CHAT_SYNTAX_MISTRAL;
    if (strstr(t, ">>>all"))
        return CHAT_SYNTAX_FUNCTIONARY_V32;
    if (strstr(t, "<tool_call>"))
        return CHAT_SYNTAX_HERMES;
    if (strstr(t, "<function="))
        return CHAT_SYNTAX_FUNCTIONARY;
    if (strstr(t, "<|python_tag|>") || (strstr(t, "<|start_header_id|>") && strstr(t, "ipython")))
        return CHAT_SYNTAX_LLAMA3;
    if (strstr(t, "tools") || strstr(t, "tool_calls"))
        return CHAT_SYNTAX_GENERIC;
    return CHAT_SYNTAX_NONE;
}

int chat_syntax_needs_special(enum chat_syntax s)
{
    return s == CHAT_SYNTAX_HARMONY || s == CHAT_SYNTAX_DEEPSEEK || s == CHAT_SYNTAX_MISTRAL ||
           s == CHAT_SYNTAX_LLAMA3 || s == CHAT_SYNTAX_FUNCTIONARY;
}

int chat_prompt_opens_reasoning(const char *prompt)
{
    if (!prompt)
        return 0;
    size_t n = strlen(prompt);
    while (n && strchr(" \t\r\n", prompt[n - 1]))
        n--;
    return (n >= 7 && !memcmp(prompt + n - 7, "<think>", 7)) ||
           (n >= 7 && !memcmp(prompt + n - 7, "[THINK]", 7));
}

/* ---- the grammar ---- */

/* The rules for one tool's arguments, all named prefix..., the root <prefix>root: through the
 * caller's schema converter, or any JSON object when there is none. */
static int args_rules(json_t *params, const char *prefix, chat_schema_fn schema, struct buf *g,
                      struct err *e)
{
    if (schema) {
        char *rules = NULL;
        int rc = schema(params, prefix, &rules, e);
        if (!rc && buf_puts(g, rules))
            rc = err_set(e, ERR_TOO_LARGE, "the tools' grammar is too large");
        if (!rc && rules && rules[0] && rules[strlen(rules) - 1] != '\n')
            buf_puts(g, "\n");
        free(rules);
        return rc;
    }
    buf_printf(g,
               "%sroot ::= %sobj\n"
               "%sobj ::= \"{\" %sws ( %sstr %sws \":\" %sws %sval ( %sws \",\" %sws %sstr %sws "
               "\":\" %sws %sval )* )? %sws \"}\"\n"
               "%sarr ::= \"[\" %sws ( %sval ( %sws \",\" %sws %sval )* )? %sws \"]\"\n"
               "%sval ::= %sobj | %sarr | %sstr | %snum | \"true\" | \"false\" | \"null\"\n"
               "%sstr ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" "
               "[0-9a-fA-F]{4} ) )* \"\\\"\"\n"
               "%snum ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] "
               "[-+]? [0-9]{1,3} )?\n"
               "%sws ::= [ \\t\\n]{0,20}\n",
               prefix, prefix, /* root */
               prefix, prefix, prefix, prefix, prefix, prefix, prefix, prefix, prefix, prefix,
               prefix, prefix, prefix,                                 /* obj */
               prefix, prefix, prefix, prefix, prefix, prefix, prefix, /* arr */
               prefix, prefix, prefix, prefix, prefix,                 /* val */
               prefix, prefix, prefix);
    return 0;
}

static int valid_fn_name(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.' || *s == ':'))
            return 0;
    return 1;
}

/* One call to function name (arguments rule args) as the syntax writes it, as a GBNF sequence. */
static void call_seq(enum chat_syntax s, const char *name, const char *args, struct buf *g)
{
    switch (s) {
    case CHAT_SYNTAX_HERMES:
        buf_printf(g,
                   "\"<tool_call>\\n{\\\"name\\\": \\\"%s\\\", \\\"arguments\\\": \" %s "
                   "\"}\\n</tool_call>\"",
                   name, args);
        break;
    case CHAT_SYNTAX_LLAMA3:
        buf_printf(g, "\"{\\\"name\\\": \\\"%s\\\", \\\"parameters\\\": \" %s \"}\"", name, args);
        break;
    case CHAT_SYNTAX_MISTRAL:
    case CHAT_SYNTAX_GENERIC:
        buf_printf(g, "\"{\\\"name\\\": \\\"%s\\\", \\\"arguments\\\": \" %s \"}\"", name, args);
        break;
    case CHAT_SYNTAX_DEEPSEEK:
        buf_printf(g, "\"%sfunction%s%s\\n```json\\n\" %s \"\\n```%s\"", DS_CALL_BEGIN, DS_SEP,
                   name, args, DS_CALL_END);
        break;
    case CHAT_SYNTAX_FUNCTIONARY:
        buf_printf(g, "\"<function=%s>\" %s \"</function>\"", name, args);
        break;
    case CHAT_SYNTAX_FUNCTIONARY_V32: buf_printf(g, "\"%s\\n\" %s", name, args); break;
    case CHAT_SYNTAX_HARMONY:
        buf_printf(g, "\"<|channel|>commentary to=functions.%s <|constrain|>json<|message|>\" %s",
                   name, args);
        break;
    case CHAT_SYNTAX_NONE: break;
    }
}

int chat_tool_grammar(enum chat_syntax s, json_t *tools, const char *only, int parallel,
                      int in_reasoning, chat_schema_fn schema, char **out, struct err *e)
{
    *out = NULL;
    if (s == CHAT_SYNTAX_NONE)
        return err_set(e, ERR_BAD_REQUEST,
                       "this model's chat template has no tool-call format hearth knows, so a "
                       "tool call cannot be required; set tool-call-format in its preset");
    if (s == CHAT_SYNTAX_LLAMA3 || s == CHAT_SYNTAX_HARMONY)
        parallel = 0; /* one call per turn in these formats */
    struct buf g, calls;
    buf_init(&g, 4u << 20);
    buf_init(&calls, 0);
    size_t i;
    json_t *t;
    int n = 0, rc = 0;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!valid_fn_name(name)) {
            rc = err_set(e, ERR_BAD_REQUEST, "tool %zu has no valid function name", i);
            goto out;
        }
        if (only && strcmp(only, name) != 0)
            continue;
        char prefix[32], args[40];
        snprintf(prefix, sizeof prefix, "t%d-", n);
        snprintf(args, sizeof args, "t%d-root", n);
        if ((rc = args_rules(json_object_get(fn, "parameters"), prefix, schema, &g, e)))
            goto out;
        buf_printf(&calls, "%s", n ? " | " : "");
        call_seq(s, name, args, &calls);
        n++;
    }
    if (!n) {
        rc = only ? err_set(e, ERR_BAD_REQUEST,
                            "tool_choice names function '%s', which is not "
                            "among the tools",
                            only)
                  : err_set(e, ERR_BAD_REQUEST, "a tool call is required, but no tools are given");
        goto out;
    }
    buf_printf(&g, "call ::= %s\n", calls.data);
    /* Reasoning may come first: the prompt left the model inside it, or it may open it. */
    const char *think = "";
    if (s == CHAT_SYNTAX_HARMONY) {
        buf_puts(&g, "think ::= \"<|channel|>analysis<|message|>\" ( [^<] | \"<\" [^|] )* "
                     "\"<|end|><|start|>assistant\"\n");
        think = "think? ";
    } else if (in_reasoning) {
        buf_puts(&g, "think ::= ( [^<] | \"<\" [^/] )* \"</think>\" [ \\n]{0,4}\n");
        think = "think ";
    }
    switch (s) {
    case CHAT_SYNTAX_MISTRAL:
        buf_printf(&g, "root ::= %s\"[TOOL_CALLS][\" call %s\"]\"\n", think,
                   parallel ? "( \", \" call )* " : "");
        break;
    case CHAT_SYNTAX_DEEPSEEK:
        buf_printf(&g, "root ::= %s\"%s\" call %s\"%s\"\n", think, DS_CALLS_BEGIN,
                   parallel ? "( \"\\n\" call )* " : "", DS_CALLS_END);
        break;
    case CHAT_SYNTAX_GENERIC:
        if (parallel)
            buf_printf(&g, "root ::= %s\"{\\\"tool_calls\\\": [\" call ( \", \" call )* \"]}\"\n",
                       think);
        else
            buf_printf(&g, "root ::= %s\"{\\\"tool_call\\\": \" call \"}\"\n", think);
        break;
    case CHAT_SYNTAX_FUNCTIONARY_V32:
        buf_printf(&g, "root ::= %scall %s\n", think, parallel ? "( \">>>\" call )*" : "");
        break;
    default:
        buf_printf(&g, "root ::= %scall %s\n", think, parallel ? "( \"\\n\" call )*" : "");
        break;
    }
out:
    buf_free(&calls);
    if (rc) {
        buf_free(&g);
        return rc;
    }
    *out = buf_steal(&g);
    return 0;
}
