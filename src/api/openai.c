/* The OpenAI API (/v1): chat completions, completions, embeddings, models. Requests translate
 * into the native request; llama.cpp's extra sampling fields are accepted as llama-server
 * accepts them. Errors take OpenAI's shape: {"error":{"message","type","param","code"}}. */
#include "api/api.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "chat/chat.h"
#include "engine/mfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

#define OPENAI_MAX_N 16

void openai_error(struct http_reply *rep, int code, const char *msg)
{
    int status = err_http_status(code);
    rep->retry_after = err_retry_after(code);
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(msg));
    json_object_set_new(e, "type",
                        json_string(status >= 500   ? "server_error"
                                    : status == 401 ? "authentication_error"
                                    : status == 403 ? "permission_error"
                                    : status == 429 ? "rate_limit_error"
                                                    : "invalid_request_error"));
    json_object_set_new(e, "param", json_null());
    json_object_set_new(e, "code",
                        status == 404   ? json_string("model_not_found")
                        : status == 401 ? json_string("invalid_api_key")
                                        : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    api_reply(rep, status, o);
}

/* ---- request fields ---- */

/* Fields OpenAI defines that need no action here (or are handled by the callers). */
static const char *const passive_fields[] = {
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "n",
    "user",
    "metadata",
    "store",
    "service_tier",
    "parallel_tool_calls",
    "tools",
    "tool_choice",
    "response_format",
    "json_schema",
    "max_tokens",
    "max_completion_tokens",
    "logprobs",
    "top_logprobs",
    "echo",
    "suffix",
    "best_of",
    "modalities",
    "prediction",
    "reasoning_effort",
    "cache_prompt",
    "id_slot",
    "input",
    "encoding_format",
    "dimensions",
    "n_probs",
    "functions",
    "function_call",
    "web_search_options",
    "audio",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "return_tokens",
    "timings_per_token",
    "chat_template_kwargs",
};

/* Everything both chat and completions take. */
static int parse_common(json_t *body, struct native_req *req, int *stream, int *n,
                        int *include_usage, json_t *warnings, struct err *e)
{
    const char *model = NULL;
    int rc = api_get_str(body, "model", &model, e);
    if (rc)
        return rc;
    if (!model || !*model)
        return err_set(e, ERR_BAD_REQUEST, "you must provide a model parameter");
    snprintf(req->model, sizeof req->model, "%s", model);

    /* Top-level fields that are engine knobs (temperature, top_k, dry_multiplier, num_ctx...)
     * go through the parameter table; anything else unknown is reported. */
    rc = api_apply_fields(body, passive_fields, ARRAY_LEN(passive_fields), 0, req, warnings, e);
    if (rc)
        return rc;
    int64_t max = -2;
    if ((rc = api_get_int(body, "max_tokens", 0, 1000000000, &max, e)) ||
        (rc = api_get_int(body, "max_completion_tokens", 0, 1000000000, &max, e)))
        return rc;
    if (max >= 0) {
        req->gen.num_predict = (int32_t)max;
        native_mark(req, "num_predict");
    }
    int64_t nn = 1;
    if ((rc = api_get_int(body, "n", 1, OPENAI_MAX_N, &nn, e)))
        return rc;
    *n = (int)nn;
    if ((rc = api_get_bool(body, "stream", stream, e)))
        return rc;
    json_t *so = json_object_get(body, "stream_options");
    if (json_is_object(so))
        *include_usage = json_is_true(json_object_get(so, "include_usage"));

    json_t *rf = json_object_get(body, "response_format");
    if (rf && !json_is_null(rf)) {
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (!json_is_object(rf) || !type)
            return err_set(e, ERR_BAD_REQUEST, "response_format must be an object with a type");
        if (!strcmp(type, "json_object")) {
            if ((rc = api_schema_grammar(req, NULL, "response_format", e)))
                return rc;
        } else if (!strcmp(type, "json_schema")) {
            /* {type: "json_schema", json_schema: {name, description, schema, strict}} */
            json_t *js = json_object_get(rf, "json_schema");
            if (!json_is_object(js))
                return err_set(e, ERR_BAD_REQUEST,
                               "response_format.json_schema must be an object with a schema");
            json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict");
            if (name && !json_is_string(name))
                return err_set(e, ERR_BAD_REQUEST,
                               "response_format.json_schema.name must be a string");
            if (strict && !json_is_boolean(strict) && !json_is_null(strict))
                return err_set(e, ERR_BAD_REQUEST,
                               "response_format.json_schema.strict must be a boolean");
            json_t *schema = json_object_get(js, "schema");
            if (!schema)
                return err_set(e, ERR_BAD_REQUEST,
                               "response_format.json_schema.schema is required (the JSON schema "
                               "of the answer)");
            /* strict or not, the grammar holds the output to the schema exactly */
            if ((rc = api_schema_grammar(req, schema, "response_format.json_schema.schema", e)))
                return rc;
        } else if (strcmp(type, "text") != 0) {
            return err_set(e, ERR_BAD_REQUEST, "response_format type '%s' is unknown", type);
        }
    }
    /* llama-server's OpenAI routes take a top-level json_schema too */
    json_t *js = json_object_get(body, "json_schema");
    if (js && !json_is_null(js)) {
        if (rf && !json_is_null(rf))
            return err_set(e, ERR_BAD_REQUEST,
                           "response_format and json_schema cannot be combined");
        if ((rc = api_schema_grammar(req, js, "json_schema", e)))
            return rc;
    }
    return 0;
}

