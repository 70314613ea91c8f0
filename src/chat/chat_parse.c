/* The incremental output parser: a small state machine over the bytes the model writes.
 *
 * States: START (nothing but whitespace written yet: a think tag or a bare JSON call may open
 * here), TEXT (content, or reasoning while a think tag or a harmony analysis message is open;
 * scanned for the syntax's markers), BODY (the body of a tool call, collected until it is
 * complete) and HEADER (a harmony message header, up to <|message|>). Text is released as soon as
 * no marker can start in it; only a suffix that is a marker's prefix is held. Every decision
 * depends on the bytes alone, never on where a piece ended, so any split gives the same result.
 *
 * Whitespace: content and reasoning start at their first non-blank byte, and blanks are held
 * until more text follows, so that the newlines around a tool call or a think tag do not become
 * content. Trailing blanks of content are released at the end when no tool call was made. */
#include "chat/chat_parse.h"

#include "base/buf.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (1u << 20)   /* a tool call longer than this is returned as text */
#define HEADER_MAX 512        /* a harmony message header */
#define TEXT_MAX (64u << 20)  /* totals kept for whole replies */
#define NAME_MAX_LEN 256

enum state { S_START, S_TEXT, S_BODY, S_HEADER };

enum body_kind {
    B_HERMES,       /* ... </tool_call> */
    B_PYTHON_TAG,   /* <|python_tag|> JSON call or code, to the end */
    B_JSON,         /* a bare JSON value at the start of the output */
    B_MISTRAL,      /* [TOOL_CALLS] array, or name[ARGS]{...} */
    B_DEEPSEEK,     /* ... <｜tool▁calls▁end｜> */
    B_DEEPSEEK_ONE, /* ... <｜tool▁call▁end｜> */
    B_FUNCTION,     /* <function= name>{...} </function> */
    B_V32,          /* name\n{...} or all\n */
    B_HARMONY_CALL, /* {...} <|call|> */
};

enum act { A_THINK_OPEN, A_THINK_CLOSE, A_BODY, A_HEADER, A_H_END, A_DROP };

struct marker {
    const char *s;
    enum act act;
    enum body_kind body;
};

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

static const struct marker think_open[] = {{"<think>", A_THINK_OPEN, 0}, {"[THINK]", A_THINK_OPEN, 0}};
static const struct marker think_close[] = {{"</think>", A_THINK_CLOSE, 0},
                                            {"[/THINK]", A_THINK_CLOSE, 0}};
static const struct marker hermes_m[] = {{"<tool_call>", A_BODY, B_HERMES}};
static const struct marker llama3_m[] = {{"<|python_tag|>", A_BODY, B_PYTHON_TAG}};
static const struct marker mistral_m[] = {{"[TOOL_CALLS]", A_BODY, B_MISTRAL}};
static const struct marker deepseek_m[] = {{DS_CALLS_BEGIN, A_BODY, B_DEEPSEEK},
                                           {DS_CALL_BEGIN, A_BODY, B_DEEPSEEK_ONE}};
static const struct marker functionary_m[] = {{"<function=", A_BODY, B_FUNCTION},
                                              {"<|python_tag|>", A_BODY, B_PYTHON_TAG}};
static const struct marker v32_m[] = {{">>>", A_BODY, B_V32}};
static const struct marker harmony_m[] = {
    {"<|start|>", A_HEADER, 0}, {"<|channel|>", A_HEADER, 0}, {"<|end|>", A_H_END, 0},
    {"<|return|>", A_H_END, 0}, {"<|call|>", A_H_END, 0},     {"<|message|>", A_DROP, 0}};

struct chat_parser {
    struct chat_parse_opts o;
    enum state st;
    int think_ok;  /* START: a think tag may still open */
    int in_think;  /* TEXT is reasoning (a think tag is open) */
    int h_reason;  /* harmony: the open message is the analysis channel */
    enum body_kind body;
    char h_name[NAME_MAX_LEN + 1]; /* harmony: the function a commentary message calls */
    struct buf pend;   /* bytes not decided yet */
    struct buf opener; /* the marker that opened BODY or HEADER (given back if malformed) */
    int c_started, r_started;
    struct buf c_ws, r_ws; /* blanks held until more text follows */
    struct buf content, reasoning;
    json_t *calls, *warnings;
    /* This step's deltas: text offsets into scratch, resolved when the step ends. */
    struct chat_delta *d;
    size_t *d_off, *d_id, *d_name, *d_args;
    size_t nd, capd;
    struct buf scratch;
};

