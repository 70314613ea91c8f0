/* Running a generation for any protocol: start it, then either stream its events through the
 * protocol's formatter or collect every choice and answer once. The protocol files only format;
 * the order of events, the first-event wait, several choices, cancellation when the client goes
 * away and the shutdown bookkeeping live here once. */
#include "api/api.h"
#include "base/utf8.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static int active_streams;

int api_active_streams(void)
{
    return __atomic_load_n(&active_streams, __ATOMIC_RELAXED);
}

static json_t *logprob_json(const struct token_logprob *t, int with_id)
{
    json_t *o = json_object();
    if (with_id)
        json_object_set_new(o, "id", json_integer(t->token));
    char *s = utf8_sanitize(t->piece ? t->piece : "", t->piece ? strlen(t->piece) : 0);
    json_object_set_new(o, "token", json_string(s));
    free(s);
    json_object_set_new(o, "logprob", json_real(t->logprob));
    json_t *bytes = json_array();
    for (const unsigned char *p = (const unsigned char *)(t->piece ? t->piece : ""); *p; p++)
        json_array_append_new(bytes, json_integer(*p));
    json_object_set_new(o, "bytes", bytes);
    return o;
}

json_t *api_probs_json(const struct proto_msg *ev, int with_ids)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < ev->n_probs; i++) {
        json_t *o = logprob_json(&ev->probs[i].chosen, with_ids);
        json_t *top = json_array();
        for (uint32_t k = 0; k < ev->probs[i].n_top; k++)
            json_array_append_new(top, logprob_json(&ev->probs[i].top[k], with_ids));
        json_object_set_new(o, "top_logprobs", top);
        json_array_append_new(arr, o);
    }
    return arr;
}

static void run_free(struct gen_run *g)
{
    if (g->counted)
        __atomic_sub_fetch(&active_streams, 1, __ATOMIC_RELAXED);
    native_finish(g->job); /* cancels a generation the client walked away from */
    if (g->have_first)
        proto_msg_free(&g->first);
    chat_parser_free(g->parser);
    for (int i = 0; g->choices && i < g->n_choices; i++) {
        free(g->choices[i].text);
        free(g->choices[i].reasoning);
        json_decref(g->choices[i].tool_calls);
        json_decref(g->choices[i].logprobs);
        free(g->choices[i].stats.context);
        free(g->choices[i].stats.stop_string);
    }
    free(g->choices);
    if (g->fmt->free)
        g->fmt->free(g->pctx);
    native_req_free(&g->req);
    strlist_free(&g->prompts);
    json_decref(g->warnings);
    buf_free(&g->out);
    free(g);
}

static void new_parser(struct gen_run *g)
{
    chat_parser_free(g->parser);
    g->parser = NULL;
    if (!g->req.parse)
        return;
    struct chat_parse_opts o = {
        .syntax = g->req.syntax,
        .tools = json_array_size(g->req.tools) && g->req.tool_choice != API_TOOLS_NONE,
        .in_reasoning = g->req.in_reasoning,
        .split_reasoning = 1,
        .id_seed = (uint64_t)now_us() ^ ((uint64_t)(uintptr_t)g << 16) ^ (uint64_t)g->choice,
    };
    g->parser = chat_parser_new(&o);
}

/* The parser's warnings join the reply's (once, at the end of a choice). */
static void take_warnings(struct gen_run *g)
{
    size_t i;
    json_t *w;
    json_array_foreach(chat_parser_warnings(g->parser), i, w) json_array_append(g->warnings, w);
}

size_t api_gen_n_tool_calls(const struct gen_run *g)
{
    return g->parser ? json_array_size(chat_parser_tool_calls(g->parser)) : 0;
}

/* Hands the parser's deltas to the protocol: content through chunk (with the token's
 * log-probabilities, if any, on the first piece), the rest through delta. */