/* Chat's tools, tool_choice, parallel_tool_calls, reasoning_effort, chat_template_kwargs. */
static int parse_chat_tools(json_t *body, struct native_req *req, struct err *e)
{
    int rc = api_tools_set(req, json_object_get(body, "tools"), 0, e);
    if (!rc)
        rc = api_tool_choice_openai(req, json_object_get(body, "tool_choice"),
                                    json_object_get(body, "parallel_tool_calls"), e);
    if (!rc)
        rc = api_reasoning_openai(req, json_object_get(body, "reasoning_effort"),
                                  json_object_get(body, "chat_template_kwargs"), e);
    return rc;
}

/* logprobs (bool for chat, a count for completions), top_logprobs, n_probs. */
static int parse_logprobs(json_t *body, struct native_req *req, int completions, struct err *e)
{
    int64_t top = 0;
    int want = 0, rc;
    json_t *lp = json_object_get(body, "logprobs");
    if (completions && json_is_integer(lp)) {
        if ((rc = api_get_int(body, "logprobs", 0, PROTO_MAX_TOP_LOGPROBS, &top, e)))
            return rc;
        want = 1;
    } else if ((rc = api_get_bool(body, "logprobs", &want, e))) {
        return rc;
    }
    if ((rc = api_get_int(body, "top_logprobs", 0, PROTO_MAX_TOP_LOGPROBS, &top, e)) ||
        (rc = api_get_int(body, "n_probs", 0, PROTO_MAX_TOP_LOGPROBS, &top, e)))
        return rc;
    if (want || top > 0) {
        req->flags |= PROTO_GEN_LOGPROBS;
        req->top_logprobs = (uint32_t)top;
    }
    return 0;
}

/* ---- output ---- */

struct oai {
    int chat;
    int include_usage;
    int role_sent[OPENAI_MAX_N * 64];
    char id[48];
    time_t created;
    char *echo; /* completions with echo: the prompt, sent before the text */
};

static void oai_free(void *p)
{
    struct oai *o = p;
    if (o)
        free(o->echo);
    free(o);
}

static json_t *base_obj(struct gen_run *g, const char *object)
{
    struct oai *x = g->pctx;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(x->id));
    json_object_set_new(o, "object", json_string(object));
    json_object_set_new(o, "created", json_integer(x->created));
    json_object_set_new(o, "model", json_string(g->req.model));
    json_object_set_new(o, "system_fingerprint", json_string("hearth-" HEARTH_VERSION));
    return o;
}