/* ---- deltas ---- */

static struct chat_delta *new_delta(struct chat_parser *p, enum chat_delta_kind k)
{
    if (p->nd == p->capd) {
        p->capd = p->capd ? p->capd * 2 : 8;
        p->d = xrealloc(p->d, p->capd * sizeof *p->d);
        p->d_off = xrealloc(p->d_off, p->capd * sizeof *p->d_off);
        p->d_id = xrealloc(p->d_id, p->capd * sizeof *p->d_id);
        p->d_name = xrealloc(p->d_name, p->capd * sizeof *p->d_name);
        p->d_args = xrealloc(p->d_args, p->capd * sizeof *p->d_args);
    }
    struct chat_delta *d = &p->d[p->nd];
    memset(d, 0, sizeof *d);
    d->kind = k;
    p->d_off[p->nd] = p->scratch.len;
    p->nd++;
    return d;
}

static void out_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n)
{
    if (!n)
        return;
    buf_append(k == CHAT_DELTA_CONTENT ? &p->content : &p->reasoning, s, n);
    struct chat_delta *last = p->nd ? &p->d[p->nd - 1] : NULL;
    if (!last || last->kind != k || p->d_off[p->nd - 1] + last->len != p->scratch.len)
        last = new_delta(p, k);
    buf_append(&p->scratch, s, n);
    last->len += n;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Content or reasoning text: leading blanks dropped, trailing blanks held. */
static void emit_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n)
{
    struct buf *ws = k == CHAT_DELTA_CONTENT ? &p->c_ws : &p->r_ws;
    int *started = k == CHAT_DELTA_CONTENT ? &p->c_started : &p->r_started;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && blank(s[j]))
            j++;
        if (j > i) {
            if (*started)
                buf_append(ws, s + i, j - i);
            i = j;
            continue;
        }
        while (j < n && !blank(s[j]))
            j++;
        if (ws->len) {
            out_text(p, k, ws->data, ws->len);
            buf_reset(ws);
        }
        out_text(p, k, s + i, j - i);
        *started = 1;
        i = j;
    }
}

static void warn(struct chat_parser *p, const char *why)
{
    if (json_array_size(p->warnings) < 16)
        json_array_append_new(p->warnings, json_string(why));
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* One complete call. args: an object (borrowed) or NULL for {}. */
static void add_call(struct chat_parser *p, const char *name, json_t *args, const char *id)
{
    char made[32];
    size_t index = json_array_size(p->calls);
    if (!id || !*id) {
        snprintf(made, sizeof made, "call_%016llx",
                 (unsigned long long)mix64(p->o.id_seed + index));
        id = made;
    }
    json_t *a = args ? json_incref(args) : json_object();
    char *text = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_array_append_new(p->calls, json_pack("{s:s,s:s,s:{s:s,s:o}}", "id", id, "type",
                                              "function", "function", "name", name, "arguments",
                                              a));
    buf_reset(&p->c_ws); /* the blanks before a call are no content */
    struct chat_delta *d = new_delta(p, CHAT_DELTA_TOOL_CALL);
    d->index = (int)index;
    size_t k = p->nd - 1;
    p->d_id[k] = p->scratch.len;
    buf_append(&p->scratch, id, strlen(id) + 1);
    p->d_name[k] = p->scratch.len;
    buf_append(&p->scratch, name, strlen(name) + 1);
    p->d_args[k] = p->scratch.len;
    buf_append(&p->scratch, text, strlen(text) + 1);
    free(text);
}

/* ---- reading calls ---- */

/* Length of the JSON object or array at s (s[0] is '{' or '['); 0 while it is not complete; -1
 * when it cannot become one. Only brackets and strings are followed: the value is parsed later. */
static long json_extent(const char *s, size_t n)
{
    char stack[64];
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (depth == (int)sizeof stack)
                return -1;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (!depth || stack[depth - 1] != c)
                return -1;
            if (--depth == 0)
                return (long)i + 1;
        } else if (!depth) {
            return -1;
        }
    }
    return 0;
}