static void pass_deltas(struct gen_run *g, const struct proto_msg *ev)
{
    size_t n;
    const struct chat_delta *d = chat_parser_deltas(g->parser, &n);
    int probs_sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i].kind == CHAT_DELTA_CONTENT) {
            struct proto_msg m = {.type = PROTO_TOKEN};
            m.text = (char *)d[i].text;
            m.text_len = (uint32_t)d[i].len;
            if (ev && !probs_sent) {
                m.probs = ev->probs;
                m.n_probs = ev->n_probs;
                probs_sent = 1;
            }
            g->fmt->chunk(g, &m, &g->out);
        } else if (g->fmt->delta) {
            g->fmt->delta(g, &d[i], &g->out);
        }
    }
}

/* Starts choice g->choice. */
static int start_choice(struct gen_run *g, struct err *e)
{
    if (g->choice > 0 && g->req.gen.seed >= 0)
        g->req.gen.seed = (g->req.gen.seed + 1) % 4294967295LL; /* other choices, other draws */
    if (g->prompts.n) {
        int per = g->n_choices / g->prompts.n;
        free(g->req.prompt);
        g->req.prompt = xstrdup(g->prompts.v[g->choice / (per > 0 ? per : 1)]);
    }
    new_parser(g);
    int rc = native_start(&g->req, &g->job, e);
    if (!rc)
        g->load_us += native_load_us(g->job);
    return rc;
}

/* Ends the current choice's job and starts the next one, if any. Returns 1 when one started. */
static int next_choice(struct gen_run *g, struct err *e, int *rc)
{
    native_finish(g->job);
    g->job = NULL;
    *rc = 0;
    if (++g->choice >= g->n_choices)
        return 0;
    *rc = start_choice(g, e);
    return *rc == 0;
}

static void stream_step(struct gen_run *g)
{
    struct proto_msg ev;
    struct err e = {0};
    int rc = 0;
    if (g->have_first) {
        ev = g->first;
        g->have_first = 0;
    } else {
        rc = native_next(g->job, &ev, &e);
    }
    if (rc) {
        char *msg = api_redact(e.msg); /* no server folder in an error (api_reply's rule) */
        g->fmt->stream_error(g, msg, &g->out);
        free(msg);
        g->done = 1;
        return;
    }
    if (ev.type == PROTO_TOKEN && g->parser) {
        chat_parser_feed(g->parser, ev.text ? ev.text : "", ev.text_len);
        pass_deltas(g, &ev);
    } else if (ev.type == PROTO_TOKEN && (ev.text_len || ev.n_probs)) {
        g->fmt->chunk(g, &ev, &g->out);
    } else if (ev.type == PROTO_DONE) {
        if (g->parser) {
            chat_parser_finish(g->parser);
            pass_deltas(g, NULL);
            take_warnings(g);
        }
        g->rep->tokens += ev.stats.gen_n;
        int last = g->choice + 1 >= g->n_choices;
        g->fmt->end(g, &ev, last, &g->out);
        if (last || !next_choice(g, &e, &rc)) {
            if (rc) {
                char *msg = api_redact(e.msg);
                g->fmt->stream_error(g, msg, &g->out);
                free(msg);
            }
            g->done = 1;
        }
    }
    proto_msg_free(&ev);
}

static size_t stream_next(void *ctx, char *buf, size_t max)
{
    struct gen_run *g = ctx;
    while (g->out_pos >= g->out.len) {
        if (g->done)
            return 0;
        buf_reset(&g->out);
        g->out_pos = 0;
        stream_step(g);
    }
    size_t n = g->out.len - g->out_pos;
    if (n > max)
        n = max;
    memcpy(buf, g->out.data + g->out_pos, n);
    g->out_pos += n;
    return n;
}

static void stream_free(void *ctx)
{
    run_free(ctx);
}

