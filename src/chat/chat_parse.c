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
#include "base/util.h"
#include "chat/chat_parse_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum act { A_THINK_OPEN, A_THINK_CLOSE, A_BODY, A_HEADER, A_H_END, A_DROP };

struct marker {
    const char *s;
    enum act act;
    enum body_kind body;
};

static const struct marker think_open[] = {{"<think>", A_THINK_OPEN, 0},
                                           {"[THINK]", A_THINK_OPEN, 0}};
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
static const struct marker harmony_m[] = {{"<|start|>", A_HEADER, 0}, {"<|channel|>", A_HEADER, 0},
                                          {"<|end|>", A_H_END, 0},    {"<|return|>", A_H_END, 0},
                                          {"<|call|>", A_H_END, 0},   {"<|message|>", A_DROP, 0}};

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
    case CHAT_SYNTAX_HERMES: return add_markers(list, n, hermes_m, ARRAY_LEN(hermes_m));
    case CHAT_SYNTAX_LLAMA3: return add_markers(list, n, llama3_m, ARRAY_LEN(llama3_m));
    case CHAT_SYNTAX_MISTRAL: return add_markers(list, n, mistral_m, ARRAY_LEN(mistral_m));
    case CHAT_SYNTAX_DEEPSEEK: return add_markers(list, n, deepseek_m, ARRAY_LEN(deepseek_m));
    case CHAT_SYNTAX_FUNCTIONARY:
        return add_markers(list, n, functionary_m, ARRAY_LEN(functionary_m));
    case CHAT_SYNTAX_FUNCTIONARY_V32: return add_markers(list, n, v32_m, ARRAY_LEN(v32_m));
    default: return 0;
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
    chatp_warn(p, msg);
    chatp_emit_text(p, CHAT_DELTA_CONTENT, p->opener.data ? p->opener.data : "", p->opener.len);
    chatp_emit_text(p, CHAT_DELTA_CONTENT, s, n);
    if (close)
        chatp_emit_text(p, CHAT_DELTA_CONTENT, close, strlen(close));
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
    case A_DROP: break;
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
        const char *f = chatp_find(s, n, list[i]->s);
        if (f && ((size_t)(f - s) < at ||
                  ((size_t)(f - s) == at && hit && strlen(list[i]->s) > strlen(hit->s)))) {
            at = (size_t)(f - s);
            hit = list[i];
        }
    }
    if (hit) {
        chatp_emit_text(p, text_kind(p), s, at);
        buf_consume(&p->pend, at + strlen(hit->s));
        act(p, hit);
        return 1;
    }
    size_t hold = final ? 0 : held_suffix(s, n, list, k);
    if (n - hold == 0)
        return 0;
    chatp_emit_text(p, text_kind(p), s, n - hold);
    buf_consume(&p->pend, n - hold);
    return 0;
}

