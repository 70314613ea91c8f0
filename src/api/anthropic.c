/* Anthropic's Messages API: POST /v1/messages (whole and streamed with Anthropic's event
 * sequence) and POST /v1/messages/count_tokens. Errors take Anthropic's shape:
 * {"type":"error","error":{"type","message"}}. */
#include "api/api.h"
#include "base/buf.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void anthropic_error(struct http_reply *rep, int code, const char *msg)
{
    int status = err_http_status(code);
    rep->retry_after = err_retry_after(code);
    const char *type = status == 404   ? "not_found_error"
                       : status == 401 ? "authentication_error"
                       : status == 403 ? "permission_error"
                       : status == 413 ? "request_too_large"
                       : status == 429 ? "rate_limit_error"
                       : status == 503 ? "overloaded_error"
                       : status >= 500 ? "api_error"
                                       : "invalid_request_error";
    json_t *e = json_object();
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "message", json_string(msg));
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("error"));
    json_object_set_new(o, "error", e);
    api_reply(rep, status, o);
}

/* The system prompt: a string or a list of text blocks. */
static int system_text(json_t *sys, struct buf *out, struct err *e)
{
    if (!sys || json_is_null(sys))
        return 0;
    if (json_is_string(sys))
        return buf_puts(out, json_string_value(sys)) ? ERR_TOO_LARGE : 0;
    if (!json_is_array(sys))
        return err_set(e, ERR_BAD_REQUEST, "system must be a string or a list of text blocks");
    size_t i;
    json_t *b;
    json_array_foreach(sys, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (!t)
            return err_set(e, ERR_BAD_REQUEST, "system.%zu must be a text block", i);
        if ((i && buf_puts(out, "\n")) || buf_puts(out, t))
            return ERR_TOO_LARGE;
    }
    return 0;
}

/* A tool_result's content: a string or a list of text blocks. */
static int result_text(json_t *c, size_t i, size_t k, struct buf *out, struct err *e)
{
    if (!c || json_is_null(c) || json_is_string(c))
        return buf_puts(out, c ? json_string_value(c) ? json_string_value(c) : "" : "")
                   ? ERR_TOO_LARGE
                   : 0;
    if (!json_is_array(c))
        return err_set(e, ERR_BAD_REQUEST,
                       "messages.%zu.content.%zu.content: must be a string or a list of text "
                       "blocks",
                       i, k);
    size_t j;
    json_t *b;
    json_array_foreach(c, j, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (!t)
            return err_set(e, ERR_BAD_REQUEST,
                           "messages.%zu.content.%zu.content.%zu: only text blocks are supported",
                           i, k, j);
        if ((j && buf_puts(out, "\n")) || buf_puts(out, t))
            return ERR_TOO_LARGE;
    }
    return 0;
}

/* One Anthropic message into canonical ones (chat.h): text blocks join into content; an
 * assistant's tool_use blocks become tool_calls and its thinking reasoning_content; a user's
 * tool_result blocks become tool messages, placed before the user's own text. */