static json_t *parse_json(const char *s, size_t n)
{
    return json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

/* The arguments of a call: an object, or a string holding one. NULL when neither. */
static json_t *args_of(json_t *v)
{
    if (!v || json_is_null(v))
        return json_object();
    if (json_is_object(v))
        return json_incref(v);
    if (json_is_string(v)) {
        json_t *o = parse_json(json_string_value(v), json_string_length(v));
        if (json_is_object(o))
            return o;
        json_decref(o);
    }
    return NULL;
}

static int good_name(const char *name)
{
    if (!name || !*name || strlen(name) > NAME_MAX_LEN)
        return 0;
    for (const char *c = name; *c; c++)
        if (blank(*c) || *c == '"' || *c == '<' || *c == '>')
            return 0;
    return 1;
}

/* A call object {name, arguments|parameters, id?} (also {function: {...}}). Returns NULL or
 * why it is no call. */
static const char *take_call_obj(struct chat_parser *p, json_t *o)
{
    if (!json_is_object(o))
        return "a tool call is not a JSON object";
    json_t *fn = json_object_get(o, "function");
    json_t *src = json_is_object(fn) ? fn : o;
    const char *name = json_string_value(json_object_get(src, "name"));
    if (!good_name(name))
        return "a tool call has no valid function name";
    json_t *a = json_object_get(src, "arguments");
    if (!a)
        a = json_object_get(src, "parameters");
    json_t *args = args_of(a);
    if (!args)
        return "a tool call's arguments are not a JSON object";
    add_call(p, name, args, json_string_value(json_object_get(o, "id")));
    json_decref(args);
    return NULL;
}

/* Checks every element of an array before taking any, so a bad one leaves no half result. */
static const char *take_call_list(struct chat_parser *p, json_t *arr)
{
    if (!json_array_size(arr))
        return "an empty list of tool calls";
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        json_t *src = json_is_object(fn) ? fn : c;
        json_t *a = json_object_get(src, "arguments");
        json_t *args = args_of(a ? a : json_object_get(src, "parameters"));
        int ok = json_is_object(c) && good_name(json_string_value(json_object_get(src, "name"))) &&
                 args;
        json_decref(args);
        if (!ok)
            return "a tool call in the list has no valid name or arguments";
    }
    json_array_foreach(arr, i, c) take_call_obj(p, c);
    return NULL;
}

static const char *take_json_call(struct chat_parser *p, const char *s, size_t n)
{
    json_t *o = parse_json(s, n);
    const char *why = o ? take_call_obj(p, o) : "a tool call is not valid JSON";
    json_decref(o);
    return why;
}

/* name + a JSON object of arguments, checked: NULL and nm, *args set, or why not. */
static const char *parse_named(const char *name, size_t name_len, const char *args,
                               size_t args_len, char nm[NAME_MAX_LEN + 1], json_t **out)
{
    *out = NULL;
    while (name_len && blank(*name))
        name++, name_len--;
    while (name_len && blank(name[name_len - 1]))
        name_len--;
    if (!name_len || name_len > NAME_MAX_LEN)
        return "a tool call has no valid function name";
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    if (!good_name(nm))
        return "a tool call has no valid function name";
    while (args_len && blank(*args))
        args++, args_len--;
    while (args_len && blank(args[args_len - 1]))
        args_len--;
    json_t *a = args_len ? parse_json(args, args_len) : json_object();
    if (!json_is_object(a)) {
        json_decref(a);
        return "a tool call's arguments are not a JSON object";
    }
    *out = a;
    return NULL;
}

static const char *take_named(struct chat_parser *p, const char *name, size_t name_len,
                              const char *args, size_t args_len)
{
    char nm[NAME_MAX_LEN + 1];
    json_t *a;
    const char *why = parse_named(name, name_len, args, args_len, nm, &a);
    if (!why)
        add_call(p, nm, a, NULL);
    json_decref(a);
    return why;
}

static const char *find(const char *s, size_t n, const char *m)
{
    return memmem(s, n, m, strlen(m));
}

/* One DeepSeek call: function<｜tool▁sep｜>name\n```json\n{...}\n``` (R1) or
 * name<｜tool▁sep｜>{...} (V3.1). */
static const char *deepseek_one(const char *s, size_t n, char nm[NAME_MAX_LEN + 1], json_t **out)
{
    *out = NULL;
    const char *sep = find(s, n, DS_SEP);
    if (!sep)
        return "a DeepSeek tool call has no separator";
    size_t before = (size_t)(sep - s);
    const char *rest = sep + strlen(DS_SEP);
    size_t rn = n - before - strlen(DS_SEP);
    if (before == 8 && !memcmp(s, "function", 8)) {
        const char *nl = memchr(rest, '\n', rn);
        if (!nl)
            return "a DeepSeek tool call has no arguments";
        size_t name_len = (size_t)(nl - rest);
        const char *a = nl + 1;
        size_t an = rn - name_len - 1;
        const char *fence = find(a, an, "```json");
        if (fence) {
            a = fence + 7;
            an = (size_t)(rest + rn - a);
            const char *close = find(a, an, "```");
            if (close)
                an = (size_t)(close - a);
        }
        return parse_named(rest, name_len, a, an, nm, out);
    }
    return parse_named(s, before, rest, rn, nm, out);
}

