/* OpenAI's Responses API (POST /v1/responses, GET and DELETE /v1/responses/{id}), with state:
 * previous_response_id continues a conversation kept in the daemon (both peers reject it). The
 * store is bounded: at most RESP_MAX responses, each conversation at most RESP_MAX_BYTES,
 * kept for RESP_TTL seconds; `store: false` keeps nothing. */
#include "api/api.h"
#include "base/buf.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESP_MAX       512
#define RESP_MAX_BYTES (8u << 20)
#define RESP_TTL       (24L * 3600)

struct stored {
    char id[48];
    time_t created;
    json_t *conversation; /* [{role, content}] including the answer */
    json_t *response;     /* the response object, for GET */
};

static struct {
    pthread_mutex_t mu;
    struct stored items[RESP_MAX];
    int n;
} store = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void drop(int i)
{
    json_decref(store.items[i].conversation);
    json_decref(store.items[i].response);
    store.items[i] = store.items[--store.n];
}

static void expire_locked(void)
{
    time_t now = time(NULL);
    for (int i = store.n - 1; i >= 0; i--)
        if (now - store.items[i].created > RESP_TTL)
            drop(i);
}

static void put(const char *id, json_t *conversation, json_t *response)
{
    char *s = json_dumps(conversation, JSON_COMPACT);
    size_t size = s ? strlen(s) : 0;
    free(s);
    if (size > RESP_MAX_BYTES)
        return; /* too large to keep: a later previous_response_id gets a clear 404 */
    pthread_mutex_lock(&store.mu);
    expire_locked();
    if (store.n == RESP_MAX) { /* the oldest goes */
        int oldest = 0;
        for (int i = 1; i < store.n; i++)
            if (store.items[i].created < store.items[oldest].created)
                oldest = i;
        drop(oldest);
    }
    struct stored *it = &store.items[store.n++];
    snprintf(it->id, sizeof it->id, "%s", id);
    it->created = time(NULL);
    it->conversation = json_incref(conversation);
    it->response = json_incref(response);
    pthread_mutex_unlock(&store.mu);
}

/* A new reference to the stored conversation or response, or NULL. */
static json_t *get(const char *id, int response)
{
    json_t *r = NULL;
    pthread_mutex_lock(&store.mu);
    expire_locked();
    for (int i = 0; i < store.n; i++)
        if (!strcmp(store.items[i].id, id)) {
            r = json_incref(response ? store.items[i].response : store.items[i].conversation);
            break;
        }
    pthread_mutex_unlock(&store.mu);
    return r;
}

static int del(const char *id)
{
    int found = 0;
    pthread_mutex_lock(&store.mu);
    for (int i = 0; i < store.n; i++)
        if (!strcmp(store.items[i].id, id)) {
            drop(i);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&store.mu);
    return found;
}

/* ---- request ---- */

/* A function_call item joins the assistant message before it (or starts one); a
 * function_call_output becomes a tool message. In OpenAI chat's shape (openai.c reads it). */
static int add_call_item(json_t *it, const char *type, size_t i, json_t *conv, struct err *e)
{
    const char *call_id = json_string_value(json_object_get(it, "call_id"));
    if (!call_id)
        return err_set(e, ERR_BAD_REQUEST, "input[%zu].call_id is required", i);
    if (!strcmp(type, "function_call_output")) {
        json_t *out = json_object_get(it, "output");
        if (!json_is_string(out))
            return err_set(e, ERR_BAD_REQUEST, "input[%zu].output must be a string", i);
        json_array_append_new(conv, json_pack("{s:s,s:O,s:s}", "role", "tool", "content", out,
                                              "tool_call_id", call_id));
        return 0;
    }
    const char *name = json_string_value(json_object_get(it, "name"));
    json_t *args = json_object_get(it, "arguments");
    if (!name || !json_is_string(args))
        return err_set(e, ERR_BAD_REQUEST,
                       "input[%zu]: a function_call needs a name and string arguments", i);
    json_t *last = json_array_get(conv, json_array_size(conv) - 1);
    const char *lr = json_string_value(json_object_get(last, "role"));
    if (!lr || strcmp(lr, "assistant") != 0) {
        last = json_pack("{s:s,s:s}", "role", "assistant", "content", "");
        json_array_append_new(conv, last);
    }
    json_t *calls = json_object_get(last, "tool_calls");
    if (!calls) {
        calls = json_array();
        json_object_set_new(last, "tool_calls", calls);
    }
    json_array_append_new(calls,
                          json_pack("{s:s,s:s,s:{s:s,s:O}}", "id", call_id, "type", "function",
                                    "function", "name", name, "arguments", args));
    return 0;
}

