/* llama-server's native routes: /health, /completion, /tokenize, /detokenize, /apply-template,
 * /embedding, /props, /slots, /rerank. A request names its model with `model` (POST) or
 * `?model=` (GET); without one it goes to the server's default model (`serve --model NAME`). */
#include "api/api.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

/* llama-server's error shape: {"error":{"code","message","type"}}. */
void llama_error(struct http_reply *rep, int code, const char *msg)
{
    int status = err_http_status(code);
    rep->retry_after = err_retry_after(code);
    const char *type = status == 404   ? "not_found_error"
                       : status == 401 ? "authentication_error"
                       : status == 403 ? "permission_error"
                       : status == 503 ? "unavailable_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    json_t *o =
        json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status, "message", msg, "type", type);
    api_reply(rep, status, o);
}

/* The model a request means: its `model` field, ?model=, or the default. */
static int pick_model(const struct http_request *hreq, json_t *body, struct native_req *req,
                      struct err *e)
{
    const char *m = NULL;
    int rc = body ? api_get_str(body, "model", &m, e) : 0;
    if (rc)
        return rc;
    if (!m || !*m)
        m = http_query(hreq, "model");
    if (!m || !*m) {
        m = api->default_model;
        req->allow_path = 1; /* serve --model, typed by the user who started the server */
    }
    if (!m || !*m)
        return err_set(e, ERR_BAD_REQUEST,
                       "model is required (or start the server with --model NAME)");
    snprintf(req->model, sizeof req->model, "%s", m);
    return native_resolve(req, e);
}