static int convert_message(json_t *m, size_t i, json_t *conv, struct err *e)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!json_is_object(m) || !role ||
        (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
        return err_set(e, ERR_BAD_REQUEST, "messages.%zu.role must be user or assistant", i);
    int assistant = !strcmp(role, "assistant");
    json_t *c = json_object_get(m, "content");
    if (json_is_string(c)) {
        json_array_append_new(conv, json_pack("{s:s,s:O}", "role", role, "content", c));
        return 0;
    }
    if (!json_is_array(c))
        return err_set(e, ERR_BAD_REQUEST,
                       "messages.%zu.content must be a string or a list of blocks", i);
    struct buf text, thinking;
    buf_init(&text, PROTO_MAX_PROMPT);
    buf_init(&thinking, PROTO_MAX_PROMPT);
    json_t *calls = json_array();
    int rc = 0;
    size_t k;
    json_t *b;
    json_array_foreach(c, k, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type)
            type = "untyped";
        if (!strcmp(type, "text")) {
            const char *t = json_string_value(json_object_get(b, "text"));
            if (!t) {
                rc = err_set(e, ERR_BAD_REQUEST, "messages.%zu.content.%zu.text: required", i, k);
                break;
            }
            if (buf_puts(&text, t)) {
                rc = ERR_TOO_LARGE;
                break;
            }
        } else if (assistant && !strcmp(type, "tool_use")) {
            const char *id = json_string_value(json_object_get(b, "id"));
            const char *name = json_string_value(json_object_get(b, "name"));
            json_t *input = json_object_get(b, "input");
            if (!id || !name || (input && !json_is_object(input))) {
                rc = err_set(e, ERR_BAD_REQUEST,
                             "messages.%zu.content.%zu: a tool_use block needs id, name and an "
                             "input object",
                             i, k);
                break;
            }
            json_array_append_new(calls,
                                  json_pack("{s:s,s:{s:s,s:O}}", "id", id, "function", "name", name,
                                            "arguments", input ? input : json_object()));
        } else if (assistant && !strcmp(type, "thinking")) {
            const char *t = json_string_value(json_object_get(b, "thinking"));
            if (t && buf_puts(&thinking, t)) {
                rc = ERR_TOO_LARGE;
                break;
            }
        } else if (assistant && !strcmp(type, "redacted_thinking")) {
            /* Encrypted reasoning from another model: nothing a local template can show. */
        } else if (!assistant && !strcmp(type, "tool_result")) {
            const char *id = json_string_value(json_object_get(b, "tool_use_id"));
            if (!id) {
                rc = err_set(e, ERR_BAD_REQUEST, "messages.%zu.content.%zu.tool_use_id: required",
                             i, k);
                break;
            }
            struct buf r;
            buf_init(&r, PROTO_MAX_PROMPT);
            rc = result_text(json_object_get(b, "content"), i, k, &r, e);
            if (!rc)
                json_array_append_new(conv, json_pack("{s:s,s:s,s:s}", "role", "tool", "content",
                                                      r.data ? r.data : "", "tool_call_id", id));
            buf_free(&r);
            if (rc)
                break;
        } else {
            rc = err_set(e, ERR_BAD_REQUEST,
                         "messages.%zu.content.%zu: %s blocks are not supported in %s messages", i,
                         k, type, role);
            break;
        }
    }
    if (!rc && (text.len || json_array_size(calls) || thinking.len || !json_array_size(c))) {
        json_t *cm = json_pack("{s:s,s:s}", "role", role, "content", text.data ? text.data : "");
        if (thinking.len)
            json_object_set_new(cm, "reasoning_content", json_string(thinking.data));
        char where[32];
        snprintf(where, sizeof where, "messages.%zu", i);
        rc = api_tool_calls_in(calls, cm, where, e);
        json_array_append_new(conv, cm);
    }
    json_decref(calls);
    buf_free(&text);
    buf_free(&thinking);
    return rc;
}

/* thinking: {type: enabled, budget_tokens} | {type: disabled}. */
static int parse_thinking(json_t *t, struct native_req *req, struct err *e)
{
    if (!t || json_is_null(t))
        return 0;
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!json_is_object(t) || !type)
        return err_set(e, ERR_BAD_REQUEST, "thinking: must be an object with a type");
    if (!strcmp(type, "disabled")) {
        req->think = 0;
        return 0;
    }
    if (strcmp(type, "enabled") != 0 && strcmp(type, "adaptive") != 0)
        return err_set(e, ERR_BAD_REQUEST, "thinking.type: must be \"enabled\" or \"disabled\"");
    int64_t budget = -1;
    int rc = api_get_int(t, "budget_tokens", 1, 1000000000, &budget, e);
    if (rc)
        return err_set(e, ERR_BAD_REQUEST, "thinking.budget_tokens: must be a positive integer");
    req->think = 1;
    if (budget > 0) {
        req->gen.reasoning_budget = (int32_t)(budget < (1 << 24) ? budget : (1 << 24));
        native_mark(req, "reasoning_budget");
    }
    return 0;
}