/* Collects every choice, then lets the protocol answer once. */
static void run_whole(struct gen_run *g)
{
    struct buf text;
    buf_init(&text, 64u << 20);
    for (;;) {
        struct proto_msg ev;
        struct err e = {0};
        int rc = native_next(g->job, &ev, &e);
        if (rc) {
            g->fmt->error(g->rep, rc, e.msg);
            break;
        }
        struct gen_choice *c = &g->choices[g->choice];
        if (ev.type == PROTO_TOKEN) {
            buf_append(&text, ev.text ? ev.text : "", ev.text_len);
            if (ev.n_probs) {
                json_t *p = api_probs_json(&ev, g->fmt->probs_with_ids);
                json_array_extend(c->logprobs, p);
                json_decref(p);
            }
        } else if (ev.type == PROTO_DONE) {
            if (g->parser) {
                chat_parser_feed(g->parser, text.data ? text.data : "", text.len);
                chat_parser_finish(g->parser);
                take_warnings(g);
                size_t cl, rl;
                const char *ct = chat_parser_content(g->parser, &cl);
                const char *rt = chat_parser_reasoning(g->parser, &rl);
                buf_reset(&text);
                buf_append(&text, ct, cl);
                if (rl)
                    c->reasoning = xstrndup(rt, rl);
                if (json_array_size(chat_parser_tool_calls(g->parser)))
                    c->tool_calls = json_deep_copy(chat_parser_tool_calls(g->parser));
            }
            c->len = text.len;
            c->text = buf_steal(&text);
            c->stats = ev.stats;
            memset(&ev.stats, 0, sizeof ev.stats); /* c owns context and stop_string now */
            g->rep->tokens += c->stats.gen_n;
            proto_msg_free(&ev);
            if (g->choice + 1 >= g->n_choices) {
                g->fmt->whole(g, g->rep);
                break;
            }
            if (!next_choice(g, &e, &rc)) {
                g->fmt->error(g->rep, rc ? rc : ERR_INTERNAL, rc ? e.msg : "no more choices");
                break;
            }
            continue;
        }
        proto_msg_free(&ev);
    }
    buf_free(&text);
}

struct gen_run *api_gen_new(const struct gen_format *fmt, void *pctx, int stream, json_t *warnings)
{
    struct gen_run *g = xcalloc(1, sizeof *g);
    g->fmt = fmt;
    g->pctx = pctx;
    g->stream = stream;
    g->warnings = json_incref(warnings);
    return g;
}

void api_gen_reply(struct gen_run *g, struct native_req *req, struct http_reply *rep)
{
    g->req = *req;
    memset(req, 0, sizeof *req);
    g->rep = rep;
    g->t0 = now_us();
    if (g->n_choices < 1)
        g->n_choices = 1;
    if (!g->warnings)
        g->warnings = json_array();
    if (g->req.prompt_warning[0]) /* a fallback chat format (api_chat_prompt) */
        json_array_append_new(g->warnings, json_string(g->req.prompt_warning));
    g->choices = xcalloc((size_t)g->n_choices, sizeof *g->choices);
    for (int i = 0; i < g->n_choices; i++)
        g->choices[i].logprobs = json_array();
    buf_init(&g->out, 0);
    snprintf(rep->model, sizeof rep->model, "%s", g->req.model);
    struct err e = {0};
    int rc = start_choice(g, &e);
    if (rc) {
        g->fmt->error(rep, rc, e.msg);
        run_free(g);
        return;
    }
    if (!g->stream) {
        run_whole(g);
        run_free(g);
        return;
    }
    /* Wait for the first event, so that a request the worker refuses (the prompt does not fit,
     * the grammar does not parse) gets its proper status instead of a 200 and an error event. */
    rc = native_next(g->job, &g->first, &e);
    if (rc) {
        g->fmt->error(rep, rc, e.msg);
        run_free(g);
        return;
    }
    g->have_first = 1;
    g->counted = 1;
    __atomic_add_fetch(&active_streams, 1, __ATOMIC_RELAXED);
    rep->status = 200;
    rep->content_type = g->fmt->content_type;
    rep->stream = (struct http_stream){stream_next, stream_free, g};
}

int64_t api_gen_elapsed_us(const struct gen_run *g)
{
    return now_us() - g->t0;
}