/* Responses' flat tools ({type:"function", name, description, parameters}) and tool_choice
 * ({type:"function", name}) into chat's shape. */
static int parse_tools(json_t *body, struct native_req *req, struct err *e)
{
    json_t *tools = json_object_get(body, "tools");
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return err_set(e, ERR_BAD_REQUEST, "tools must be a list");
    json_t *chat = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_deep_copy(t);
        json_object_del(fn, "type");
        json_object_del(fn, "strict");
        json_array_append_new(
            chat, json_pack("{s:O,s:o}", "type",
                            json_object_get(t, "type") ? json_object_get(t, "type") : json_null(),
                            "function", fn ? fn : json_object()));
    }
    int rc = api_tools_set(req, chat, 0, e);
    json_decref(chat);
    if (rc)
        return rc;
    json_t *tc = json_object_get(body, "tool_choice");
    json_t *conv = NULL;
    if (json_is_object(tc) && json_string_value(json_object_get(tc, "name")))
        conv = json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name",
                         json_object_get(tc, "name"));
    rc = api_tool_choice_openai(req, conv ? conv : tc, json_object_get(body, "parallel_tool_calls"),
                                e);
    json_decref(conv);
    return rc;
}

/* The input: a string (one user message) or a list of message items. Appends to conv. */
static int add_input(json_t *input, json_t *conv, struct err *e)
{
    if (json_is_string(input)) {
        json_array_append_new(conv, json_pack("{s:s, s:O}", "role", "user", "content", input));
        return 0;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return err_set(e, ERR_BAD_REQUEST, "input must be a string or a non-empty list");
    size_t i;
    json_t *it;
    json_array_foreach(input, i, it)
    {
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *role = json_string_value(json_object_get(it, "role"));
        if (type && (!strcmp(type, "function_call") || !strcmp(type, "function_call_output"))) {
            int rc = add_call_item(it, type, i, conv, e);
            if (rc)
                return rc;
            continue;
        }
        if ((type && strcmp(type, "message") != 0) || !role)
            return err_set(e, ERR_BAD_REQUEST,
                           "input[%zu]: only message, function_call and function_call_output "
                           "items are supported (type %s)",
                           i, type ? type : "missing");
        json_t *content = json_object_get(it, "content");
        json_t *text;
        if (json_is_string(content)) {
            text = json_incref(content);
        } else if (json_is_array(content)) {
            struct buf b;
            buf_init(&b, PROTO_MAX_PROMPT);
            size_t k;
            json_t *part;
            json_array_foreach(content, k, part)
            {
                const char *pt = json_string_value(json_object_get(part, "type"));
                const char *t = json_string_value(json_object_get(part, "text"));
                if (!pt || !t ||
                    (strcmp(pt, "input_text") != 0 && strcmp(pt, "output_text") != 0 &&
                     strcmp(pt, "text") != 0)) {
                    buf_free(&b);
                    return err_set(e, ERR_BAD_REQUEST,
                                   "input[%zu].content[%zu]: only text parts are supported", i, k);
                }
                buf_puts(&b, t);
            }
            text = json_string(b.data ? b.data : "");
            buf_free(&b);
        } else {
            return err_set(e, ERR_BAD_REQUEST, "input[%zu].content must be text", i);
        }
        json_array_append_new(conv, json_pack("{s:s, s:o}", "role", role, "content", text));
    }
    return 0;
}

/* ---- output ---- */

struct resp {
    char id[48], msg_id[48];
    time_t created;
    json_t *conversation; /* input so far; the answer is added at the end */
    json_t *echo;         /* request fields echoed in the response object */
    int store;
    int seq;
    struct buf text;
};

static void resp_free(void *p)
{
    struct resp *r = p;
    if (!r)
        return;
    json_decref(r->conversation);
    json_decref(r->echo);
    buf_free(&r->text);
    free(r);
}

static json_t *message_item(struct resp *r, const char *text, size_t len, const char *status)
{
    json_t *t = json_stringn(text, len);
    json_t *part = json_pack("{s:s, s:o, s:[]}", "type", "output_text", "text",
                             t ? t : json_string(""), "annotations");
    return json_pack("{s:s, s:s, s:s, s:s, s:[o]}", "type", "message", "id", r->msg_id, "status",
                     status, "role", "assistant", "content", part);
}

static json_t *response_obj(struct gen_run *g, const char *status, json_t *output,
                            const struct gen_stats *st)
{
    struct resp *r = g->pctx;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "object", json_string("response"));
    json_object_set_new(o, "created_at", json_integer(r->created));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "model", json_string(g->req.model));
    json_object_set_new(o, "output", output ? output : json_array());
    json_object_update(o, r->echo);
    json_object_set_new(o, "store", json_boolean(r->store));
    if (st) {
        json_object_set_new(
            o, "usage",
            json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i}}", "input_tokens", (int)st->prompt_n,
                      "output_tokens", (int)st->gen_n, "total_tokens",
                      (int)(st->prompt_n + st->gen_n), "input_tokens_details", "cached_tokens",
                      (int)st->prompt_cached, "output_tokens_details", "reasoning_tokens", 0));
        if (st->stop_reason == PROTO_STOP_LENGTH || st->stop_reason == PROTO_STOP_CONTEXT) {
            json_object_set_new(o, "status", json_string("incomplete"));
            json_object_set_new(o, "incomplete_details",
                                json_pack("{s:s}", "reason", "max_output_tokens"));
        }
    } else {
        json_object_set_new(o, "usage", json_null());
    }
    return o;
}