static void handle_health(const struct http_request *hreq, struct http_reply *rep)
{
    (void)hreq;
    int ready = api->default_model ? __atomic_load_n(&api->default_ready, __ATOMIC_ACQUIRE) : 1;
    if (ready == 0) {
        llama_error(rep, ERR_UNAVAILABLE, "Loading model");
        return;
    }
    if (ready < 0) {
        llama_error(rep, ERR_INTERNAL, "the default model failed to load (see the log)");
        return;
    }
    api_reply(rep, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- /completion ---- */

struct lc {
    struct buf content; /* the streamed text so far, for has_new_line */
};

static void lc_free(void *p)
{
    struct lc *l = p;
    if (l)
        buf_free(&l->content);
    free(l);
}

static const char *stop_type(uint32_t stop)
{
    return stop == PROTO_STOP_STRING ? "word" : stop == PROTO_STOP_EOS ? "eos" : "limit";
}

static json_t *timings(const struct gen_stats *st)
{
    /* As llama-server counts: prompt_n is what was computed, cache_n what was reused. */
    double pms = (double)st->prompt_us / 1000, gms = (double)st->gen_us / 1000;
    uint32_t evaluated = st->prompt_n - st->prompt_cached;
    json_t *t = json_object();
    json_object_set_new(t, "cache_n", json_integer(st->prompt_cached));
    json_object_set_new(t, "prompt_n", json_integer(evaluated));
    json_object_set_new(t, "prompt_ms", json_real(pms));
    json_object_set_new(t, "prompt_per_token_ms", json_real(evaluated ? pms / evaluated : 0));
    json_object_set_new(t, "prompt_per_second", json_real(pms > 0 ? evaluated * 1000.0 / pms : 0));
    json_object_set_new(t, "predicted_n", json_integer(st->gen_n));
    json_object_set_new(t, "predicted_ms", json_real(gms));
    json_object_set_new(t, "predicted_per_token_ms", json_real(st->gen_n ? gms / st->gen_n : 0));
    json_object_set_new(t, "predicted_per_second",
                        json_real(gms > 0 ? st->gen_n * 1000.0 / gms : 0));
    return t;
}

static json_t *final_obj(struct gen_run *g, const char *text, size_t len,
                         const struct gen_stats *st)
{
    json_t *o = json_object();
    json_t *s = json_stringn(text, len);
    json_object_set_new(o, "content", s ? s : json_string(""));
    json_object_set_new(o, "id_slot", json_integer(0));
    json_object_set_new(o, "stop", json_true());
    json_object_set_new(o, "model", json_string(g->req.model));
    json_object_set_new(o, "tokens_predicted", json_integer(st->gen_n));
    json_object_set_new(o, "tokens_evaluated", json_integer(st->prompt_n));
    json_object_set_new(o, "tokens_cached", json_integer(st->prompt_cached));
    json_object_set_new(o, "truncated", json_boolean(st->truncated > 0));
    json_object_set_new(o, "stop_type", json_string(stop_type(st->stop_reason)));
    json_object_set_new(o, "stopping_word", json_string(st->stop_string ? st->stop_string : ""));
    json_object_set_new(o, "has_new_line", json_boolean(memchr(text, '\n', len) != NULL));
    json_object_set_new(o, "timings", timings(st));
    json_t *gs = json_object();
    json_object_set_new(gs, "n_predict", json_integer(g->req.gen.num_predict));
    json_object_set_new(gs, "temperature", json_real(g->req.gen.temperature));
    json_object_set_new(gs, "top_k", json_integer(g->req.gen.top_k));
    json_object_set_new(gs, "top_p", json_real(g->req.gen.top_p));
    json_object_set_new(gs, "min_p", json_real(g->req.gen.min_p));
    json_object_set_new(gs, "seed", json_integer(g->req.gen.seed));
    json_object_set_new(o, "generation_settings", gs);
    if (json_array_size(g->warnings))
        json_object_set(o, "warnings", g->warnings);
    return o;
}

static void sse(struct buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    buf_printf(out, "data: %s\n\n", s);
    free(s);
}

static void lc_chunk(struct gen_run *g, const struct proto_msg *ev, struct buf *out)
{
    struct lc *l = g->pctx;
    buf_append(&l->content, ev->text ? ev->text : "", ev->text_len);
    json_t *o = json_object();
    json_t *s = json_stringn(ev->text ? ev->text : "", ev->text_len);
    json_object_set_new(o, "content", s ? s : json_string(""));
    json_object_set_new(o, "stop", json_false());
    json_object_set_new(o, "id_slot", json_integer(0));
    json_object_set_new(o, "index", json_integer(0));
    if (ev->n_probs)
        json_object_set_new(o, "completion_probabilities", api_probs_json(ev, 1));
    sse(out, o);
}

static void lc_end(struct gen_run *g, const struct proto_msg *ev, int last, struct buf *out)
{
    (void)last;
    struct lc *l = g->pctx;
    json_t *o = final_obj(g, "", 0, &ev->stats);
    json_object_set_new(
        o, "has_new_line",
        json_boolean(l->content.len && memchr(l->content.data, '\n', l->content.len)));
    sse(out, o);
}

static void lc_stream_error(struct gen_run *g, const char *msg, struct buf *out)
{
    (void)g;
    sse(out, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 500, "message", msg, "type",
                       "server_error"));
}

static void lc_whole(struct gen_run *g, struct http_reply *rep)
{
    struct gen_choice *c = &g->choices[0];
    json_t *o = final_obj(g, c->text ? c->text : "", c->len, &c->stats);
    if (json_array_size(c->logprobs))
        json_object_set(o, "completion_probabilities", c->logprobs);
    api_reply(rep, 200, o);
}

static const struct gen_format completion_format = {
    .content_type = "text/event-stream",
    .chunk = lc_chunk,
    .end = lc_end,
    .stream_error = lc_stream_error,
    .whole = lc_whole,
    .error = llama_error,
    .free = lc_free,
    .probs_with_ids = 1,
};

/* prompt: a string, token ids, or a list whose first element is one of those. */
static int parse_prompt(json_t *p, struct native_req *req, struct err *e)
{
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        req->prompt = xstrdup(json_string_value(p));
        return 0;
    }
    req->prompt = xstrdup("");
    return api_get_tokens(p, "prompt (a string or token ids; mixed prompts are not supported)", req,
                          e);
}

static void handle_completion(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    json_t *warnings = json_array();
    struct err e = {0};
    int stream = 0;
    int64_t n_probs = 0;
    static const char *const own[] = {"model",
                                      "prompt",
                                      "stream",
                                      "n_probs",
                                      "cache_prompt",
                                      "id_slot",
                                      "return_tokens",
                                      "json_schema",
                                      "samplers",
                                      "post_sampling_probs",
                                      "timings_per_token",
                                      "lora"};
    int rc = api_apply_fields(body, own, ARRAY_LEN(own), 0, &req, warnings, &e);
    if (!rc)
        rc = api_get_bool(body, "stream", &stream, &e);
    if (!rc)
        rc = api_get_int(body, "n_probs", 0, PROTO_MAX_TOP_LOGPROBS, &n_probs, &e);
    json_t *schema = json_object_get(body, "json_schema");
    if (!rc && schema && !json_is_null(schema))
        rc = api_schema_grammar(&req, schema, "json_schema", &e);
    if (!rc) {
        json_t *p = json_object_get(body, "prompt");
        rc = p ? parse_prompt(p, &req, &e) : err_set(&e, ERR_BAD_REQUEST, "prompt is required");
    }
    if (!rc)
        rc = pick_model(hreq, body, &req, &e);
    if (rc) {
        llama_error(rep, rc, e.msg);
    } else {
        if (n_probs > 0) {
            req.flags |= PROTO_GEN_LOGPROBS;
            req.top_logprobs = (uint32_t)n_probs;
        }
        struct lc *l = xcalloc(1, sizeof *l);
        buf_init(&l->content, 64u << 20);
        api_gen_reply(api_gen_new(&completion_format, l, stream, warnings), &req, rep);
    }
    native_req_free(&req);
    json_decref(warnings);
    json_decref(body);
}