static const char *finish_reason(uint32_t stop, int tool_calls)
{
    if (stop == PROTO_STOP_LENGTH || stop == PROTO_STOP_CONTEXT)
        return "length";
    return tool_calls ? "tool_calls" : "stop";
}

/* OpenAI's tool calls: arguments as a JSON string. */
static json_t *calls_json(json_t *calls)
{
    json_t *arr = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        char *args =
            json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_array_append_new(arr, json_pack("{s:O,s:s,s:{s:O,s:s}}", "id",
                                             json_object_get(c, "id"), "type", "function",
                                             "function", "name", json_object_get(fn, "name"),
                                             "arguments", args ? args : "{}"));
        free(args);
    }
    return arr;
}

static json_t *usage_json(struct gen_run *g, const struct gen_stats *last)
{
    uint64_t completion = 0;
    for (int i = 0; i <= g->choice && i < g->n_choices; i++)
        completion += g->choices[i].stats.gen_n;
    if (last && g->stream)
        completion = g->rep->tokens;
    uint32_t prompt = last ? last->prompt_n : g->choices[0].stats.prompt_n;
    uint32_t cached = last ? last->prompt_cached : g->choices[0].stats.prompt_cached;
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(prompt));
    json_object_set_new(u, "completion_tokens", json_integer((json_int_t)completion));
    json_object_set_new(u, "total_tokens",
                        json_integer((json_int_t)prompt + (json_int_t)completion));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(cached));
    json_object_set_new(u, "prompt_tokens_details", d);
    return u;
}

/* Completions' logprobs shape from the chat shape. */
static json_t *completion_logprobs(json_t *chat)
{
    json_t *o = json_object(), *tokens = json_array(), *lps = json_array(), *tops = json_array(),
           *offs = json_array();
    size_t i, off = 0;
    json_t *t;
    json_array_foreach(chat, i, t)
    {
        const char *tok = json_string_value(json_object_get(t, "token"));
        json_array_append(tokens, json_object_get(t, "token"));
        json_array_append(lps, json_object_get(t, "logprob"));
        json_t *top = json_object();
        size_t k;
        json_t *alt;
        json_array_foreach(json_object_get(t, "top_logprobs"), k, alt) json_object_set(
            top, json_string_value(json_object_get(alt, "token")), json_object_get(alt, "logprob"));
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += tok ? strlen(tok) : 0;
    }
    json_object_set_new(o, "tokens", tokens);
    json_object_set_new(o, "token_logprobs", lps);
    json_object_set_new(o, "top_logprobs", tops);
    json_object_set_new(o, "text_offset", offs);
    return o;
}

static void sse(struct buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    buf_puts(out, "data: ");
    buf_puts(out, s);
    buf_puts(out, "\n\n");
    free(s);
}

static json_t *chat_delta(struct gen_run *g, const char *text, size_t len)
{
    struct oai *x = g->pctx;
    json_t *d = json_object();
    if (!x->role_sent[g->choice]) {
        json_object_set_new(d, "role", json_string("assistant"));
        x->role_sent[g->choice] = 1;
    }
    json_t *s = json_stringn(text, len);
    json_object_set_new(d, "content", s ? s : json_string(""));
    return d;
}