/* A function_call output item. */
static json_t *call_item(const char *id, const char *name, const char *args)
{
    char item_id[64];
    snprintf(item_id, sizeof item_id, "fc_%s", id);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "function_call", "id", item_id, "call_id",
                     id, "name", name, "arguments", args, "status", "completed");
}

/* The tool calls (canonical) as output items appended to output. */
static void add_calls(json_t *output, json_t *calls)
{
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        char *args =
            json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_array_append_new(output, call_item(json_string_value(json_object_get(c, "id")),
                                                json_string_value(json_object_get(fn, "name")),
                                                args ? args : "{}"));
        free(args);
    }
}

static void keep(struct gen_run *g, const char *text, size_t len, json_t *calls, json_t *response)
{
    struct resp *r = g->pctx;
    if (!r->store)
        return;
    json_t *t = json_stringn(text, len);
    json_t *m = json_pack("{s:s, s:o}", "role", "assistant", "content", t ? t : json_string(""));
    if (json_array_size(calls))
        json_object_set_new(m, "tool_calls", json_deep_copy(calls));
    json_array_append_new(r->conversation, m);
    put(r->id, r->conversation, response);
}

static void event(struct gen_run *g, struct buf *out, const char *type, json_t *o)
{
    struct resp *r = g->pctx;
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "sequence_number", json_integer(r->seq++));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    buf_printf(out, "event: %s\ndata: %s\n\n", type, s);
    free(s);
}

static void rs_open(struct gen_run *g, struct buf *out)
{
    struct resp *r = g->pctx;
    if (r->seq)
        return;
    event(g, out, "response.created",
          json_pack("{s:o}", "response", response_obj(g, "in_progress", NULL, NULL)));
    event(g, out, "response.in_progress",
          json_pack("{s:o}", "response", response_obj(g, "in_progress", NULL, NULL)));
    json_t *item = message_item(r, "", 0, "in_progress");
    json_object_set_new(item, "content", json_array());
    event(g, out, "response.output_item.added",
          json_pack("{s:i, s:o}", "output_index", 0, "item", item));
    event(g, out, "response.content_part.added",
          json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:[]}}", "item_id", r->msg_id, "output_index", 0,
                    "content_index", 0, "part", "type", "output_text", "text", "", "annotations"));
}

static void rs_chunk(struct gen_run *g, const struct proto_msg *ev, struct buf *out)
{
    struct resp *r = g->pctx;
    rs_open(g, out);
    if (!ev->text_len)
        return;
    buf_append(&r->text, ev->text, ev->text_len);
    json_t *d = json_stringn(ev->text, ev->text_len);
    event(g, out, "response.output_text.delta",
          json_pack("{s:s, s:i, s:i, s:o}", "item_id", r->msg_id, "output_index", 0,
                    "content_index", 0, "delta", d ? d : json_string("")));
}