static int step_start(struct chat_parser *p, int final)
{
    size_t i = 0;
    while (i < p->pend.len && chatp_blank(p->pend.data[i]))
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
    size_t n = p->pend.len, limit = HEADER_MAX + 11;
    /* Searched within a fixed window, so that how much has arrived never changes the answer. */
    const char *m = chatp_find(s, n < limit ? n : limit, "<|message|>");
    if (!m) {
        if (n >= limit || final) {
            size_t give = final && n < limit ? n : HEADER_MAX;
            chatp_emit_text(p, CHAT_DELTA_CONTENT, p->opener.data, p->opener.len);
            chatp_emit_text(p, CHAT_DELTA_CONTENT, s, give);
            buf_consume(&p->pend, give);
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
        while (to[l] && !chatp_blank(to[l]) && to[l] != '<' && l < NAME_MAX_LEN)
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
    size_t limit = BODY_MAX + strlen(close);
    const char *f = chatp_find(p->pend.data, p->pend.len < limit ? p->pend.len : limit, close);
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

/* Every search in a body looks at most BODY_MAX bytes ahead (closers a little more), so a call
 * too long to take is given back at the same byte however the text was split. */
static int body_inner(struct chat_parser *p, int final)
{
    const char *s = p->pend.data ? p->pend.data : "";
    size_t n = p->pend.len < BODY_MAX ? p->pend.len : BODY_MAX, used = 0, skip = 0;
    if (p->pend.len > BODY_MAX)
        final = 0; /* the end is past the window: not seen yet */
    switch (p->body) {
    case B_HERMES:
        if (!closed_by(p, "</tool_call>", final, &used, &skip))
            return 0;
        body_done(p, used, chatp_take_json_call(p, s, used), skip ? "</tool_call>" : NULL, skip);
        return 1;
    case B_HARMONY_CALL: {
        const char *c = chatp_find(s, n + 8 < p->pend.len ? n + 8 : p->pend.len, "<|call|>");
        const char *e = chatp_find(s, n + 7 < p->pend.len ? n + 7 : p->pend.len, "<|end|>");
        if (e && (!c || e < c))
            c = e;
        if (!c && !final)
            return 0;
        used = c ? (size_t)(c - s) : n;
        skip = c ? strlen(c == e ? "<|end|>" : "<|call|>") : 0;
        body_done(p, used, chatp_take_named(p, p->h_name, strlen(p->h_name), s, used), NULL, skip);
        return 1;
    }
    case B_FUNCTION: {
        if (!closed_by(p, "</function>", final, &used, &skip))
            return 0;
        const char *gt = memchr(s, '>', used);
        const char *why =
            gt ? chatp_take_named(p, s, (size_t)(gt - s), gt + 1, used - (size_t)(gt - s) - 1)
               : "a <function= call has no closing '>'";
        body_done(p, used, why, skip ? "</function>" : NULL, skip);
        return 1;
    }
    case B_DEEPSEEK:
        if (!closed_by(p, DS_CALLS_END, final, &used, &skip))
            return 0;
        body_done(p, used, chatp_take_deepseek(p, s, used), skip ? DS_CALLS_END : NULL, skip);
        return 1;
    case B_DEEPSEEK_ONE:
        if (!closed_by(p, DS_CALL_END, final, &used, &skip))
            return 0;
        body_done(p, used, chatp_take_deepseek_one(p, s, used), skip ? DS_CALL_END : NULL, skip);
        return 1;
    case B_PYTHON_TAG: {
        size_t i = 0;
        while (i < n && chatp_blank(s[i]))
            i++;
        if (i < n && s[i] == '{') {
            long x = chatp_json_extent(s + i, n - i);
            if (x > 0) {
                body_done(p, i + (size_t)x, chatp_take_json_call(p, s, i + (size_t)x), NULL, 0);
                return 1;
            }
            if (x == 0 && !final)
                return 0;
        }
        if (!final)
            return 0;
        body_done(p, n, chatp_take_python_tag(p, s, n), NULL, 0);
        return 1;
    }
    case B_JSON: {
        long x = chatp_json_extent(s, n);
        if (x == 0 && !final)
            return 0;
        const char *why = NULL;
        if (x > 0 && chatp_take_bare_json(p, s, (size_t)x, &why)) {
            body_done(p, (size_t)x, NULL, NULL, 0);
        } else if (why) {
            body_done(p, (size_t)x, why, NULL, 0);
        } else if (x > 0) {
            /* A JSON value that is no call: ordinary content. */
            chatp_emit_text(p, CHAT_DELTA_CONTENT, s, (size_t)x);
            buf_consume(&p->pend, (size_t)x);
            p->st = S_TEXT;
        } else {
            /* Not JSON, or unfinished at the end (a call-looking one gets a word): text. */
            if (x == 0 && chatp_find(s, n, "\"name\""))
                chatp_warn(p, "the model's output ended inside what looks like a tool call; it is "
                              "returned as text");
            p->st = S_TEXT;
        }
        return 1;
    }
    case B_MISTRAL: {
        size_t i = 0;
        while (i < n && chatp_blank(s[i]))
            i++;
        if (i == n)
            return final ? (body_done(p, n, "an empty [TOOL_CALLS]", NULL, 0), 1) : 0;
        if (s[i] == '[' || s[i] == '{') {
            long x = chatp_json_extent(s + i, n - i);
            if (x == 0 && !final)
                return 0;
            const char *why = "the [TOOL_CALLS] list is not valid JSON";
            if (x > 0) {
                json_t *v = chatp_parse_json(s + i, (size_t)x);
                why = json_is_array(v) ? chatp_take_call_list(p, v) : chatp_take_call_obj(p, v);
                json_decref(v);
            }
            /* Not JSON: only the opener goes back; the rest is read again as text. */
            body_done(p, x > 0 ? i + (size_t)x : x == 0 ? n : i, why, NULL, 0);
            return 1;
        }
        size_t window = NAME_MAX_LEN + 6;
        const char *a = chatp_find(s, n < window ? n : window, "[ARGS]");
        if (!a) {
            if (!final && n < window)
                return 0;
            body_done(p, 0, "a [TOOL_CALLS] call has no [ARGS]", NULL, 0);
            return 1;
        }
        size_t ao = (size_t)(a - s) + 6;
        while (ao < n && chatp_blank(s[ao]))
            ao++;
        long x = ao < n && s[ao] == '{' ? chatp_json_extent(s + ao, n - ao) : (ao < n ? -1 : 0);
        if (x == 0 && !final)
            return 0;
        if (x <= 0) {
            body_done(p, x == 0 ? n : ao, "a [TOOL_CALLS] call's arguments are not a JSON object",
                      NULL, 0);
            return 1;
        }
        body_done(p, ao + (size_t)x, chatp_take_named(p, s, (size_t)(a - s), s + ao, (size_t)x),
                  NULL, 0);
        return 1;
    }
    case B_V32: {
        const char *nl = memchr(s, '\n', n <= NAME_MAX_LEN ? n : NAME_MAX_LEN + 1);
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
        while (i < n && chatp_blank(s[i]))
            i++;
        long x = i < n && s[i] == '{' ? chatp_json_extent(s + i, n - i) : (i < n ? -1 : 0);
        if (x == 0 && !final)
            return 0;
        if (x <= 0) {
            body_done(p, x == 0 ? n : i, "a functionary call's arguments are not a JSON object",
                      NULL, 0);
            return 1;
        }
        body_done(p, i + (size_t)x, chatp_take_named(p, s, nl_at, s + i, (size_t)x), NULL, 0);
        return 1;
    }
    }
    return 0;
}

static int step_body(struct chat_parser *p, int final)
{
    if (body_inner(p, final))
        return 1;
    if (p->pend.len <= BODY_MAX)
        return 0;
    body_done(p, BODY_MAX, "longer than hearth takes", NULL, 0);
    return 1;
}

static void run(struct chat_parser *p, int final)
{
    for (;;) {
        int progress = 0;
        switch (p->st) {
        case S_START: progress = step_start(p, final); break;
        case S_TEXT: progress = step_text(p, final); break;
        case S_BODY: progress = step_body(p, final); break;
        case S_HEADER: progress = step_header(p, final); break;
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
        chatp_out_text(p, CHAT_DELTA_CONTENT, p->c_ws.data, p->c_ws.len);
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