static const char *take_deepseek_one(struct chat_parser *p, const char *s, size_t n)
{
    char nm[NAME_MAX_LEN + 1];
    json_t *a;
    const char *why = deepseek_one(s, n, nm, &a);
    if (!why)
        add_call(p, nm, a, NULL);
    json_decref(a);
    return why;
}

/* Every call of a section is checked before any is taken: a bad one leaves it all as text. */
static const char *take_deepseek(struct chat_parser *p, const char *s, size_t n)
{
    json_t *found = json_array();
    const char *at = s, *end = s + n, *why = NULL;
    while (!why) {
        const char *b = find(at, (size_t)(end - at), DS_CALL_BEGIN);
        if (!b)
            break;
        b += strlen(DS_CALL_BEGIN);
        const char *e = find(b, (size_t)(end - b), DS_CALL_END);
        char nm[NAME_MAX_LEN + 1];
        json_t *a;
        why = deepseek_one(b, e ? (size_t)(e - b) : (size_t)(end - b), nm, &a);
        if (!why)
            json_array_append_new(found, json_pack("{s:s,s:o}", "name", nm, "arguments", a));
        at = e ? e + strlen(DS_CALL_END) : end;
    }
    if (!why && !json_array_size(found))
        why = "a DeepSeek tool-call section holds no call";
    size_t i;
    json_t *c;
    if (!why)
        json_array_foreach(found, i, c) add_call(p, json_string_value(json_object_get(c, "name")),
                                                 json_object_get(c, "arguments"), NULL);
    json_decref(found);
    return why;
}

/* Python code after <|python_tag|>: Llama's built-in code interpreter. */
static const char *take_python_tag(struct chat_parser *p, const char *s, size_t n)
{
    while (n && blank(*s))
        s++, n--;
    if (n && *s == '{')
        return take_json_call(p, s, n);
    if (!n)
        return "an empty <|python_tag|> call";
    json_t *a = json_pack("{s:s%}", "code", s, n);
    if (!a)
        return "a <|python_tag|> call is not valid UTF-8";
    add_call(p, "python", a, NULL);
    json_decref(a);
    return NULL;
}

/* A bare JSON value at the start (Llama 3.x, generic). Returns 1 when it was a call or a
 * generic response, 0 when it is ordinary content. why: a call-shaped value gone wrong. */
static int take_bare_json(struct chat_parser *p, const char *s, size_t n, const char **why)
{
    *why = NULL;
    json_t *o = parse_json(s, n);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    int taken = 0;
    json_t *v;
    if ((v = json_object_get(o, "tool_calls")) && json_is_array(v)) {
        *why = take_call_list(p, v);
        taken = 1;
    } else if ((v = json_object_get(o, "tool_call"))) {
        *why = take_call_obj(p, v);
        taken = 1;
    } else if (p->o.syntax == CHAT_SYNTAX_GENERIC && json_is_string(json_object_get(o, "response"))) {
        v = json_object_get(o, "response");
        emit_text(p, CHAT_DELTA_CONTENT, json_string_value(v), json_string_length(v));
        taken = 1;
    } else if (json_object_get(o, "name") &&
               (json_object_get(o, "parameters") || json_object_get(o, "arguments"))) {
        *why = take_call_obj(p, o);
        taken = 1;
    }
    json_decref(o);
    return taken && !*why;
}

/* ---- the state machine ---- */

static size_t add_markers(const struct marker **list, size_t n, const struct marker *m, size_t k)
{
    for (size_t i = 0; i < k; i++)
        list[n++] = &m[i];
    return n;
}