/* model, messages, system, tools, tool_choice and thinking into req->prompt (shared by
 * messages and count_tokens). */
static int parse_prompt(json_t *body, struct native_req *req, struct err *e)
{
    const char *model = NULL;
    int rc = api_get_str(body, "model", &model, e);
    if (rc)
        return rc;
    if (!model || !*model)
        return err_set(e, ERR_BAD_REQUEST, "model: field required");
    snprintf(req->model, sizeof req->model, "%s", model);
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return err_set(e, ERR_BAD_REQUEST, "messages: a non-empty list is required");
    if (json_array_size(msgs) > 100000)
        return err_set(e, ERR_TOO_LARGE, "messages: at most 100000");
    if ((rc = api_tools_set(req, json_object_get(body, "tools"), 1, e)) ||
        (rc = api_tool_choice_anthropic(req, json_object_get(body, "tool_choice"), e)) ||
        (rc = parse_thinking(json_object_get(body, "thinking"), req, e)))
        return rc;
    struct buf sys;
    buf_init(&sys, PROTO_MAX_PROMPT);
    json_t *conv = json_array();
    rc = system_text(json_object_get(body, "system"), &sys, e);
    if (!rc && sys.len)
        json_array_append_new(conv, json_pack("{s:s,s:s}", "role", "system", "content", sys.data));
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (rc)
            break;
        rc = convert_message(m, i, conv, e);
    }
    if (!rc)
        rc = native_resolve(req, e);
    if (!rc)
        rc = api_chat_prompt(req, conv, e);
    json_decref(conv);
    buf_free(&sys);
    return rc;
}

/* ---- output ---- */

struct anth {
    char id[48];
    int started;
    int block;      /* the open content block's index, or -1 */
    int block_type; /* the open block: 1 text, 2 thinking */
    int n_blocks;   /* blocks started so far */
};

static void event(struct buf *out, const char *name, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    buf_printf(out, "event: %s\ndata: %s\n\n", name, s);
    free(s);
}

static const char *stop_reason(uint32_t stop, int tool_use)
{
    return stop == PROTO_STOP_STRING                                 ? "stop_sequence"
           : stop == PROTO_STOP_LENGTH || stop == PROTO_STOP_CONTEXT ? "max_tokens"
           : tool_use                                                ? "tool_use"
                                                                     : "end_turn";
}

static json_t *message_obj(struct gen_run *g, json_t *content)
{
    struct anth *a = g->pctx;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "type", json_string("message"));
    json_object_set_new(o, "role", json_string("assistant"));
    json_object_set_new(o, "model", json_string(g->req.model));
    json_object_set_new(o, "content", content);
    return o;
}

static void start(struct gen_run *g, struct buf *out)
{
    struct anth *a = g->pctx;
    if (a->started)
        return;
    a->started = 1;
    a->block = -1;
    json_t *m = message_obj(g, json_array());
    json_object_set_new(m, "stop_reason", json_null());
    json_object_set_new(m, "stop_sequence", json_null());
    json_t *u = json_object();
    json_object_set_new(u, "input_tokens", json_integer(0)); /* known at the end: message_delta */
    json_object_set_new(u, "output_tokens", json_integer(0));
    json_object_set_new(m, "usage", u);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("message_start"));
    json_object_set_new(o, "message", m);
    event(out, "message_start", o);
    event(out, "ping", json_pack("{s:s}", "type", "ping"));
}

static void close_block(struct anth *a, struct buf *out)
{
    if (a->block < 0)
        return;
    if (a->block_type == 2) /* a local model's reasoning carries no signature: an empty one */
        event(out, "content_block_delta",
              json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta", "index", a->block,
                        "delta", "type", "signature_delta", "signature", ""));
    event(out, "content_block_stop",
          json_pack("{s:s, s:i}", "type", "content_block_stop", "index", a->block));
    a->block = -1;
}