/* ---- tokens ---- */

static void handle_tokenize(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_TOKENIZE);
    struct err e = {0};
    const char *content = NULL;
    int add_special = 0, parse_special = 1, pieces = 0;
    int rc = api_get_str(body, "content", &content, &e);
    if (!rc && !content)
        rc = err_set(&e, ERR_BAD_REQUEST, "content is required");
    if (!rc)
        rc = api_get_bool(body, "add_special", &add_special, &e);
    if (!rc)
        rc = api_get_bool(body, "parse_special", &parse_special, &e);
    if (!rc)
        rc = api_get_bool(body, "with_pieces", &pieces, &e);
    if (!rc)
        rc = pick_model(hreq, body, &req, &e);
    struct proto_msg ans;
    proto_msg_init(&ans, 0);
    int64_t load_us;
    if (!rc) {
        req.prompt = xstrdup(content);
        req.flags = (add_special ? PROTO_TOK_ADD_SPECIAL : 0) |
                    (parse_special ? PROTO_TOK_PARSE_SPECIAL : 0) | (pieces ? PROTO_TOK_PIECES : 0);
        rc = native_call(&req, &ans, &load_us, &e);
    }
    if (rc) {
        llama_error(rep, rc, e.msg);
    } else {
        json_t *toks = json_array();
        for (uint32_t i = 0; i < ans.n_prefix_tokens; i++) {
            if (!pieces) {
                json_array_append_new(toks, json_integer(ans.prefix_tokens[i]));
                continue;
            }
            /* A piece that is not valid UTF-8 on its own is given as its bytes. */
            const char *pc = (int)i < ans.inputs.n ? ans.inputs.v[i] : "";
            json_t *piece = json_string(pc);
            if (!piece) {
                piece = json_array();
                for (const unsigned char *b = (const unsigned char *)pc; *b; b++)
                    json_array_append_new(piece, json_integer(*b));
            }
            json_array_append_new(
                toks, json_pack("{s:i, s:o}", "id", ans.prefix_tokens[i], "piece", piece));
        }
        api_reply(rep, 200, json_pack("{s:o}", "tokens", toks));
    }
    proto_msg_free(&ans);
    native_req_free(&req);
    json_decref(body);
}

static void handle_detokenize(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_DETOKENIZE);
    struct err e = {0};
    int rc = api_get_tokens(json_object_get(body, "tokens"), "tokens", &req, &e);
    if (!rc)
        rc = pick_model(hreq, body, &req, &e);
    struct proto_msg ans;
    proto_msg_init(&ans, 0);
    int64_t load_us;
    if (!rc)
        rc = native_call(&req, &ans, &load_us, &e);
    if (rc)
        llama_error(rep, rc, e.msg);
    else
        api_reply(rep, 200, json_pack("{s:s}", "content", ans.prompt ? ans.prompt : ""));
    proto_msg_free(&ans);
    native_req_free(&req);
    json_decref(body);
}

static void handle_apply_template(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    struct err e = {0};
    int rc = pick_model(hreq, body, &req, &e);
    /* The prompt a chat completion with the same tools and template switches would get. */
    if (!rc)
        rc = api_tools_set(&req, json_object_get(body, "tools"), 0, &e);
    if (!rc)
        rc = api_tool_choice_openai(&req, json_object_get(body, "tool_choice"),
                                    json_object_get(body, "parallel_tool_calls"), &e);
    if (!rc)
        rc = api_reasoning_openai(&req, json_object_get(body, "reasoning_effort"),
                                  json_object_get(body, "chat_template_kwargs"), &e);
    if (!rc)
        rc = api_render_messages(&req, json_object_get(body, "messages"), NULL, &e);
    if (rc)
        llama_error(rep, rc, e.msg);
    else
        api_reply(rep, 200, json_pack("{s:s}", "prompt", req.prompt));
    native_req_free(&req);
    json_decref(body);
}