static void oai_chunk(struct gen_run *g, const struct proto_msg *ev, struct buf *out)
{
    struct oai *x = g->pctx;
    json_t *o = base_obj(g, x->chat ? "chat.completion.chunk" : "text_completion");
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(g->choice));
    if (x->chat) {
        json_object_set_new(c, "delta", chat_delta(g, ev->text ? ev->text : "", ev->text_len));
    } else {
        struct buf t;
        buf_init(&t, 0);
        if (x->echo && !x->role_sent[g->choice]) {
            buf_puts(&t, x->echo);
            x->role_sent[g->choice] = 1;
        }
        buf_append(&t, ev->text ? ev->text : "", ev->text_len);
        json_t *s = json_stringn(t.data ? t.data : "", t.len);
        json_object_set_new(c, "text", s ? s : json_string(""));
        buf_free(&t);
    }
    json_t *probs = ev->n_probs ? api_probs_json(ev, 0) : NULL;
    if (probs && x->chat) {
        json_t *lp = json_object();
        json_object_set_new(lp, "content", probs);
        json_object_set_new(c, "logprobs", lp);
    } else if (probs) {
        json_object_set_new(c, "logprobs", completion_logprobs(probs));
        json_decref(probs);
    } else {
        json_object_set_new(c, "logprobs", json_null());
    }
    json_object_set_new(c, "finish_reason", json_null());
    json_t *arr = json_array();
    json_array_append_new(arr, c);
    json_object_set_new(o, "choices", arr);
    sse(out, o);
}

/* Reasoning as reasoning_content deltas; a tool call as one tool_calls delta carrying its
 * id, name and all its arguments. */
static void oai_delta(struct gen_run *g, const struct chat_delta *d, struct buf *out)
{
    struct oai *x = g->pctx;
    json_t *o = base_obj(g, "chat.completion.chunk");
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(g->choice));
    json_t *delta = json_object();
    if (!x->role_sent[g->choice]) {
        json_object_set_new(delta, "role", json_string("assistant"));
        x->role_sent[g->choice] = 1;
    }
    if (d->kind == CHAT_DELTA_REASONING) {
        json_t *s = json_stringn(d->text, d->len);
        json_object_set_new(delta, "reasoning_content", s ? s : json_string(""));
    } else {
        json_object_set_new(delta, "content", json_null());
        json_t *tc =
            json_pack("[{s:i,s:s,s:s,s:{s:s,s:s}}]", "index", d->index, "id", d->id, "type",
                      "function", "function", "name", d->name, "arguments", d->arguments);
        json_object_set_new(delta, "tool_calls", tc);
    }
    json_object_set_new(c, "delta", delta);
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason", json_null());
    json_object_set_new(o, "choices", json_pack("[o]", c));
    sse(out, o);
}

static void oai_end(struct gen_run *g, const struct proto_msg *ev, int last, struct buf *out)
{
    struct oai *x = g->pctx;
    json_t *o = base_obj(g, x->chat ? "chat.completion.chunk" : "text_completion");
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(g->choice));
    if (x->chat)
        json_object_set_new(c, "delta", json_object());
    else
        json_object_set_new(c, "text", json_string(""));
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(
        c, "finish_reason",
        json_string(finish_reason(ev->stats.stop_reason, api_gen_n_tool_calls(g) > 0)));
    json_t *arr = json_array();
    json_array_append_new(arr, c);
    json_object_set_new(o, "choices", arr);
    sse(out, o);
    if (!last)
        return;
    if (x->include_usage) {
        json_t *u = base_obj(g, x->chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(u, "choices", json_array());
        json_object_set_new(u, "usage", usage_json(g, &ev->stats));
        sse(out, u);
    }
    buf_puts(out, "data: [DONE]\n\n");
}

static void oai_stream_error(struct gen_run *g, const char *msg, struct buf *out)
{
    (void)g;
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(msg));
    json_object_set_new(e, "type", json_string("server_error"));
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    sse(out, o);
    buf_puts(out, "data: [DONE]\n\n");
}