/* The markers TEXT looks for now. */
static size_t text_markers(const struct chat_parser *p, const struct marker **list)
{
    size_t n = 0;
    if (p->in_think)
        return add_markers(list, n, think_close, ARRAY_LEN(think_close));
    if (p->o.syntax == CHAT_SYNTAX_HARMONY)
        return add_markers(list, n, harmony_m, ARRAY_LEN(harmony_m));
    if (!p->o.tools)
        return 0;
    switch (p->o.syntax) {
    case CHAT_SYNTAX_HERMES:
        return add_markers(list, n, hermes_m, ARRAY_LEN(hermes_m));
    case CHAT_SYNTAX_LLAMA3:
        return add_markers(list, n, llama3_m, ARRAY_LEN(llama3_m));
    case CHAT_SYNTAX_MISTRAL:
        return add_markers(list, n, mistral_m, ARRAY_LEN(mistral_m));
    case CHAT_SYNTAX_DEEPSEEK:
        return add_markers(list, n, deepseek_m, ARRAY_LEN(deepseek_m));
    case CHAT_SYNTAX_FUNCTIONARY:
        return add_markers(list, n, functionary_m, ARRAY_LEN(functionary_m));
    case CHAT_SYNTAX_FUNCTIONARY_V32:
        return add_markers(list, n, v32_m, ARRAY_LEN(v32_m));
    default:
        return 0;
    }
}

static enum chat_delta_kind text_kind(const struct chat_parser *p)
{
    return p->in_think || p->h_reason ? CHAT_DELTA_REASONING : CHAT_DELTA_CONTENT;
}

/* Gives a body that is no valid call back as content, with a warning. */
static void give_back(struct chat_parser *p, const char *s, size_t n, const char *close,
                      const char *why)
{
    char msg[256];
    snprintf(msg, sizeof msg, "the model wrote a malformed tool call (%s); it is returned as text",
             why);
    warn(p, msg);
    emit_text(p, CHAT_DELTA_CONTENT, p->opener.data ? p->opener.data : "", p->opener.len);
    emit_text(p, CHAT_DELTA_CONTENT, s, n);
    if (close)
        emit_text(p, CHAT_DELTA_CONTENT, close, strlen(close));
}

static void act(struct chat_parser *p, const struct marker *m)
{
    switch (m->act) {
    case A_THINK_OPEN:
        p->in_think = 1;
        p->st = S_TEXT;
        break;
    case A_THINK_CLOSE:
        p->in_think = 0;
        buf_reset(&p->r_ws);
        p->st = S_START;
        p->think_ok = 0;
        break;
    case A_BODY:
        buf_reset(&p->opener);
        buf_puts(&p->opener, m->s);
        p->body = m->body;
        p->st = S_BODY;
        break;
    case A_HEADER:
        buf_reset(&p->opener);
        buf_puts(&p->opener, m->s);
        p->st = S_HEADER;
        break;
    case A_H_END:
        if (p->h_reason)
            buf_reset(&p->r_ws);
        p->h_reason = 0;
        break;
    case A_DROP:
        break;
    }
}

/* The longest suffix of s that is a proper prefix of a marker. */
static size_t held_suffix(const char *s, size_t n, const struct marker **m, size_t k)
{
    size_t best = 0;
    for (size_t i = 0; i < k; i++) {
        size_t ml = strlen(m[i]->s);
        for (size_t l = ml - 1 < n ? ml - 1 : n; l > best; l--)
            if (!memcmp(s + n - l, m[i]->s, l)) {
                best = l;
                break;
            }
    }
    return best;
}

static int step_text(struct chat_parser *p, int final)
{
    const struct marker *list[16];
    size_t k = text_markers(p, list);
    const char *s = p->pend.data;
    size_t n = p->pend.len;
    const struct marker *hit = NULL;
    size_t at = n;
    for (size_t i = 0; i < k; i++) {
        const char *f = find(s, n, list[i]->s);
        if (f && ((size_t)(f - s) < at ||
                  ((size_t)(f - s) == at && hit && strlen(list[i]->s) > strlen(hit->s)))) {
            at = (size_t)(f - s);
            hit = list[i];
        }
    }
    if (hit) {
        emit_text(p, text_kind(p), s, at);
        buf_consume(&p->pend, at + strlen(hit->s));
        act(p, hit);
        return 1;
    }
    size_t hold = final ? 0 : held_suffix(s, n, list, k);
    if (n - hold == 0)
        return 0;
    emit_text(p, text_kind(p), s, n - hold);
    buf_consume(&p->pend, n - hold);
    return 0;
}