static void handle_embedding(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_EMBED);
    struct err e = {0};
    json_t *in = json_object_get(body, "content");
    if (!in)
        in = json_object_get(body, "input");
    int rc = 0;
    if (json_is_string(in)) {
        strlist_add(&req.inputs, json_string_value(in));
    } else if (json_is_array(in) && json_array_size(in) <= PROTO_MAX_EMBED_INPUTS) {
        size_t i;
        json_t *x;
        json_array_foreach(in, i, x)
        {
            if (!json_is_string(x)) {
                rc = err_set(&e, ERR_BAD_REQUEST, "content must be a string or strings");
                break;
            }
            strlist_add(&req.inputs, json_string_value(x));
        }
    } else {
        rc = err_set(&e, ERR_BAD_REQUEST, "content must be a string or a list of strings");
    }
    if (!rc && req.inputs.n == 0)
        rc = err_set(&e, ERR_BAD_REQUEST, "content is empty");
    if (!rc)
        rc = pick_model(hreq, body, &req, &e);
    struct proto_msg ans;
    proto_msg_init(&ans, 0);
    int64_t load_us;
    if (!rc) {
        req.flags = PROTO_EMBED_TRUNCATE;
        rc = native_call(&req, &ans, &load_us, &e);
    }
    if (rc) {
        llama_error(rep, rc, e.msg);
    } else {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < ans.n_embeddings; i++) {
            json_t *v = json_array();
            for (uint32_t k = 0; k < ans.embedding_dim; k++)
                json_array_append_new(v,
                                      json_real(ans.embeddings[(size_t)i * ans.embedding_dim + k]));
            json_array_append_new(arr, json_pack("{s:i, s:o}", "index", (int)i, "embedding", v));
        }
        api_reply(rep, 200, arr);
    }
    proto_msg_free(&ans);
    native_req_free(&req);
    json_decref(body);
}

/* ---- state ---- */

static void handle_props(const struct http_request *hreq, struct http_reply *rep)
{
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    struct err e = {0};
    if (pick_model(hreq, NULL, &req, &e)) {
        llama_error(rep, e.code, e.msg);
        native_req_free(&req);
        return;
    }
    json_t *gs = json_object();
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n; i++) {
        const void *f = (const char *)(t[i].group == PARAM_GEN ? (const void *)&req.gen
                                                               : (const void *)&req.load) +
                        t[i].offset;
        switch (t[i].type) {
        case PARAM_INT:
            json_object_set_new(gs, t[i].name, json_integer(*(const int32_t *)f));
            break;
        case PARAM_I64:
            json_object_set_new(gs, t[i].name, json_integer(*(const int64_t *)f));
            break;
        case PARAM_FLOAT: json_object_set_new(gs, t[i].name, json_real(*(const float *)f)); break;
        case PARAM_BOOL: json_object_set_new(gs, t[i].name, json_boolean(*(const bool *)f)); break;
        default: break;
        }
    }
    json_t *o = json_object();
    json_object_set_new(o, "default_generation_settings", gs);
    json_object_set_new(o, "total_slots", json_integer(api->num_parallel));
    json_object_set_new(o, "model_alias", json_string(req.model));
    json_object_set_new(o, "model_path", json_string(req.path ? req.path : "")); /* remote: "" */
    char *tmpl = api_model_template(req.path);
    json_object_set_new(o, "chat_template", json_string(tmpl ? tmpl : ""));
    free(tmpl);
    json_object_set_new(o, "modalities", json_pack("{s:b, s:b}", "vision", 0, "audio", 0));
    json_object_set_new(o, "build_info", json_string("hearth " HEARTH_VERSION));
    api_reply(rep, 200, o);
    native_req_free(&req);
}

static void handle_slots(const struct http_request *hreq, struct http_reply *rep)
{
    (void)hreq;
    struct sched_status st[64];
    int n = sched_list(api->sched, st, 64);
    /* One entry per slot of every loaded model, as its worker reports them. */
    static const char *const states[] = {"idle", "prompt", "generating"};
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        struct proto_msg info;
        struct err e = {0};
        if (native_slots(st[i].name, &info, &e)) {
            log_warn("msg=\"no slot states\" model=%s err=%s", log_q(st[i].name), log_q(e.msg));
            proto_msg_free(&info);
            continue;
        }
        for (uint32_t k = 0; k < info.n_slots; k++) {
            const struct slot_info *si = &info.slots[k];
            json_t *o =
                json_pack("{s:i, s:I, s:s, s:i, s:b, s:s, s:i, s:i, s:{s:i}}", "id", (int)k,
                          "id_task", (json_int_t)si->task, "model", st[i].name, "n_ctx",
                          (int)si->n_ctx, "is_processing", si->state != PROTO_SLOT_IDLE, "state",
                          states[si->state <= PROTO_SLOT_GENERATING ? si->state : 0], "n_past",
                          (int)si->n_past, "n_prompt_tokens", (int)si->n_prompt, "next_token",
                          "n_decoded", (int)si->n_decoded);
            json_array_append_new(arr, o);
        }
        proto_msg_free(&info);
    }
    api_reply(rep, 200, arr);
}