static void rs_end(struct gen_run *g, const struct proto_msg *ev, int last, struct buf *out)
{
    (void)last;
    struct resp *r = g->pctx;
    rs_open(g, out);
    const char *text = r->text.data ? r->text.data : "";
    json_t *t = json_stringn(text, r->text.len);
    event(g, out, "response.output_text.done",
          json_pack("{s:s, s:i, s:i, s:o}", "item_id", r->msg_id, "output_index", 0,
                    "content_index", 0, "text", t ? t : json_string("")));
    t = json_stringn(text, r->text.len);
    event(g, out, "response.content_part.done",
          json_pack("{s:s, s:i, s:i, s:{s:s, s:o, s:[]}}", "item_id", r->msg_id, "output_index", 0,
                    "content_index", 0, "part", "type", "output_text", "text",
                    t ? t : json_string(""), "annotations"));
    event(g, out, "response.output_item.done",
          json_pack("{s:i, s:o}", "output_index", 0, "item",
                    message_item(r, text, r->text.len, "completed")));
    json_t *output = json_array();
    json_array_append_new(output, message_item(r, text, r->text.len, "completed"));
    json_t *calls = g->parser ? chat_parser_tool_calls(g->parser) : NULL;
    add_calls(output, calls);
    json_t *resp = response_obj(g, "completed", output, &ev->stats);
    keep(g, text, r->text.len, calls, resp);
    event(g, out,
          !strcmp(json_string_value(json_object_get(resp, "status")), "incomplete")
              ? "response.incomplete"
              : "response.completed",
          json_pack("{s:o}", "response", resp));
}

/* A tool call: its own output item after the message (reasoning has no item here yet). */
static void rs_delta(struct gen_run *g, const struct chat_delta *d, struct buf *out)
{
    rs_open(g, out);
    if (d->kind != CHAT_DELTA_TOOL_CALL)
        return;
    int index = 1 + d->index;
    json_t *item = call_item(d->id, d->name, "");
    json_object_set_new(item, "status", json_string("in_progress"));
    const char *item_id = json_string_value(json_object_get(item, "id"));
    char id[64];
    snprintf(id, sizeof id, "%s", item_id);
    event(g, out, "response.output_item.added",
          json_pack("{s:i,s:o}", "output_index", index, "item", item));
    event(g, out, "response.function_call_arguments.delta",
          json_pack("{s:s,s:i,s:s}", "item_id", id, "output_index", index, "delta", d->arguments));
    event(g, out, "response.function_call_arguments.done",
          json_pack("{s:s,s:i,s:s}", "item_id", id, "output_index", index, "arguments",
                    d->arguments));
    event(g, out, "response.output_item.done",
          json_pack("{s:i,s:o}", "output_index", index, "item",
                    call_item(d->id, d->name, d->arguments)));
}

static void rs_stream_error(struct gen_run *g, const char *msg, struct buf *out)
{
    event(g, out, "error", json_pack("{s:s, s:s}", "code", "server_error", "message", msg));
}

static void rs_whole(struct gen_run *g, struct http_reply *rep)
{
    struct resp *r = g->pctx;
    struct gen_choice *c = &g->choices[0];
    json_t *output = json_array();
    json_array_append_new(output, message_item(r, c->text ? c->text : "", c->len, "completed"));
    add_calls(output, c->tool_calls);
    json_t *o = response_obj(g, "completed", output, &c->stats);
    keep(g, c->text ? c->text : "", c->len, c->tool_calls, o);
    api_reply(rep, 200, o);
}

static const struct gen_format responses_format = {
    .content_type = "text/event-stream",
    .chunk = rs_chunk,
    .end = rs_end,
    .stream_error = rs_stream_error,
    .whole = rs_whole,
    .error = openai_error,
    .free = resp_free,
    .delta = rs_delta,
};

