/* The Ollama API: generate, chat and embeddings (ollama_models.c has the model routes).
 * Field names, defaults, status codes and the NDJSON stream follow Ollama; where Ollama is
 * weaker (options it drops silently, samplers it removed) hearth accepts more and says so in a
 * `warnings` array. */
#include "api/api.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "chat/chat.h"
#include "engine/mfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- request parsing shared by generate and chat ---- */

/* model, keep_alive, options, format, stream, truncate, logprobs: the fields both share. */
static int parse_common(json_t *body, struct native_req *req, int *stream, json_t *warnings,
                        struct err *e)
{
    const char *model = NULL;
    int rc = api_get_str(body, "model", &model, e);
    if (!rc && !model)
        rc = api_get_str(body, "name", &model, e); /* older clients */
    if (rc)
        return rc;
    if (!model || !*model)
        return err_set(e, ERR_BAD_REQUEST, "model is required");
    snprintf(req->model, sizeof req->model, "%s", model);

    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        int64_t ms;
        char text[64];
        if (json_is_string(ka))
            snprintf(text, sizeof text, "%s", json_string_value(ka));
        else if (json_is_number(ka))
            snprintf(text, sizeof text, "%.17g", json_number_value(ka));
        else
            return err_set(e, ERR_BAD_REQUEST, "keep_alive must be a duration or a number");
        if (sched_parse_keep_alive(text, &ms))
            return err_set(e, ERR_BAD_REQUEST,
                           "keep_alive '%s' is not a duration (like \"5m\", \"1h\", \"30s\") "
                           "or a number of seconds",
                           text);
        req->keep_alive_ms = ms;
    }
    rc = api_apply_options(json_object_get(body, "options"), req, warnings, e);
    if (rc)
        return rc;

    json_t *fmt = json_object_get(body, "format");
    if (fmt && !json_is_null(fmt) && !(json_is_string(fmt) && !*json_string_value(fmt))) {
        if (json_is_string(fmt) && strcmp(json_string_value(fmt), "json") == 0) {
            if ((rc = api_schema_grammar(req, NULL, "format", e)))
                return rc;
        } else if (json_is_object(fmt)) {
            if ((rc = api_schema_grammar(req, fmt, "format", e)))
                return rc;
        } else {
            return err_set(e, ERR_BAD_REQUEST, "format must be \"json\" or a JSON schema object");
        }
    }
    rc = api_get_bool(body, "stream", stream, e);
    int truncate = 0, logprobs = 0, shift = 0;
    if (!rc)
        rc = api_get_bool(body, "truncate", &truncate, e);
    if (!rc)
        rc = api_get_bool(body, "shift", &shift, e);
    if (shift) {
        req->gen.context_shift = true;
        native_mark(req, "context_shift");
    }
    if (!rc)
        rc = api_get_bool(body, "logprobs", &logprobs, e);
    int64_t top = 0;
    if (!rc)
        rc = api_get_int(body, "top_logprobs", 0, PROTO_MAX_TOP_LOGPROBS, &top, e);
    if (rc)
        return rc;
    if (truncate)
        req->flags |= PROTO_GEN_TRUNCATE;
    if (logprobs || top > 0) {
        req->flags |= PROTO_GEN_LOGPROBS;
        req->top_logprobs = (uint32_t)top;
    }
    if ((rc = api_think_set(req, json_object_get(body, "think"), e)))
        return rc;
    json_t *images = json_object_get(body, "images");
    if (json_is_array(images) && json_array_size(images) > 0)
        return err_set(e, ERR_BAD_REQUEST,
                       "images are not supported: no model here has a "
                       "vision projector");
    return 0;
}

/* Ollama's `template` field is a Go template. Until Jinja lands (#8) the common placeholders are
 * substituted and anything else is refused rather than guessed at. */
static int apply_go_template(const char *tmpl, const char *system, const char *prompt, char **out,
                             struct err *e)
{
    struct buf b;
    buf_init(&b, PROTO_MAX_PROMPT);
    const char *p = tmpl;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            buf_puts(&b, p);
            break;
        }
        buf_append(&b, p, (size_t)(open - p));
        const char *close = strstr(open, "}}");
        if (!close) {
            buf_free(&b);
            return err_set(e, ERR_BAD_REQUEST, "template: unterminated {{");
        }
        char inner[64];
        size_t n = (size_t)(close - open - 2);
        const char *s = open + 2;
        while (n && (*s == ' ' || *s == '-')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '-'))
            n--;
        snprintf(inner, sizeof inner, "%.*s", (int)(n < 63 ? n : 63), s);
        if (!strcmp(inner, ".System"))
            buf_puts(&b, system ? system : "");
        else if (!strcmp(inner, ".Prompt"))
            buf_puts(&b, prompt ? prompt : "");
        else if (!strcmp(inner, ".Response"))
            ;
        else {
            buf_free(&b);
            return err_set(e, ERR_BAD_REQUEST,
                           "template: only {{ .System }}, {{ .Prompt }} and {{ .Response }} are "
                           "supported until full template rendering lands, not {{ %s }}",
                           inner);
        }
        p = close + 2;
    }
    *out = buf_steal(&b);
    return 0;
}