static int cmp_score(const void *a, const void *b)
{
    double x = json_real_value(json_object_get(*(json_t *const *)a, "relevance_score"));
    double y = json_real_value(json_object_get(*(json_t *const *)b, "relevance_score"));
    return (x < y) - (x > y);
}

/* {query, documents, top_n} -> results sorted by relevance, as llama-server answers. */
static void handle_rerank(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    struct native_req req;
    native_req_init(&req, NATIVE_EMBED);
    struct err e = {0};
    const char *query = NULL;
    int64_t top_n = -1;
    int docs_text = 0;
    int rc = api_get_str(body, "query", &query, &e);
    if (!rc && !query)
        rc = err_set(&e, ERR_BAD_REQUEST, "query is required");
    if (!rc)
        rc = api_get_int(body, "top_n", 1, 100000, &top_n, &e);
    if (!rc)
        rc = api_get_bool(body, "return_text", &docs_text, &e);
    json_t *docs = json_object_get(body, "documents");
    if (!rc && (!json_is_array(docs) || json_array_size(docs) == 0 ||
                json_array_size(docs) >= PROTO_MAX_EMBED_INPUTS))
        rc = err_set(&e, ERR_BAD_REQUEST, "documents must be a non-empty list of strings");
    if (!rc) {
        strlist_add(&req.inputs, query);
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d)
        {
            if (!json_is_string(d)) {
                rc = err_set(&e, ERR_BAD_REQUEST, "documents must be strings");
                break;
            }
            strlist_add(&req.inputs, json_string_value(d));
        }
    }
    if (!rc)
        rc = pick_model(hreq, body, &req, &e);
    struct proto_msg ans;
    proto_msg_init(&ans, 0);
    int64_t load_us;
    if (!rc) {
        req.flags = PROTO_EMBED_RERANK | PROTO_EMBED_TRUNCATE;
        rc = native_call(&req, &ans, &load_us, &e);
    }
    if (rc) {
        llama_error(rep, rc, e.msg);
    } else {
        size_t n = ans.n_embeddings;
        json_t **items = xcalloc(n ? n : 1, sizeof(json_t *));
        for (size_t i = 0; i < n; i++) {
            items[i] = json_pack("{s:i, s:f}", "index", (int)i, "relevance_score",
                                 (double)ans.embeddings[i]);
            if (docs_text)
                json_object_set(items[i], "document", json_array_get(docs, i));
        }
        qsort(items, n, sizeof(json_t *), cmp_score);
        json_t *results = json_array();
        for (size_t i = 0; i < n; i++) {
            if (top_n < 0 || (int64_t)i < top_n)
                json_array_append(results, items[i]);
            json_decref(items[i]);
        }
        free(items);
        api_reply(rep, 200,
                  json_pack("{s:s, s:s, s:o, s:{s:i, s:i}}", "model", req.model, "object", "list",
                            "results", results, "usage", "prompt_tokens", (int)ans.stats.prompt_n,
                            "total_tokens", (int)ans.stats.prompt_n));
    }
    proto_msg_free(&ans);
    native_req_free(&req);
    json_decref(body);
}

static const struct http_route routes[] = {
    {"GET", "/health", handle_health},
    {"GET", "/v1/health", handle_health},
    {"POST", "/completion", handle_completion},
    {"POST", "/completions", handle_completion},
    {"POST", "/tokenize", handle_tokenize},
    {"POST", "/detokenize", handle_detokenize},
    {"POST", "/apply-template", handle_apply_template},
    {"POST", "/embedding", handle_embedding},
    {"POST", "/embeddings", handle_embedding},
    {"GET", "/props", handle_props},
    {"GET", "/slots", handle_slots},
    {"POST", "/rerank", handle_rerank},
    {"POST", "/reranking", handle_rerank},
    {"POST", "/v1/rerank", handle_rerank},
    {"POST", "/v1/reranking", handle_rerank},
};

void llama_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