static int step_start(struct chat_parser *p, int final)
{
    size_t i = 0;
    while (i < p->pend.len && blank(p->pend.data[i]))
        i++;
    buf_consume(&p->pend, i);
    const char *s = p->pend.data;
    size_t n = p->pend.len;
    if (!n) {
        if (final)
            p->st = S_TEXT;
        return final;
    }
    if (p->think_ok && p->o.split_reasoning && p->o.syntax != CHAT_SYNTAX_HARMONY) {
        for (size_t m = 0; m < ARRAY_LEN(think_open); m++) {
            size_t ml = strlen(think_open[m].s);
            if (n >= ml && !memcmp(s, think_open[m].s, ml)) {
                buf_consume(&p->pend, ml);
                act(p, &think_open[m]);
                return 1;
            }
            if (n < ml && !memcmp(s, think_open[m].s, n) && !final)
                return 0;
        }
    }
    p->think_ok = 0;
    p->st = S_TEXT;
    if (p->o.tools && *s == '{' &&
        (p->o.syntax == CHAT_SYNTAX_LLAMA3 || p->o.syntax == CHAT_SYNTAX_GENERIC)) {
        buf_reset(&p->opener);
        p->body = B_JSON;
        p->st = S_BODY;
    } else if (p->o.tools && p->o.syntax == CHAT_SYNTAX_FUNCTIONARY_V32 && !p->c_started &&
               !json_array_size(p->calls)) {
        buf_reset(&p->opener);
        p->body = B_V32;
        p->st = S_BODY;
    }
    return 1;
}

static int step_header(struct chat_parser *p, int final)
{
    const char *s = p->pend.data;
    size_t n = p->pend.len;
    const char *m = find(s, n, "<|message|>");
    if (!m) {
        if (n > HEADER_MAX || final) {
            buf_append(&p->opener, s, n);
            emit_text(p, CHAT_DELTA_CONTENT, p->opener.data, p->opener.len);
            buf_reset(&p->pend);
            p->st = S_TEXT;
            return 1;
        }
        return 0;
    }
    size_t hl = (size_t)(m - s);
    char h[HEADER_MAX + 1];
    size_t cl = hl < HEADER_MAX ? hl : HEADER_MAX;
    memcpy(h, s, cl);
    h[cl] = '\0';
    buf_consume(&p->pend, hl + strlen("<|message|>"));
    p->h_reason = 0;
    p->st = S_TEXT;
    const char *to = strstr(h, "to=functions.");
    if (to && p->o.tools) {
        to += strlen("to=functions.");
        size_t l = 0;
        while (to[l] && !blank(to[l]) && to[l] != '<' && l < NAME_MAX_LEN)
            l++;
        memcpy(p->h_name, to, l);
        p->h_name[l] = '\0';
        buf_reset(&p->opener);
        p->body = B_HARMONY_CALL;
        p->st = S_BODY;
    } else if (strstr(h, "analysis")) {
        p->h_reason = 1;
    }
    return 1;
}

/* Ends BODY: why == NULL when the call was taken, else the text goes back as content. */
static void body_done(struct chat_parser *p, size_t used, const char *why, const char *close,
                      size_t skip)
{
    if (why)
        give_back(p, p->pend.data, used, close, why);
    buf_consume(&p->pend, used + skip);
    p->st = S_TEXT;
}

/* A body closed by a marker: NULL while neither the marker nor the end has come. */
static const char *closed_by(struct chat_parser *p, const char *close, int final, size_t *used,
                             size_t *skip)
{
    const char *f = find(p->pend.data, p->pend.len, close);
    if (f) {
        *used = (size_t)(f - p->pend.data);
        *skip = strlen(close);
        return p->pend.data;
    }
    if (final) {
        *used = p->pend.len;
        *skip = 0;
        return p->pend.data;
    }
    return NULL;
}

