/* The output parser's deltas and totals, and the reading of each family's calls (see
 * chat_parse_int.h). */
#include "base/util.h"
#include "chat/chat_parse_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deltas ---- */

struct chat_delta *chatp_new_delta(struct chat_parser *p, enum chat_delta_kind k)
{
    if (p->nd == p->capd || !p->d) {
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

void chatp_out_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n)
{
    if (!n)
        return;
    buf_append(k == CHAT_DELTA_CONTENT ? &p->content : &p->reasoning, s, n);
    struct chat_delta *last = p->nd ? &p->d[p->nd - 1] : NULL;
    if (!last || last->kind != k || p->d_off[p->nd - 1] + last->len != p->scratch.len)
        last = chatp_new_delta(p, k);
    buf_append(&p->scratch, s, n);
    last->len += n;
}

int chatp_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Content or reasoning text: leading blanks dropped, trailing blanks held. */
void chatp_emit_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n)
{
    struct buf *ws = k == CHAT_DELTA_CONTENT ? &p->c_ws : &p->r_ws;
    int *started = k == CHAT_DELTA_CONTENT ? &p->c_started : &p->r_started;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && chatp_blank(s[j]))
            j++;
        if (j > i) {
            if (*started)
                buf_append(ws, s + i, j - i);
            i = j;
            continue;
        }
        while (j < n && !chatp_blank(s[j]))
            j++;
        if (ws->len) {
            chatp_out_text(p, k, ws->data, ws->len);
            buf_reset(ws);
        }
        chatp_out_text(p, k, s + i, j - i);
        *started = 1;
        i = j;
    }
}

void chatp_warn(struct chat_parser *p, const char *why)
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
void chatp_add_call(struct chat_parser *p, const char *name, json_t *args, const char *id)
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
    json_array_append_new(p->calls, json_pack("{s:s,s:s,s:{s:s,s:o}}", "id", id, "type", "function",
                                              "function", "name", name, "arguments", a));
    buf_reset(&p->c_ws); /* the blanks before a call are no content */
    struct chat_delta *d = chatp_new_delta(p, CHAT_DELTA_TOOL_CALL);
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
long chatp_json_extent(const char *s, size_t n)
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

json_t *chatp_parse_json(const char *s, size_t n)
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
        json_t *o = chatp_parse_json(json_string_value(v), json_string_length(v));
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
        if (chatp_blank(*c) || *c == '"' || *c == '<' || *c == '>')
            return 0;
    return 1;
}

/* A call object {name, arguments|parameters, id?} (also {function: {...}}). Returns NULL or
 * why it is no call. */
const char *chatp_take_call_obj(struct chat_parser *p, json_t *o)
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
    chatp_add_call(p, name, args, json_string_value(json_object_get(o, "id")));
    json_decref(args);
    return NULL;
}

/* Checks every element of an array before taking any, so a bad one leaves no half result. */
const char *chatp_take_call_list(struct chat_parser *p, json_t *arr)
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
        int ok =
            json_is_object(c) && good_name(json_string_value(json_object_get(src, "name"))) && args;
        json_decref(args);
        if (!ok)
            return "a tool call in the list has no valid name or arguments";
    }
    json_array_foreach(arr, i, c) chatp_take_call_obj(p, c);
    return NULL;
}

const char *chatp_take_json_call(struct chat_parser *p, const char *s, size_t n)
{
    json_t *o = chatp_parse_json(s, n);
    const char *why = o ? chatp_take_call_obj(p, o) : "a tool call is not valid JSON";
    json_decref(o);
    return why;
}

/* name + a JSON object of arguments, checked: NULL and nm, *args set, or why not. */
static const char *parse_named(const char *name, size_t name_len, const char *args, size_t args_len,
                               char nm[NAME_MAX_LEN + 1], json_t **out)
{
    *out = NULL;
    while (name_len && chatp_blank(*name))
        name++, name_len--;
    while (name_len && chatp_blank(name[name_len - 1]))
        name_len--;
    if (!name_len || name_len > NAME_MAX_LEN)
        return "a tool call has no valid function name";
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    if (!good_name(nm))
        return "a tool call has no valid function name";
    while (args_len && chatp_blank(*args))
        args++, args_len--;
    while (args_len && chatp_blank(args[args_len - 1]))
        args_len--;
    json_t *a = args_len ? chatp_parse_json(args, args_len) : json_object();
    if (!json_is_object(a)) {
        json_decref(a);
        return "a tool call's arguments are not a JSON object";
    }
    *out = a;
    return NULL;
}