static void oai_whole(struct gen_run *g, struct http_reply *rep)
{
    struct oai *x = g->pctx;
    json_t *o = base_obj(g, x->chat ? "chat.completion" : "text_completion");
    json_t *arr = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        struct gen_choice *ch = &g->choices[i];
        json_t *c = json_object();
        json_object_set_new(c, "index", json_integer(i));
        json_t *text;
        if (x->echo && !x->chat) {
            struct buf t;
            buf_init(&t, 0);
            buf_puts(&t, g->prompts.n ? g->prompts.v[i / (g->n_choices / g->prompts.n)] : x->echo);
            buf_append(&t, ch->text ? ch->text : "", ch->len);
            text = json_stringn(t.data, t.len);
            buf_free(&t);
        } else {
            text = json_stringn(ch->text ? ch->text : "", ch->len);
        }
        if (!text)
            text = json_string("");
        if (x->chat) {
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string("assistant"));
            json_object_set_new(m, "content",
                                ch->tool_calls && !json_string_length(text) ? json_null() : text);
            if (ch->tool_calls && !json_string_length(text))
                json_decref(text);
            json_object_set_new(m, "refusal", json_null());
            if (ch->reasoning)
                json_object_set_new(m, "reasoning_content", json_string(ch->reasoning));
            if (ch->tool_calls)
                json_object_set_new(m, "tool_calls", calls_json(ch->tool_calls));
            json_object_set_new(c, "message", m);
        } else {
            json_object_set_new(c, "text", text);
        }
        if (json_array_size(ch->logprobs)) {
            if (x->chat) {
                json_t *lp = json_object();
                json_object_set(lp, "content", ch->logprobs);
                json_object_set_new(c, "logprobs", lp);
            } else {
                json_object_set_new(c, "logprobs", completion_logprobs(ch->logprobs));
            }
        } else {
            json_object_set_new(c, "logprobs", json_null());
        }
        json_object_set_new(
            c, "finish_reason",
            json_string(finish_reason(ch->stats.stop_reason, ch->tool_calls != NULL)));
        json_array_append_new(arr, c);
    }
    json_object_set_new(o, "choices", arr);
    json_object_set_new(o, "usage", usage_json(g, NULL));
    if (json_array_size(g->warnings))
        json_object_set(o, "warnings", g->warnings);
    api_reply(rep, 200, o);
}

static const struct gen_format openai_format = {
    .content_type = "text/event-stream",
    .chunk = oai_chunk,
    .end = oai_end,
    .stream_error = oai_stream_error,
    .whole = oai_whole,
    .error = openai_error,
    .free = oai_free,
    .delta = oai_delta,
};

static struct oai *new_oai(int chat, int include_usage)
{
    struct oai *x = xcalloc(1, sizeof *x);
    x->chat = chat;
    x->include_usage = include_usage;
    x->created = time(NULL);
    static uint64_t counter;
    uint64_t n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    snprintf(x->id, sizeof x->id, "%s-%llx%04llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)x->created, (unsigned long long)(n & 0xffff));
    return x;
}

/* ---- chat ---- */

/* Message content: a string, or a list of text parts. */
static int content_text(json_t *content, size_t idx, struct buf *out, struct err *e)
{
    if (!content || json_is_null(content))
        return 0;
    if (json_is_string(content))
        return buf_puts(out, json_string_value(content)) ? ERR_TOO_LARGE : 0;
    if (!json_is_array(content))
        return err_set(e, ERR_BAD_REQUEST, "messages[%zu].content must be a string or a list", idx);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && (!strcmp(type, "text") || !strcmp(type, "input_text"))) {
            const char *t = json_string_value(json_object_get(part, "text"));
            if (!t)
                return err_set(e, ERR_BAD_REQUEST, "messages[%zu].content[%zu].text is missing",
                               idx, i);
            if (buf_puts(out, t))
                return ERR_TOO_LARGE;
        } else if (type && (!strcmp(type, "image_url") || !strcmp(type, "input_audio") ||
                            !strcmp(type, "file"))) {
            return err_set(e, ERR_BAD_REQUEST,
                           "messages[%zu]: %s parts are not supported: no model here has a "
                           "vision or audio projector",
                           idx, type);
        } else {
            return err_set(e, ERR_BAD_REQUEST, "messages[%zu].content[%zu] has an unknown type",
                           idx, i);
        }
    }
    return 0;
}