/* ---- output: the Ollama formatter for api_gen_reply ---- */

static int is_chat(const struct gen_run *g)
{
    return g->pctx != NULL;
}

static json_t *chunk_base(struct gen_run *g)
{
    char ts[48];
    api_time_now(ts, sizeof ts);
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(g->req.model));
    json_object_set_new(o, "created_at", json_string(ts));
    return o;
}

static void set_content(struct gen_run *g, json_t *o, const char *text, size_t len)
{
    json_t *s = json_stringn(text, len);
    if (!s) /* never: the worker sends whole UTF-8 characters */
        s = json_string("");
    if (is_chat(g)) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", s);
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", s);
    }
}

static void add_final(struct gen_run *g, json_t *o, const struct gen_stats *st)
{
    uint32_t stop = st->stop_reason;
    json_object_set_new(o, "done", json_true());
    json_object_set_new(
        o, "done_reason",
        json_string(stop == PROTO_STOP_LENGTH || stop == PROTO_STOP_CONTEXT ? "length" : "stop"));
    if (!is_chat(g) && st->n_context) {
        json_t *ctx = json_array();
        for (uint32_t i = 0; i < st->n_context; i++)
            json_array_append_new(ctx, json_integer(st->context[i]));
        json_object_set_new(o, "context", ctx);
    }
    json_object_set_new(o, "total_duration", json_integer(api_gen_elapsed_us(g) * 1000));
    json_object_set_new(o, "load_duration", json_integer(g->load_us * 1000));
    json_object_set_new(o, "prompt_eval_count", json_integer(st->prompt_n));
    json_object_set_new(o, "prompt_eval_duration", json_integer(st->prompt_us * 1000));
    json_object_set_new(o, "eval_count", json_integer(st->gen_n));
    json_object_set_new(o, "eval_duration", json_integer(st->gen_us * 1000));
    if (st->truncated)
        json_object_set_new(o, "truncated_tokens", json_integer(st->truncated));
    if (st->shifted)
        json_object_set_new(o, "shifted_tokens", json_integer(st->shifted));
    if (stop == PROTO_STOP_CONTEXT)
        json_array_append_new(g->warnings,
                              json_string("generation stopped because the context is full; "
                                          "raise num_ctx, or set shift to drop old tokens"));
    if (json_array_size(g->warnings))
        json_object_set(o, "warnings", g->warnings);
}

static void emit(struct buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    buf_puts(out, s);
    buf_puts(out, "\n");
    free(s);
}

static void ol_chunk(struct gen_run *g, const struct proto_msg *ev, struct buf *out)
{
    json_t *o = chunk_base(g);
    set_content(g, o, ev->text ? ev->text : "", ev->text_len);
    json_object_set_new(o, "done", json_false());
    if (ev->n_probs)
        json_object_set_new(o, "logprobs", api_probs_json(ev, 0));
    emit(out, o);
}

/* Ollama's tool calls: arguments as an object. */
static json_t *ol_calls(json_t *calls)
{
    json_t *arr = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        json_array_append_new(arr, json_pack("{s:O,s:{s:i,s:O,s:O}}", "id",
                                             json_object_get(c, "id"), "function", "index", (int)i,
                                             "name", json_object_get(fn, "name"), "arguments",
                                             json_object_get(fn, "arguments")));
    }
    return arr;
}

/* Reasoning as message.thinking (generate: thinking); a tool call as message.tool_calls. */
static void ol_delta(struct gen_run *g, const struct chat_delta *d, struct buf *out)
{
    json_t *o = chunk_base(g);
    set_content(g, o, "", 0);
    json_t *m = is_chat(g) ? json_object_get(o, "message") : o;
    if (d->kind == CHAT_DELTA_REASONING) {
        json_t *s = json_stringn(d->text, d->len);
        json_object_set_new(m, "thinking", s ? s : json_string(""));
    } else {
        json_t *args = json_loads(d->arguments, 0, NULL);
        json_object_set_new(m, "tool_calls",
                            json_pack("[{s:s,s:{s:i,s:s,s:o}}]", "id", d->id, "function", "index",
                                      d->index, "name", d->name, "arguments",
                                      args ? args : json_object()));
    }
    json_object_set_new(o, "done", json_false());
    emit(out, o);
}