const char *chatp_take_named(struct chat_parser *p, const char *name, size_t name_len,
                             const char *args, size_t args_len)
{
    char nm[NAME_MAX_LEN + 1];
    json_t *a;
    const char *why = parse_named(name, name_len, args, args_len, nm, &a);
    if (!why)
        chatp_add_call(p, nm, a, NULL);
    json_decref(a);
    return why;
}

const char *chatp_find(const char *s, size_t n, const char *m)
{
    return s && n ? memmem(s, n, m, strlen(m)) : NULL;
}

/* One DeepSeek call: function<｜tool▁sep｜>name\n```json\n{...}\n``` (R1) or
 * name<｜tool▁sep｜>{...} (V3.1). */
static const char *deepseek_one(const char *s, size_t n, char nm[NAME_MAX_LEN + 1], json_t **out)
{
    *out = NULL;
    const char *sep = chatp_find(s, n, DS_SEP);
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
        const char *fence = chatp_find(a, an, "```json");
        if (fence) {
            a = fence + 7;
            an = (size_t)(rest + rn - a);
            const char *close = chatp_find(a, an, "```");
            if (close)
                an = (size_t)(close - a);
        }
        return parse_named(rest, name_len, a, an, nm, out);
    }
    return parse_named(s, before, rest, rn, nm, out);
}

const char *chatp_take_deepseek_one(struct chat_parser *p, const char *s, size_t n)
{
    char nm[NAME_MAX_LEN + 1];
    json_t *a;
    const char *why = deepseek_one(s, n, nm, &a);
    if (!why)
        chatp_add_call(p, nm, a, NULL);
    json_decref(a);
    return why;
}

/* Every call of a section is checked before any is taken: a bad one leaves it all as text. */
const char *chatp_take_deepseek(struct chat_parser *p, const char *s, size_t n)
{
    json_t *found = json_array();
    const char *at = s, *end = s + n, *why = NULL;
    while (!why) {
        const char *b = chatp_find(at, (size_t)(end - at), DS_CALL_BEGIN);
        if (!b)
            break;
        b += strlen(DS_CALL_BEGIN);
        const char *e = chatp_find(b, (size_t)(end - b), DS_CALL_END);
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
        json_array_foreach(found, i, c)
            chatp_add_call(p, json_string_value(json_object_get(c, "name")),
                           json_object_get(c, "arguments"), NULL);
    json_decref(found);
    return why;
}

/* Python code after <|python_tag|>: Llama's built-in code interpreter. */
const char *chatp_take_python_tag(struct chat_parser *p, const char *s, size_t n)
{
    while (n && chatp_blank(*s))
        s++, n--;
    if (n && *s == '{')
        return chatp_take_json_call(p, s, n);
    if (!n)
        return "an empty <|python_tag|> call";
    json_t *a = json_pack("{s:s%}", "code", s, n);
    if (!a)
        return "a <|python_tag|> call is not valid UTF-8";
    chatp_add_call(p, "python", a, NULL);
    json_decref(a);
    return NULL;
}

/* A bare JSON value at the start (Llama 3.x, generic). Returns 1 when it was a call or a
 * generic response, 0 when it is ordinary content. why: a call-shaped value gone wrong. */
int chatp_take_bare_json(struct chat_parser *p, const char *s, size_t n, const char **why)
{
    *why = NULL;
    json_t *o = chatp_parse_json(s, n);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    int taken = 0;
    json_t *v;
    if ((v = json_object_get(o, "tool_calls")) && json_is_array(v)) {
        *why = chatp_take_call_list(p, v);
        taken = 1;
    } else if ((v = json_object_get(o, "tool_call"))) {
        *why = chatp_take_call_obj(p, v);
        taken = 1;
    } else if (p->o.syntax == CHAT_SYNTAX_GENERIC &&
               json_is_string(json_object_get(o, "response"))) {
        v = json_object_get(o, "response");
        chatp_emit_text(p, CHAT_DELTA_CONTENT, json_string_value(v), json_string_length(v));
        taken = 1;
    } else if (json_object_get(o, "name") &&
               (json_object_get(o, "parameters") || json_object_get(o, "arguments"))) {
        *why = chatp_take_call_obj(p, o);
        taken = 1;
    }
    json_decref(o);
    return taken && !*why;
}