/* An assistant's tool_calls and reasoning_content, a tool result's tool_call_id and name. */
static int message_extras(json_t *m, json_t *cm, size_t i, struct err *e)
{
    const char *role = json_string_value(json_object_get(cm, "role"));
    char where[32];
    snprintf(where, sizeof where, "messages[%zu]", i);
    if (!strcmp(role, "assistant")) {
        int rc = api_tool_calls_in(json_object_get(m, "tool_calls"), cm, where, e);
        if (rc)
            return rc;
        json_t *rc_ = json_object_get(m, "reasoning_content");
        if (json_is_string(rc_))
            json_object_set(cm, "reasoning_content", rc_);
        if (json_object_get(cm, "tool_calls") &&
            !json_string_length(json_object_get(cm, "content")))
            json_object_set_new(cm, "content", json_null());
    } else if (!strcmp(role, "tool")) {
        json_t *id = json_object_get(m, "tool_call_id");
        if (!json_is_string(id))
            return err_set(e, ERR_BAD_REQUEST,
                           "messages[%zu].tool_call_id is required for role tool", i);
        json_object_set(cm, "tool_call_id", id);
        json_t *name = json_object_get(m, "name");
        if (json_is_string(name))
            json_object_set(cm, "name", name);
    }
    return 0;
}

/* Renders OpenAI/Anthropic-style messages through the model's template. */
int api_render_messages(struct native_req *req, json_t *messages, const char *system, struct err *e)
{
    if (!json_is_array(messages) || json_array_size(messages) == 0)
        return err_set(e, ERR_BAD_REQUEST, "messages must be a non-empty list");
    if (json_array_size(messages) > 100000)
        return err_set(e, ERR_TOO_LARGE, "at most 100000 messages");
    json_t *conv = json_array();
    int rc = 0;
    if (system && *system)
        json_array_append_new(conv, json_pack("{s:s,s:s}", "role", "system", "content", system));
    size_t i;
    json_t *m;
    struct buf text;
    buf_init(&text, PROTO_MAX_PROMPT);
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) {
            rc = err_set(e, ERR_BAD_REQUEST, "messages[%zu] must be an object with a role", i);
            break;
        }
        if (!strcmp(role, "developer"))
            role = "system";
        if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
            strcmp(role, "assistant") != 0 && strcmp(role, "tool") != 0) {
            rc = err_set(e, ERR_BAD_REQUEST,
                         "messages[%zu].role '%s' is not supported (system, developer, user, "
                         "assistant, tool)",
                         i, role);
            break;
        }
        buf_reset(&text);
        if ((rc = content_text(json_object_get(m, "content"), i, &text, e)))
            break;
        json_t *cm = json_pack("{s:s,s:s}", "role", role, "content", text.data ? text.data : "");
        json_array_append_new(conv, cm);
        if ((rc = message_extras(m, cm, i, e)))
            break;
    }
    buf_free(&text);
    if (!rc)
        rc = api_chat_prompt(req, conv, e);
    json_decref(conv);
    return rc;
}