static void handle_create(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, openai_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    struct err e = {0};
    const char *model = NULL, *instructions = NULL, *prev = NULL;
    int stream = 0, store_it = 1;
    int64_t max_out = -1;
    json_t *conv = NULL, *warnings = json_array();
    int rc = api_get_str(body, "model", &model, &e);
    if (!rc && (!model || !*model))
        rc = err_set(&e, ERR_BAD_REQUEST, "you must provide a model parameter");
    if (!rc)
        rc = api_get_str(body, "instructions", &instructions, &e);
    if (!rc)
        rc = api_get_str(body, "previous_response_id", &prev, &e);
    if (!rc)
        rc = api_get_bool(body, "stream", &stream, &e);
    if (!rc)
        rc = api_get_bool(body, "store", &store_it, &e);
    if (!rc)
        rc = api_get_int(body, "max_output_tokens", 1, 1000000000, &max_out, &e);
    if (!rc)
        rc = parse_tools(body, &req, &e);
    if (!rc) {
        if (prev) {
            conv = get(prev, 0);
            if (!conv)
                rc = err_set(&e, ERR_NOT_FOUND, "Previous response with id '%s' not found.", prev);
        } else {
            conv = json_array();
        }
    }
    if (!rc) {
        json_t *copy = json_deep_copy(conv); /* the stored one stays as it was */
        json_decref(conv);
        conv = copy;
        rc = add_input(json_object_get(body, "input"), conv, &e);
    }
    if (!rc)
        rc = api_apply_fields(body, NULL, 0, 1, &req, warnings, &e);
    json_t *tf = json_object_get(json_object_get(body, "text"), "format");
    if (!rc && tf && !json_is_null(tf)) {
        /* text.format: {type: "text" | "json_object" | "json_schema", name, schema, strict} */
        const char *type = json_string_value(json_object_get(tf, "type"));
        if (!type)
            rc = err_set(&e, ERR_BAD_REQUEST, "text.format must be an object with a type");
        else if (!strcmp(type, "json_object"))
            rc = api_schema_grammar(&req, NULL, "text.format", &e);
        else if (!strcmp(type, "json_schema") && !json_object_get(tf, "schema"))
            rc = err_set(&e, ERR_BAD_REQUEST, "text.format.schema is required");
        else if (!strcmp(type, "json_schema"))
            rc = api_schema_grammar(&req, json_object_get(tf, "schema"), "text.format.schema", &e);
        else if (strcmp(type, "text") != 0)
            rc = err_set(&e, ERR_BAD_REQUEST, "text.format type '%s' is unknown", type);
    }
    if (!rc) {
        snprintf(req.model, sizeof req.model, "%s", model);
        rc = native_resolve(&req, &e);
    }
    if (!rc)
        rc = api_render_messages(&req, conv, instructions, &e);
    if (rc) {
        openai_error(rep, rc, e.msg);
        goto out;
    }
    if (max_out > 0) {
        req.gen.num_predict = (int32_t)max_out;
        native_mark(&req, "num_predict");
    }
    struct resp *r = xcalloc(1, sizeof *r);
    static uint64_t counter;
    uint64_t n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    r->created = time(NULL);
    snprintf(r->id, sizeof r->id, "resp_%llx%06llx", (unsigned long long)r->created,
             (unsigned long long)(n & 0xffffff));
    snprintf(r->msg_id, sizeof r->msg_id, "msg_%llx%06llx", (unsigned long long)r->created,
             (unsigned long long)(n & 0xffffff));
    r->conversation = json_incref(conv);
    r->store = store_it;
    buf_init(&r->text, 64u << 20);
    r->echo = json_pack("{s:o, s:o, s:o, s:f, s:f}", "previous_response_id",
                        prev ? json_string(prev) : json_null(), "instructions",
                        instructions ? json_string(instructions) : json_null(), "max_output_tokens",
                        max_out > 0 ? json_integer(max_out) : json_null(), "temperature",
                        (double)req.gen.temperature, "top_p", (double)req.gen.top_p);
    api_gen_reply(api_gen_new(&responses_format, r, stream, warnings), &req, rep);
out:
    json_decref(conv);
    json_decref(warnings);
    native_req_free(&req);
    json_decref(body);
}

static void handle_get(const struct http_request *hreq, struct http_reply *rep)
{
    const char *id = hreq->path + strlen("/v1/responses/");
    if (!strcmp(hreq->method, "DELETE")) {
        if (!del(id)) {
            openai_error(rep, ERR_NOT_FOUND, "Response not found.");
            return;
        }
        api_reply(rep, 200,
                  json_pack("{s:s, s:s, s:b}", "id", id, "object", "response", "deleted", 1));
        return;
    }
    json_t *r = get(id, 1);
    if (!r) {
        openai_error(rep, ERR_NOT_FOUND, "Response not found.");
        return;
    }
    api_reply(rep, 200, r);
}

static const struct http_route routes[] = {
    {"POST", "/v1/responses", handle_create},
    {"GET", "/v1/responses/*", handle_get},
    {"DELETE", "/v1/responses/*", handle_get},
};

void responses_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