static void ol_end(struct gen_run *g, const struct proto_msg *ev, int last, struct buf *out)
{
    (void)last;
    json_t *o = chunk_base(g);
    set_content(g, o, "", 0);
    add_final(g, o, &ev->stats);
    emit(out, o);
}

static void ol_stream_error(struct gen_run *g, const char *msg, struct buf *out)
{
    (void)g;
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    emit(out, o);
}

static void ol_whole(struct gen_run *g, struct http_reply *rep)
{
    struct gen_choice *c = &g->choices[0];
    json_t *o = chunk_base(g);
    set_content(g, o, c->text ? c->text : "", c->len);
    json_t *m = is_chat(g) ? json_object_get(o, "message") : o;
    if (c->reasoning)
        json_object_set_new(m, "thinking", json_string(c->reasoning));
    if (c->tool_calls)
        json_object_set_new(m, "tool_calls", ol_calls(c->tool_calls));
    if (json_array_size(c->logprobs))
        json_object_set(o, "logprobs", c->logprobs);
    add_final(g, o, &c->stats);
    api_reply(rep, 200, o);
}

static const struct gen_format ollama_format = {
    .content_type = "application/x-ndjson",
    .chunk = ol_chunk,
    .end = ol_end,
    .stream_error = ol_stream_error,
    .whole = ol_whole,
    .error = api_error,
    .delta = ol_delta,
};

/* Starts the generation and answers with a stream or a whole object. Takes req. */
static void generate_reply(struct native_req *req, int chat, int stream, json_t *warnings,
                           struct http_reply *rep)
{
    static int chat_marker;
    /* No per-request data beyond "is this chat". */
    api_gen_reply(api_gen_new(&ollama_format, chat ? &chat_marker : NULL, stream, warnings), req,
                  rep);
}

/* An empty prompt or message list loads (or with keep_alive 0 unloads) the model. */
static void load_reply(struct native_req *req, int chat, struct http_reply *rep)
{
    int unloaded;
    int64_t load_us;
    struct err e = {0};
    int rc = native_load_only(req, &unloaded, &load_us, &e);
    if (rc) {
        api_error(rep, rc, e.msg);
        return;
    }
    char ts[48];
    api_time_now(ts, sizeof ts);
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(req->model));
    json_object_set_new(o, "created_at", json_string(ts));
    if (chat) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", json_string(""));
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", json_string(""));
    }
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string(unloaded ? "unload" : "load"));
    if (!unloaded)
        json_object_set_new(o, "load_duration", json_integer(load_us * 1000));
    api_reply(rep, 200, o);
}