static void handle_chat(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, openai_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 0, n = 1, usage = 0;
    int rc = parse_common(body, &req, &stream, &n, &usage, warnings, &e);
    if (!rc)
        rc = parse_logprobs(body, &req, 0, &e);
    if (!rc)
        rc = parse_chat_tools(body, &req, &e);
    if (!rc)
        rc = native_resolve(&req, &e);
    if (!rc)
        rc = api_render_messages(&req, json_object_get(body, "messages"), NULL, &e);
    if (rc) {
        openai_error(rep, rc, e.msg);
    } else {
        struct gen_run *g = api_gen_new(&openai_format, new_oai(1, usage), stream, warnings);
        g->n_choices = n;
        api_gen_reply(g, &req, rep);
    }
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

/* ---- completions ---- */

static void handle_completions(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, openai_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 0, n = 1, usage = 0, echo = 0;
    struct strlist prompts = {0};
    const char *suffix = NULL;
    int rc = parse_common(body, &req, &stream, &n, &usage, warnings, &e);
    if (!rc)
        rc = parse_logprobs(body, &req, 1, &e);
    if (!rc)
        rc = api_get_bool(body, "echo", &echo, &e);
    if (!rc)
        rc = api_get_str(body, "suffix", &suffix, &e);
    json_t *p = json_object_get(body, "prompt");
    if (!rc) {
        if (json_is_string(p)) {
            strlist_add(&prompts, json_string_value(p));
        } else if (json_is_array(p) && json_array_size(p) > 0 &&
                   json_is_string(json_array_get(p, 0))) {
            size_t i;
            json_t *x;
            json_array_foreach(p, i, x)
            {
                if (!json_is_string(x) || prompts.n >= OPENAI_MAX_N) {
                    rc = err_set(&e, ERR_BAD_REQUEST,
                                 "prompt must be a string or a list of at most %d strings",
                                 OPENAI_MAX_N);
                    break;
                }
                strlist_add(&prompts, json_string_value(x));
            }
        } else if (json_is_array(p) && json_array_size(p) > 0 &&
                   json_is_integer(json_array_get(p, 0))) {
            rc = api_get_tokens(p, "prompt token ids", &req, &e); /* a prompt of token ids */
            strlist_add(&prompts, "");
        } else {
            rc = err_set(&e, ERR_BAD_REQUEST,
                         "prompt must be a string, a list of strings or a list of token ids");
        }
    }
    if (!rc && prompts.n * n > OPENAI_MAX_N * 4)
        rc = err_set(&e, ERR_BAD_REQUEST, "too many prompts times n");
    if (!rc)
        rc = native_resolve(&req, &e);
    if (rc) {
        openai_error(rep, rc, e.msg);
        goto out;
    }
    if (suffix) {
        req.flags |= PROTO_GEN_SUFFIX;
        req.suffix = xstrdup(suffix);
    }
    struct oai *x = new_oai(0, usage);
    if (echo && prompts.n)
        x->echo = xstrdup(prompts.v[0]);
    struct gen_run *g = api_gen_new(&openai_format, x, stream, warnings);
    g->n_choices = n * prompts.n;
    g->prompts = prompts;
    memset(&prompts, 0, sizeof prompts);
    api_gen_reply(g, &req, rep);
out:
    strlist_free(&prompts);
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

/* ---- embeddings ---- */

static void base64_floats(const float *v, uint32_t n, struct buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = (const unsigned char *)v; /* little-endian, as OpenAI sends */
    size_t len = (size_t)n * 4;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0) |
                     (i + 2 < len ? b[i + 2] : 0);
        char q[4] = {tbl[w >> 18 & 63], tbl[w >> 12 & 63], i + 1 < len ? tbl[w >> 6 & 63] : '=',
                     i + 2 < len ? tbl[w & 63] : '='};
        buf_append(out, q, 4);
    }
}