/* Opens a block (closing the one open), unless one of that type is open already. */
static void open_block(struct anth *a, int type, json_t *block, struct buf *out)
{
    if (a->block >= 0 && a->block_type == type && type != 3) {
        json_decref(block);
        return;
    }
    close_block(a, out);
    a->block = a->n_blocks++;
    a->block_type = type;
    event(out, "content_block_start",
          json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", a->block,
                    "content_block", block));
}

static void block_delta(struct anth *a, json_t *delta, struct buf *out)
{
    event(out, "content_block_delta",
          json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", a->block, "delta",
                    delta));
}

static void an_chunk(struct gen_run *g, const struct proto_msg *ev, struct buf *out)
{
    struct anth *a = g->pctx;
    start(g, out);
    if (!ev->text_len)
        return;
    open_block(a, 1, json_pack("{s:s,s:s}", "type", "text", "text", ""), out);
    json_t *s = json_stringn(ev->text, ev->text_len);
    block_delta(a, json_pack("{s:s,s:o}", "type", "text_delta", "text", s ? s : json_string("")),
                out);
}

/* Reasoning as a thinking block; a tool call as a tool_use block with its input in one
 * input_json_delta. */
static void an_delta(struct gen_run *g, const struct chat_delta *d, struct buf *out)
{
    struct anth *a = g->pctx;
    start(g, out);
    if (d->kind == CHAT_DELTA_REASONING) {
        open_block(a, 2,
                   json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", "", "signature", ""),
                   out);
        json_t *s = json_stringn(d->text, d->len);
        block_delta(
            a,
            json_pack("{s:s,s:o}", "type", "thinking_delta", "thinking", s ? s : json_string("")),
            out);
        return;
    }
    open_block(
        a, 3,
        json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id", d->id, "name", d->name, "input"),
        out);
    block_delta(a, json_pack("{s:s,s:s}", "type", "input_json_delta", "partial_json", d->arguments),
                out);
    close_block(a, out);
}

static void an_end(struct gen_run *g, const struct proto_msg *ev, int last, struct buf *out)
{
    (void)last;
    struct anth *a = g->pctx;
    start(g, out);
    if (!a->n_blocks) /* an empty answer is still one (empty) text block */
        open_block(a, 1, json_pack("{s:s,s:s}", "type", "text", "text", ""), out);
    close_block(a, out);
    json_t *d = json_object();
    json_object_set_new(
        d, "stop_reason",
        json_string(stop_reason(ev->stats.stop_reason, api_gen_n_tool_calls(g) > 0)));
    json_object_set_new(d, "stop_sequence",
                        ev->stats.stop_string ? json_string(ev->stats.stop_string) : json_null());
    json_t *u = json_object();
    json_object_set_new(u, "input_tokens", json_integer(ev->stats.prompt_n));
    json_object_set_new(u, "output_tokens", json_integer(ev->stats.gen_n));
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("message_delta"));
    json_object_set_new(o, "delta", d);
    json_object_set_new(o, "usage", u);
    event(out, "message_delta", o);
    event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

static void an_stream_error(struct gen_run *g, const char *msg, struct buf *out)
{
    (void)g;
    event(out, "error",
          json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", "api_error", "message",
                    msg));
}