static void handle_generate(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 1, raw = 0;
    const char *prompt = NULL, *system = NULL, *tmpl = NULL, *suffix = NULL;
    int rc = parse_common(body, &req, &stream, warnings, &e);
    if (!rc)
        rc = api_get_str(body, "prompt", &prompt, &e);
    if (!rc)
        rc = api_get_str(body, "system", &system, &e);
    if (!rc)
        rc = api_get_str(body, "template", &tmpl, &e);
    if (!rc)
        rc = api_get_str(body, "suffix", &suffix, &e);
    if (!rc)
        rc = api_get_bool(body, "raw", &raw, &e);
    json_t *ctx = json_object_get(body, "context");
    if (!rc && ctx && !json_is_null(ctx)) {
        rc = api_get_tokens(ctx, "context", &req, &e);
    }
    if (!rc)
        rc = native_resolve(&req, &e);
    if (rc)
        goto fail;
    snprintf(rep->model, sizeof rep->model, "%s", req.model);
    req.flags |= PROTO_GEN_RETURN_TOKENS; /* Ollama returns `context` */

    /* As Ollama: no prompt, system or template means "load the model" (or unload it with
     * keep_alive 0), whatever else the request holds. */
    if ((!prompt || !*prompt) && (!system || !*system) && (!tmpl || !*tmpl)) {
        load_reply(&req, 0, rep);
        goto done;
    }
    if (suffix) {
        req.flags |= PROTO_GEN_SUFFIX;
        req.suffix = xstrdup(suffix);
        req.prompt = xstrdup(prompt ? prompt : "");
    } else if (raw) {
        req.prompt = xstrdup(prompt);
    } else if (tmpl && *tmpl) {
        rc = apply_go_template(tmpl, system, prompt, &req.prompt, &e);
    } else {
        if (req.remote || api_chat_template(&req, NULL)) {
            json_t *msgs = json_array();
            if (system && *system)
                json_array_append_new(msgs,
                                      json_pack("{s:s,s:s}", "role", "system", "content", system));
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
            rc = api_chat_prompt(&req, msgs, &e);
            json_decref(msgs);
        } else {
            if (system && *system)
                json_array_append_new(warnings,
                                      json_string("system was ignored: the model has no chat "
                                                  "template to place it in"));
            req.prompt = xstrdup(prompt);
        }
    }
    if (rc)
        goto fail;
    generate_reply(&req, 0, stream, warnings, rep);
    goto done;
fail:
    api_error(rep, rc, e.msg);
done:
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

/* An assistant's thinking and tool_calls (object arguments), a tool result's tool_name and
 * tool_call_id, in chat.h's canonical shape. */
static int message_extras(json_t *m, json_t *cm, size_t i, struct err *e)
{
    const char *role = json_string_value(json_object_get(cm, "role"));
    const char *thinking = NULL, *tool_name = NULL, *tool_call_id = NULL;
    int rc;
    char where[32];
    snprintf(where, sizeof where, "messages[%zu]", i);
    if ((rc = api_get_str(m, "thinking", &thinking, e)) ||
        (rc = api_get_str(m, "tool_name", &tool_name, e)) ||
        (rc = api_get_str(m, "tool_call_id", &tool_call_id, e)))
        return rc;
    if (!strcmp(role, "assistant")) {
        if (thinking && *thinking)
            json_object_set_new(cm, "reasoning_content", json_string(thinking));
        if ((rc = api_tool_calls_in(json_object_get(m, "tool_calls"), cm, where, e)))
            return rc;
    } else if (!strcmp(role, "tool")) {
        if (tool_name)
            json_object_set_new(cm, "name", json_string(tool_name));
        if (tool_call_id)
            json_object_set_new(cm, "tool_call_id", json_string(tool_call_id));
    }
    return 0;
}

static void handle_chat(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 1;
    json_t *msgs = json_array();
    size_t n = 0;
    int rc = parse_common(body, &req, &stream, warnings, &e);
    json_t *messages = json_object_get(body, "messages");
    if (!rc && messages && !json_is_null(messages) && !json_is_array(messages))
        rc = err_set(&e, ERR_BAD_REQUEST, "messages must be a list");
    if (!rc)
        rc = api_tools_set(&req, json_object_get(body, "tools"), 0, &e);
    if (!rc && json_array_size(messages) > 100000)
        rc = err_set(&e, ERR_TOO_LARGE, "at most 100000 messages");
    if (!rc) {
        size_t i;
        json_t *m;
        json_array_foreach(messages, i, m)
        {
            const char *role = NULL, *content = NULL;
            if (!json_is_object(m)) {
                rc = err_set(&e, ERR_BAD_REQUEST, "messages[%zu] must be an object", i);
                break;
            }
            if ((rc = api_get_str(m, "role", &role, &e)) ||
                (rc = api_get_str(m, "content", &content, &e)))
                break;
            if (!role || (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
                          strcmp(role, "assistant") != 0 && strcmp(role, "tool") != 0)) {
                rc = err_set(&e, ERR_BAD_REQUEST,
                             "messages[%zu].role must be system, user, assistant or tool", i);
                break;
            }
            json_t *im = json_object_get(m, "images");
            if (json_is_array(im) && json_array_size(im)) {
                rc = err_set(&e, ERR_BAD_REQUEST,
                             "images are not supported: no model here has a vision projector");
                break;
            }
            json_t *cm = json_pack("{s:s,s:s}", "role", role, "content", content ? content : "");
            json_array_append_new(msgs, cm);
            if ((rc = message_extras(m, cm, i, &e)))
                break;
            n++;
        }
    }
    if (!rc)
        rc = native_resolve(&req, &e);
    if (rc)
        goto fail;
    snprintf(rep->model, sizeof rep->model, "%s", req.model);
    if (n == 0) {
        load_reply(&req, 1, rep);
        goto done;
    }
    rc = api_chat_prompt(&req, msgs, &e);
    if (rc)
        goto fail;
    generate_reply(&req, 1, stream, warnings, rep);
    goto done;
fail:
    api_error(rep, rc, e.msg);
done:
    json_decref(msgs);
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

/* ---- embeddings ---- */

static void embed_common(const struct http_request *hreq, struct http_reply *rep, int legacy)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_EMBED);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 0, truncate = 1;
    int64_t dims = 0;
    int rc = parse_common(body, &req, &stream, warnings, &e);
    req.flags = 0;
    if (!rc)
        rc = api_get_bool(body, "truncate", &truncate, &e);
    if (!rc)
        rc = api_get_int(body, "dimensions", 1, 1 << 20, &dims, &e);
    json_t *input = json_object_get(body, legacy ? "prompt" : "input");
    if (!rc) {
        if (json_is_string(input)) {
            if (*json_string_value(input) || !legacy)
                strlist_add(&req.inputs, json_string_value(input));
        } else if (!legacy && json_is_array(input)) {
            if (json_array_size(input) > PROTO_MAX_EMBED_INPUTS)
                rc = err_set(&e, ERR_TOO_LARGE, "at most %d inputs", PROTO_MAX_EMBED_INPUTS);
            size_t i;
            json_t *x;
            json_array_foreach(input, i, x)
            {
                if (rc)
                    break;
                if (!json_is_string(x))
                    rc = err_set(&e, ERR_BAD_REQUEST,
                                 "input must be a string or a list of "
                                 "strings");
                else
                    strlist_add(&req.inputs, json_string_value(x));
            }
        } else if (input && !json_is_null(input)) {
            rc = err_set(&e, ERR_BAD_REQUEST,
                         legacy ? "prompt must be a string"
                                : "input must be a string or a list of "
                                  "strings");
        }
    }
    if (!rc)
        rc = native_resolve(&req, &e);
    if (rc)
        goto fail;
    snprintf(rep->model, sizeof rep->model, "%s", req.model);
    if (truncate)
        req.flags |= PROTO_EMBED_TRUNCATE;
    if (legacy)
        req.flags |= PROTO_EMBED_NO_NORMALIZE;
    req.dimensions = (uint32_t)dims;
    json_t *o = json_object();
    if (req.inputs.n == 0) {
        /* Nothing to embed: load the model (as Ollama does) and answer empty. */
        int unloaded;
        int64_t load_us;
        rc = native_load_only(&req, &unloaded, &load_us, &e);
        if (rc) {
            json_decref(o);
            goto fail;
        }
        json_object_set_new(o, legacy ? "embedding" : "embeddings", json_array());
        if (!legacy)
            json_object_set_new(o, "model", json_string(req.model));
        api_reply(rep, 200, o);
        goto done;
    }
    struct native_job *job;
    rc = native_start(&req, &job, &e);
    if (rc) {
        json_decref(o);
        goto fail;
    }
    struct proto_msg ev;
    rc = native_next(job, &ev, &e);
    int64_t load_us = native_load_us(job), t0 = native_start_us(job);
    native_finish(job);
    if (rc) {
        json_decref(o);
        goto fail;
    }
    json_t *all = json_array();
    for (uint32_t i = 0; i < ev.n_embeddings; i++) {
        json_t *v = json_array();
        for (uint32_t k = 0; k < ev.embedding_dim; k++)
            json_array_append_new(v, json_real(ev.embeddings[(size_t)i * ev.embedding_dim + k]));
        json_array_append_new(all, v);
    }
    if (legacy) {
        json_object_set(o, "embedding", json_array_get(all, 0));
        json_decref(all);
    } else {
        json_object_set_new(o, "model", json_string(req.model));
        json_object_set_new(o, "embeddings", all);
        json_object_set_new(o, "total_duration", json_integer((now_us() - t0) * 1000));
        json_object_set_new(o, "load_duration", json_integer(load_us * 1000));
        json_object_set_new(o, "prompt_eval_count", json_integer(ev.stats.prompt_n));
        if (json_array_size(warnings))
            json_object_set(o, "warnings", warnings);
    }
    rep->tokens = ev.stats.prompt_n;
    proto_msg_free(&ev);
    api_reply(rep, 200, o);
    goto done;
fail:
    api_error(rep, rc, e.msg);
done:
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

static void handle_embed(const struct http_request *hreq, struct http_reply *rep)
{
    embed_common(hreq, rep, 0);
}

static void handle_embeddings(const struct http_request *hreq, struct http_reply *rep)
{
    embed_common(hreq, rep, 1);
}

static const struct http_route routes[] = {
    {"GET", "/", ollama_root},
    {"GET", "/api/version", ollama_version},
    {"GET", "/api/tags", ollama_tags},
    {"GET", "/api/ps", ollama_ps},
    {"POST", "/api/show", ollama_show},
    {"POST", "/api/generate", handle_generate},
    {"POST", "/api/chat", handle_chat},
    {"POST", "/api/embed", handle_embed},
    {"POST", "/api/embeddings", handle_embeddings},
    {"POST", "/api/copy", ollama_copy},
    {"DELETE", "/api/delete", ollama_delete},
};

void ollama_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