static int step_body(struct chat_parser *p, int final)
{
    const char *s = p->pend.data ? p->pend.data : "";
    size_t n = p->pend.len, used = 0, skip = 0;
    if (n > BODY_MAX) {
        body_done(p, n, "longer than hearth takes", NULL, 0);
        return 1;
    }
    switch (p->body) {
    case B_HERMES:
        if (!closed_by(p, "</tool_call>", final, &used, &skip))
            return 0;
        body_done(p, used, take_json_call(p, s, used), skip ? "</tool_call>" : NULL, skip);
        return 1;
    case B_HARMONY_CALL: {
        const char *c = find(s, n, "<|call|>");
        const char *e = find(s, n, "<|end|>");
        if (e && (!c || e < c))
            c = e;
        if (!c && !final)
            return 0;
        used = c ? (size_t)(c - s) : n;
        skip = c ? strlen(c == e ? "<|end|>" : "<|call|>") : 0;
        body_done(p, used, take_named(p, p->h_name, strlen(p->h_name), s, used), NULL, skip);
        return 1;
    }
    case B_FUNCTION: {
        if (!closed_by(p, "</function>", final, &used, &skip))
            return 0;
        const char *gt = memchr(s, '>', used);
        const char *why = gt ? take_named(p, s, (size_t)(gt - s), gt + 1, used - (size_t)(gt - s) - 1)
                             : "a <function= call has no closing '>'";
        body_done(p, used, why, skip ? "</function>" : NULL, skip);
        return 1;
    }
    case B_DEEPSEEK:
        if (!closed_by(p, DS_CALLS_END, final, &used, &skip))
            return 0;
        body_done(p, used, take_deepseek(p, s, used), skip ? DS_CALLS_END : NULL, skip);
        return 1;
    case B_DEEPSEEK_ONE:
        if (!closed_by(p, DS_CALL_END, final, &used, &skip))
            return 0;
        body_done(p, used, take_deepseek_one(p, s, used), skip ? DS_CALL_END : NULL, skip);
        return 1;
    case B_PYTHON_TAG: {
        size_t i = 0;
        while (i < n && blank(s[i]))
            i++;
        if (i < n && s[i] == '{') {
            long x = json_extent(s + i, n - i);
            if (x > 0) {
                body_done(p, i + (size_t)x, take_json_call(p, s, i + (size_t)x), NULL, 0);
                return 1;
            }
            if (x == 0 && !final)
                return 0;
        }
        if (!final)
            return 0;
        body_done(p, n, take_python_tag(p, s, n), NULL, 0);
        return 1;
    }
    case B_JSON: {
        long x = json_extent(s, n);
        if (x == 0 && !final)
            return 0;
        const char *why = NULL;
        if (x > 0 && take_bare_json(p, s, (size_t)x, &why)) {
            body_done(p, (size_t)x, NULL, NULL, 0);
        } else if (why) {
            body_done(p, (size_t)x, why, NULL, 0);
        } else {
            /* Not a call: ordinary content (an unfinished call-looking value gets a word). */
            if (x == 0 && find(s, n, "\"name\""))
                warn(p, "the model's output ended inside what looks like a tool call; it is "
                        "returned as text");
            size_t l = x > 0 ? (size_t)x : n;
            emit_text(p, CHAT_DELTA_CONTENT, s, l);
            buf_consume(&p->pend, l);
            p->st = S_TEXT;
        }
        return 1;
    }
    case B_MISTRAL: {
        size_t i = 0;
        while (i < n && blank(s[i]))
            i++;
        if (i == n)
            return final ? (body_done(p, n, "an empty [TOOL_CALLS]", NULL, 0), 1) : 0;
        if (s[i] == '[' || s[i] == '{') {
            long x = json_extent(s + i, n - i);
            if (x == 0 && !final)
                return 0;
            const char *why = "the [TOOL_CALLS] list is not valid JSON";
            if (x > 0) {
                json_t *v = parse_json(s + i, (size_t)x);
                why = json_is_array(v) ? take_call_list(p, v) : take_call_obj(p, v);
                json_decref(v);
            }
            body_done(p, x > 0 ? i + (size_t)x : n, why, NULL, 0);
            return 1;
        }
        const char *a = find(s, n, "[ARGS]");
        if (!a) {
            if (!final && n < NAME_MAX_LEN + 16)
                return 0;
            body_done(p, n, "a [TOOL_CALLS] call has no [ARGS]", NULL, 0);
            return 1;
        }
        size_t ao = (size_t)(a - s) + 6;
        while (ao < n && blank(s[ao]))
            ao++;
        long x = ao < n && s[ao] == '{' ? json_extent(s + ao, n - ao) : (ao < n ? -1 : 0);
        if (x == 0 && !final)
            return 0;
        if (x <= 0) {
            body_done(p, n, "a [TOOL_CALLS] call's arguments are not a JSON object", NULL, 0);
            return 1;
        }
        body_done(p, ao + (size_t)x, take_named(p, s, (size_t)(a - s), s + ao, (size_t)x), NULL,
                  0);
        return 1;
    }
    case B_V32: {
        const char *nl = memchr(s, '\n', n);
        if (!nl) {
            if (!final && n <= NAME_MAX_LEN)
                return 0;
            /* A bare answer with no recipient line: content. */
            p->st = S_TEXT;
            return 1;
        }
        size_t nl_at = (size_t)(nl - s);
        if (nl_at == 3 && !memcmp(s, "all", 3)) {
            buf_consume(&p->pend, 4);
            p->st = S_TEXT;
            return 1;
        }
        size_t i = nl_at + 1;
        while (i < n && blank(s[i]))
            i++;
        long x = i < n && s[i] == '{' ? json_extent(s + i, n - i) : (i < n ? -1 : 0);
        if (x == 0 && !final)
            return 0;
        if (x <= 0) {
            body_done(p, n, "a functionary call's arguments are not a JSON object", NULL, 0);
            return 1;
        }
        body_done(p, i + (size_t)x, take_named(p, s, nl_at, s + i, (size_t)x), NULL, 0);
        return 1;
    }
    }
    return 0;
}