static void handle_embeddings(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, openai_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_EMBED);
    struct err e = {0};
    const char *model = NULL, *fmt = NULL;
    int64_t dims = 0;
    int rc = api_get_str(body, "model", &model, &e);
    if (!rc && (!model || !*model))
        rc = err_set(&e, ERR_BAD_REQUEST, "you must provide a model parameter");
    if (!rc)
        rc = api_get_str(body, "encoding_format", &fmt, &e);
    if (!rc && fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0)
        rc = err_set(&e, ERR_BAD_REQUEST, "encoding_format must be float or base64");
    if (!rc)
        rc = api_get_int(body, "dimensions", 1, 1 << 20, &dims, &e);
    json_t *input = json_object_get(body, "input");
    if (!rc) {
        if (json_is_string(input)) {
            strlist_add(&req.inputs, json_string_value(input));
        } else if (json_is_array(input) && json_array_size(input) > 0) {
            size_t i;
            json_t *x;
            json_array_foreach(input, i, x)
            {
                if (req.inputs.n >= PROTO_MAX_EMBED_INPUTS) {
                    rc = err_set(&e, ERR_TOO_LARGE, "at most %d inputs", PROTO_MAX_EMBED_INPUTS);
                    break;
                }
                if (!json_is_string(x)) {
                    rc = err_set(&e, ERR_BAD_REQUEST,
                                 "input must be a string or a list of strings (token id inputs "
                                 "are not supported)");
                    break;
                }
                strlist_add(&req.inputs, json_string_value(x));
            }
        } else {
            rc = err_set(&e, ERR_BAD_REQUEST, "input must be a non-empty string or list");
        }
    }
    if (!rc) {
        snprintf(req.model, sizeof req.model, "%s", model);
        rc = native_resolve(&req, &e);
    }
    if (!rc)
        rc = api_apply_options(json_object_get(body, "options"), &req, NULL, &e);
    if (rc) {
        openai_error(rep, rc, e.msg);
        goto out;
    }
    snprintf(rep->model, sizeof rep->model, "%s", req.model);
    req.flags = PROTO_EMBED_TRUNCATE;
    req.dimensions = (uint32_t)dims;
    struct native_job *job;
    struct proto_msg ev;
    rc = native_start(&req, &job, &e);
    if (!rc) {
        rc = native_next(job, &ev, &e);
        native_finish(job);
    }
    if (rc) {
        openai_error(rep, rc, e.msg);
        goto out;
    }
    json_t *data = json_array();
    int b64 = fmt && !strcmp(fmt, "base64");
    for (uint32_t i = 0; i < ev.n_embeddings; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "object", json_string("embedding"));
        json_object_set_new(o, "index", json_integer(i));
        const float *v = ev.embeddings + (size_t)i * ev.embedding_dim;
        if (b64) {
            struct buf b;
            buf_init(&b, 0);
            base64_floats(v, ev.embedding_dim, &b);
            json_object_set_new(o, "embedding", json_string(b.data ? b.data : ""));
            buf_free(&b);
        } else {
            json_t *arr = json_array();
            for (uint32_t k = 0; k < ev.embedding_dim; k++)
                json_array_append_new(arr, json_real(v[k]));
            json_object_set_new(o, "embedding", arr);
        }
        json_array_append_new(data, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "model", json_string(req.model));
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(ev.stats.prompt_n));
    json_object_set_new(u, "total_tokens", json_integer(ev.stats.prompt_n));
    json_object_set_new(o, "usage", u);
    rep->tokens = ev.stats.prompt_n;
    proto_msg_free(&ev);
    api_reply(rep, 200, o);
out:
    native_req_free(&req);
    json_decref(body);
}

/* ---- models ---- */

static json_t *model_obj(const struct store_model *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->name));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer((json_int_t)m->mtime));
    json_object_set_new(o, "owned_by", json_string("hearth"));
    if (m->remote)
        json_object_set_new(
            o, "remote", json_pack("{s:s, s:s}", "url", m->remote->url, "model", m->remote->model));
    return o;
}

static void handle_model(const struct http_request *req, struct http_reply *rep)
{
    const char *name = req->path + strlen("/v1/models/");
    struct store_model m;
    struct err e = {0};
    if (store_find(api->store, name, &m, &e)) {
        openai_error(rep, e.code, e.msg);
        return;
    }
    api_reply(rep, 200, model_obj(&m));
    store_model_free(&m);
}

static const struct http_route routes[] = {
    {"POST", "/v1/chat/completions", handle_chat},   {"POST", "/chat/completions", handle_chat},
    {"POST", "/v1/completions", handle_completions}, {"POST", "/v1/embeddings", handle_embeddings},
    {"GET", "/v1/models/*", handle_model},
};

void openai_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