static void an_whole(struct gen_run *g, struct http_reply *rep)
{
    struct gen_choice *c = &g->choices[0];
    json_t *content = json_array();
    if (c->reasoning)
        json_array_append_new(content, json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking",
                                                 c->reasoning, "signature", ""));
    if (c->len || (!c->reasoning && !c->tool_calls)) {
        json_t *text = json_stringn(c->text ? c->text : "", c->len);
        json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text", "text",
                                                 text ? text : json_string("")));
    }
    size_t i;
    json_t *call;
    json_array_foreach(c->tool_calls, i, call)
    {
        json_t *fn = json_object_get(call, "function");
        json_array_append_new(content, json_pack("{s:s,s:O,s:O,s:O}", "type", "tool_use", "id",
                                                 json_object_get(call, "id"), "name",
                                                 json_object_get(fn, "name"), "input",
                                                 json_object_get(fn, "arguments")));
    }
    json_t *o = message_obj(g, content);
    json_object_set_new(o, "stop_reason",
                        json_string(stop_reason(c->stats.stop_reason, c->tool_calls != NULL)));
    json_object_set_new(o, "stop_sequence",
                        c->stats.stop_string ? json_string(c->stats.stop_string) : json_null());
    json_t *u = json_object();
    json_object_set_new(u, "input_tokens", json_integer(c->stats.prompt_n));
    json_object_set_new(u, "output_tokens", json_integer(c->stats.gen_n));
    json_object_set_new(u, "cache_read_input_tokens", json_integer(c->stats.prompt_cached));
    json_object_set_new(o, "usage", u);
    if (json_array_size(g->warnings))
        json_object_set(o, "warnings", g->warnings);
    api_reply(rep, 200, o);
}

static const struct gen_format anthropic_format = {
    .content_type = "text/event-stream",
    .chunk = an_chunk,
    .end = an_end,
    .stream_error = an_stream_error,
    .whole = an_whole,
    .error = anthropic_error,
    .free = free,
    .delta = an_delta,
};

static void handle_messages(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, anthropic_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    struct err e = {0};
    int stream = 0;
    int64_t max_tokens = -1;
    json_t *warnings = json_array();
    int rc = api_get_int(body, "max_tokens", 1, 1000000000, &max_tokens, &e);
    if (!rc && max_tokens < 0)
        rc = err_set(&e, ERR_BAD_REQUEST, "max_tokens: field required");
    if (!rc)
        rc = api_get_bool(body, "stream", &stream, &e);
    /* temperature, top_p, top_k, and llama.cpp's extras, through the parameter table. */
    static const char *const own[] = {"model", "messages", "system",      "max_tokens", "stream",
                                      "stop",  "tools",    "tool_choice", "thinking"};
    if (!rc)
        rc = api_apply_fields(body, own, ARRAY_LEN(own), 1, &req, warnings, &e);
    json_t *stops = json_object_get(body, "stop_sequences");
    if (!rc && stops) {
        json_t *o = json_pack("{s:O}", "stop", stops);
        rc = api_apply_options(o, &req, warnings, &e);
        json_decref(o);
    }
    if (!rc)
        rc = parse_prompt(body, &req, &e);
    if (rc) {
        anthropic_error(rep, rc, e.msg);
    } else {
        req.gen.num_predict = (int32_t)max_tokens;
        native_mark(&req, "num_predict");
        struct anth *a = xcalloc(1, sizeof *a);
        static uint64_t counter;
        snprintf(
            a->id, sizeof a->id, "msg_%llx%06llx", (unsigned long long)time(NULL),
            (unsigned long long)(__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) & 0xffffff));
        api_gen_reply(api_gen_new(&anthropic_format, a, stream, warnings), &req, rep);
    }
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

static void handle_count_tokens(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, anthropic_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_TOKENIZE);
    struct err e = {0};
    int rc = parse_prompt(body, &req, &e);
    struct proto_msg ans;
    int64_t load_us;
    proto_msg_init(&ans, 0);
    if (!rc) {
        snprintf(rep->model, sizeof rep->model, "%s", req.model);
        req.flags = PROTO_TOK_ADD_SPECIAL | PROTO_TOK_PARSE_SPECIAL;
        rc = native_call(&req, &ans, &load_us, &e);
    }
    if (rc)
        anthropic_error(rep, rc, e.msg);
    else
        api_reply(rep, 200, json_pack("{s:i}", "input_tokens", (int)ans.n_prefix_tokens));
    proto_msg_free(&ans);
    native_req_free(&req);
    json_decref(body);
}

static const struct http_route routes[] = {
    {"POST", "/v1/messages", handle_messages},
    {"POST", "/v1/messages/count_tokens", handle_count_tokens},
};

void anthropic_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