static void run(struct chat_parser *p, int final)
{
    for (;;) {
        int progress = 0;
        switch (p->st) {
        case S_START:
            progress = step_start(p, final);
            break;
        case S_TEXT:
            progress = step_text(p, final);
            break;
        case S_BODY:
            progress = step_body(p, final);
            break;
        case S_HEADER:
            progress = step_header(p, final);
            break;
        }
        if (!progress)
            break;
    }
    /* Pointers into scratch are fixed now that it no longer grows. */
    for (size_t i = 0; i < p->nd; i++) {
        struct chat_delta *d = &p->d[i];
        if (d->kind == CHAT_DELTA_TOOL_CALL) {
            d->id = p->scratch.data + p->d_id[i];
            d->name = p->scratch.data + p->d_name[i];
            d->arguments = p->scratch.data + p->d_args[i];
        } else {
            d->text = p->scratch.data + p->d_off[i];
        }
    }
}

/* ---- the API ---- */

struct chat_parser *chat_parser_new(const struct chat_parse_opts *o)
{
    struct chat_parser *p = xcalloc(1, sizeof *p);
    p->o = *o;
    p->st = S_START;
    p->think_ok = 1;
    if (o->in_reasoning && o->split_reasoning) {
        p->in_think = 1;
        p->st = S_TEXT;
    }
    buf_init(&p->pend, 0);
    buf_init(&p->opener, 0);
    buf_init(&p->c_ws, TEXT_MAX);
    buf_init(&p->r_ws, TEXT_MAX);
    buf_init(&p->content, TEXT_MAX);
    buf_init(&p->reasoning, TEXT_MAX);
    buf_init(&p->scratch, 0);
    p->calls = json_array();
    p->warnings = json_array();
    return p;
}

void chat_parser_free(struct chat_parser *p)
{
    if (!p)
        return;
    buf_free(&p->pend);
    buf_free(&p->opener);
    buf_free(&p->c_ws);
    buf_free(&p->r_ws);
    buf_free(&p->content);
    buf_free(&p->reasoning);
    buf_free(&p->scratch);
    json_decref(p->calls);
    json_decref(p->warnings);
    free(p->d);
    free(p->d_off);
    free(p->d_id);
    free(p->d_name);
    free(p->d_args);
    free(p);
}

static void begin_step(struct chat_parser *p)
{
    p->nd = 0;
    buf_reset(&p->scratch);
}

void chat_parser_feed(struct chat_parser *p, const char *text, size_t len)
{
    begin_step(p);
    buf_append(&p->pend, text, len);
    run(p, 0);
}

void chat_parser_finish(struct chat_parser *p)
{
    begin_step(p);
    run(p, 1);
    if (!json_array_size(p->calls) && p->c_ws.len) {
        out_text(p, CHAT_DELTA_CONTENT, p->c_ws.data, p->c_ws.len);
        run(p, 1); /* resolves the pointers of that last delta */
    }
    buf_reset(&p->c_ws);
    buf_reset(&p->r_ws);
}

const struct chat_delta *chat_parser_deltas(const struct chat_parser *p, size_t *n)
{
    *n = p->nd;
    return p->d;
}

const char *chat_parser_content(const struct chat_parser *p, size_t *len)
{
    *len = p->content.len;
    return p->content.data ? p->content.data : "";
}

const char *chat_parser_reasoning(const struct chat_parser *p, size_t *len)
{
    *len = p->reasoning.len;
    return p->reasoning.data ? p->reasoning.data : "";
}

json_t *chat_parser_tool_calls(const struct chat_parser *p)
{
    return p->calls;
}

json_t *chat_parser_warnings(const struct chat_parser *p)
{
    return p->warnings;
}
