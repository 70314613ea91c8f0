/* Remote engines: a model name whose preset section says `remote = URL` is served by another
 * OpenAI-compatible server (vLLM, llama-server, another hearth). A request for it is sent to
 * the remote's /v1/chat/completions, /v1/completions or /v1/embeddings, always streamed, and
 * the remote's answer comes back as the same events a worker sends (TOKEN, DONE, EMBEDDING), so
 * that every API's replies and streams are written by the code that writes them for local
 * models.
 *
 * The transfer runs on the connection's own thread: remote_next drives a curl multi handle
 * until it has an event, polling in short steps so that a client that went away or a server
 * shutting down ends the upstream request at once. A connection that fails is tried again
 * (twice, with a growing pause); nothing is retried once the remote may have received the
 * request. The API key is read from the environment at request time, sent only in the
 * Authorization header, and removed from any text the remote sends back.
 */
#include "api/remote.h"

#include "base/log.h"
#include "base/util.h"
#include "net/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REMOTE_MAX_LINE   (1u << 20)  /* one SSE line of the remote's answer */
#define REMOTE_MAX_BODY   (64u << 20) /* the whole answer */
#define REMOTE_MAX_ERROR  (64u << 10) /* an error body kept for its message */
#define REMOTE_TRIES      3           /* connection attempts */
#define REMOTE_BACKOFF_MS 250         /* the first pause; doubled each time */
#define REMOTE_STEP_MS    200         /* how often the client and shutdown are looked at */

enum remote_kind { REMOTE_CHAT, REMOTE_COMPLETION, REMOTE_EMBED };

struct remote_job {
    enum remote_kind kind;
    char model[STORE_MAX_NAME + 16]; /* the local name, for messages */
    char *url;                       /* the endpoint */
    char *key;                       /* the API key, or NULL; wiped when freed */
    char *body;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    int connect_timeout_s, timeout_s;
    int tries;
    int64_t retry_at_us; /* 0: not waiting to retry */
    int64_t t0, t_first;
    long status; /* the remote's HTTP status, once its answer started */
    size_t received;
    struct buf line;  /* the SSE line being read */
    struct buf whole; /* a non-SSE answer (an error, embeddings, a server that does not stream) */
    int sse;          /* the answer is an SSE stream */
    int saw_done;     /* [DONE] or a finish_reason arrived */
    uint32_t n_chunks;
    struct gen_stats stats;
    int failed;
    struct err err;
    int ended; /* the last event is queued */
    /* A chat's reasoning and tool calls, written back as text the Hermes parser reads (gen.c
     * splits them out for each API as it does a local model's output): */
    int parse;     /* the request's output is parsed (api_chat_prompt): else content only */
    int in_think;  /* "<think>" was written and not closed yet */
    json_t *calls; /* [{name, arguments (text so far)}] by the remote's index */
    struct proto_msg *q;
    size_t q_head, q_n, q_cap;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the request ---- */

/* A generation parameter as the JSON field a remote understands: OpenAI's names where OpenAI
 * has the knob, else the params-table name (llama-server's and hearth's). NULL: not sent. */
static json_t *param_json(const struct param_desc *d, const struct gen_params *g, const char **name)
{
    const char *p = (const char *)g + d->offset;
    *name = !strcmp(d->name, "num_predict") ? "max_tokens" : d->name;
    if (!strcmp(d->name, "reasoning_end") || !strcmp(d->name, "logit_bias"))
        return NULL; /* a template's text; token ids of another vocabulary */
    switch (d->type) {
    case PARAM_INT: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return !strcmp(d->name, "num_predict") && v < 0 ? NULL : json_integer(v);
    }
    case PARAM_I64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return !strcmp(d->name, "seed") && v < 0 ? NULL : json_integer(v);
    }
    case PARAM_FLOAT: {
        float v;
        memcpy(&v, p, sizeof v);
        return json_real(v);
    }
    case PARAM_BOOL: {
        bool v;
        memcpy(&v, p, sizeof v);
        return json_boolean(v);
    }
    case PARAM_STR: {
        const char *s = *(char *const *)(const void *)p;
        return s && *s ? json_string(s) : NULL;
    }
    case PARAM_LIST: {
        const struct strlist *l = (const struct strlist *)(const void *)p;
        if (!l->n)
            return NULL;
        json_t *a = json_array();
        for (int i = 0; i < l->n; i++)
            json_array_append_new(a, json_string(l->v[i]));
        return a;
    }
    case PARAM_BIAS: return NULL;
    }
    return NULL;
}

/* The request's tools, tool_choice, reasoning effort and template arguments, in OpenAI's (and
 * llama-server's) fields. */
static void tools_json(const struct native_req *req, json_t *o)
{
    if (req->kwargs)
        json_object_set(o, "chat_template_kwargs", req->kwargs);
    if (req->think_level[0])
        json_object_set_new(o, "reasoning_effort", json_string(req->think_level));
    if (!json_array_size(req->tools))
        return;
    json_object_set(o, "tools", req->tools);
    static const char *const choice[] = {"auto", "none", "required"};
    if (req->tool_choice == API_TOOLS_FUNCTION)
        json_object_set_new(
            o, "tool_choice",
            json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", req->tool_name));
    else
        json_object_set_new(o, "tool_choice", json_string(choice[req->tool_choice]));
    if (!req->parallel_tool_calls)
        json_object_set_new(o, "parallel_tool_calls", json_false());
}

static char *request_body(const struct native_req *req, enum remote_kind kind)
{
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(req->remote->model));
    if (kind == REMOTE_EMBED) {
        json_t *in = json_array();
        for (int i = 0; i < req->inputs.n; i++)
            json_array_append_new(in, json_string(req->inputs.v[i]));
        json_object_set_new(o, "input", in);
        if (req->dimensions)
            json_object_set_new(o, "dimensions", json_integer(req->dimensions));
    } else {
        if (kind == REMOTE_CHAT) {
            json_object_set(o, "messages", req->messages);
            tools_json(req, o);
        } else {
            json_object_set_new(o, "prompt", json_string(req->prompt ? req->prompt : ""));
            if (req->suffix)
                json_object_set_new(o, "suffix", json_string(req->suffix));
        }
        json_object_set_new(o, "stream", json_true());
        json_object_set_new(o, "stream_options", json_pack("{s:b}", "include_usage", 1));
        int n;
        const struct param_desc *t = params_table(&n);
        uint64_t set = req->remote_set | req->req_set;
        for (int i = 0; i < n && i < 64; i++) {
            if (t[i].group != PARAM_GEN || !(set & ((uint64_t)1 << i)))
                continue;
            const char *name;
            json_t *v = param_json(&t[i], &req->gen, &name);
            if (v)
                json_object_set_new(o, name, v);
        }
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- events ---- */

static struct proto_msg *push(struct remote_job *j, enum proto_type type)
{
    if (j->q_head + j->q_n == j->q_cap) {
        if (j->q_head) {
            memmove(j->q, j->q + j->q_head, j->q_n * sizeof *j->q);
            j->q_head = 0;
        } else {
            j->q_cap = j->q_cap ? j->q_cap * 2 : 16;
            j->q = xrealloc(j->q, j->q_cap * sizeof *j->q);
        }
    }
    struct proto_msg *m = &j->q[j->q_head + j->q_n++];
    proto_msg_init(m, type);
    return m;
}

/* Replaces every copy of the API key in text (the remote's own messages may quote it). */
static void redact_key(const struct remote_job *j, char *text)
{
    size_t kl = j->key ? strlen(j->key) : 0;
    if (kl < 4)
        return;
    for (char *p = strstr(text, j->key); p; p = strstr(p, j->key)) {
        memset(p, '*', kl);
        p += kl;
    }
}

static int fail(struct remote_job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct remote_job *j, int code, const char *fmt, ...)
{
    if (j->failed)
        return j->err.code;
    va_list ap;
    va_start(ap, fmt);
    j->err.code = code;
    vsnprintf(j->err.msg, sizeof j->err.msg, fmt, ap);
    va_end(ap);
    redact_key(j, j->err.msg);
    j->failed = 1;
    return code;
}

static void token(struct remote_job *j, const char *text, size_t len)
{
    if (!len)
        return;
    if (!j->t_first)
        j->t_first = now_us();
    struct proto_msg *m = push(j, PROTO_TOKEN);
    m->text = xstrndup(text, len);
    m->text_len = (uint32_t)len;
    m->n_tokens = 1;
    j->n_chunks++;
}

#define REMOTE_MAX_CALLS 128

static void think_close(struct remote_job *j)
{
    if (j->in_think) {
        token(j, "</think>", 8);
        j->n_chunks--;
        j->in_think = 0;
    }
}

/* A chat message or delta: reasoning (as <think>...</think>), content, and pieces of tool
 * calls, kept until the end. */
static void chat_piece(struct remote_job *j, json_t *m)
{
    json_t *r = json_object_get(m, "reasoning_content");
    if (!json_is_string(r))
        r = json_object_get(m, "reasoning");
    if (j->parse && json_is_string(r) && json_string_length(r)) {
        if (!j->in_think) {
            token(j, "<think>", 7);
            j->n_chunks--;
            j->in_think = 1;
        }
        token(j, json_string_value(r), json_string_length(r));
    }
    json_t *c = json_object_get(m, "content");
    if (json_is_string(c) && json_string_length(c)) {
        think_close(j);
        token(j, json_string_value(c), json_string_length(c));
    }
    if (!j->parse)
        return;
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
    {
        json_t *idx = json_object_get(tc, "index");
        size_t at = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
        if (at >= REMOTE_MAX_CALLS)
            continue;
        if (!j->calls)
            j->calls = json_array();
        while (json_array_size(j->calls) <= at)
            json_array_append_new(j->calls, json_pack("{s:s, s:s}", "name", "", "arguments", ""));
        json_t *call = json_array_get(j->calls, at), *f = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *args = json_object_get(f, "arguments");
        if (name && *name)
            json_object_set_new(call, "name", json_string(name));
        if (json_is_string(args)) {
            struct buf b;
            buf_init(&b, REMOTE_MAX_BODY);
            buf_puts(&b, json_string_value(json_object_get(call, "arguments")));
            buf_append(&b, json_string_value(args), json_string_length(args));
            json_object_set_new(call, "arguments", json_stringn(b.data ? b.data : "", b.len));
            buf_free(&b);
        } else if (json_is_object(args)) { /* Ollama-like servers send an object */
            char *text = json_dumps(args, JSON_COMPACT);
            json_object_set_new(call, "arguments", json_string(text ? text : "{}"));
            free(text);
        }
    }
}

/* The end of a chat: the tool calls, complete now, as Hermes <tool_call> text. */
static void chat_end(struct remote_job *j)
{
    think_close(j);
    size_t i;
    json_t *call;
    json_array_foreach(j->calls, i, call)
    {
        const char *name = json_string_value(json_object_get(call, "name"));
        const char *text = json_string_value(json_object_get(call, "arguments"));
        if (!name || !*name)
            continue;
        json_t *args = text && *text ? json_loads(text, JSON_DECODE_ANY, NULL) : json_object();
        json_t *o = json_pack("{s:s, s:o}", "name", name, "arguments",
                              args ? args : json_string(text ? text : ""));
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "<tool_call>%s</tool_call>", body ? body : "{}");
        token(j, b.data, b.len);
        buf_free(&b);
        free(body);
    }
}

static void usage(struct remote_job *j, json_t *u)
{
    json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
    if (json_is_integer(p) && json_integer_value(p) >= 0)
        j->stats.prompt_n = (uint32_t)json_integer_value(p);
    if (json_is_integer(c) && json_integer_value(c) >= 0)
        j->stats.gen_n = (uint32_t)json_integer_value(c);
}

static void finish_reason(struct remote_job *j, json_t *fr)
{
    const char *r = json_string_value(fr);
    if (!r)
        return;
    j->saw_done = 1;
    j->stats.stop_reason = !strcmp(r, "length") ? PROTO_STOP_LENGTH : PROTO_STOP_EOS;
}

/* The error message of a remote's error body: OpenAI's {"error":{"message"}}, Ollama's
 * {"error": "..."}, or {"message"}; else the body itself, cut short. */
static void error_message(const char *body, size_t len, char *out, size_t cap)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    json_t *err = json_object_get(o, "error");
    const char *m = json_string_value(json_object_get(err, "message"));
    if (!m)
        m = json_string_value(err);
    if (!m)
        m = json_string_value(json_object_get(o, "message"));
    if (m)
        snprintf(out, cap, "%s", m);
    else
        snprintf(out, cap, "%.*s", (int)(len > 300 ? 300 : len), body);
    json_decref(o);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
}

/* One data: payload of the stream (a chunk of a chat or a completion). */
static void sse_data(struct remote_job *j, const char *data, size_t len)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        j->saw_done = 1;
        return;
    }
    json_error_t je;
    json_t *o = json_loadb(data, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server sent a stream that is not JSON",
             j->model);
        return;
    }
    json_t *err = json_object_get(o, "error");
    if (err) {
        char msg[300];
        char *text = json_dumps(o, JSON_COMPACT);
        error_message(text, strlen(text), msg, sizeof msg);
        free(text);
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server failed: %s", j->model, msg);
        json_decref(o);
        return;
    }
    json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
    json_t *text = json_object_get(c0, "text");
    if (j->kind == REMOTE_CHAT)
        chat_piece(j, json_object_get(c0, "delta"));
    else if (json_is_string(text))
        token(j, json_string_value(text), json_string_length(text));
    finish_reason(j, json_object_get(c0, "finish_reason"));
    if (json_is_object(json_object_get(o, "usage")))
        usage(j, json_object_get(o, "usage"));
    json_decref(o);
}

static void take_line(struct remote_job *j, const char *l, size_t n)
{
    if (n && l[n - 1] == '\r')
        n--;
    if (!j->sse && n >= 5 && !memcmp(l, "data:", 5))
        j->sse = 1;
    if (!j->sse) {
        if (buf_append(&j->whole, l, n) || buf_append(&j->whole, "\n", 1))
            fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server's answer is over %u bytes",
                 j->model, REMOTE_MAX_BODY);
        return;
    }
    if (n >= 5 && !memcmp(l, "data:", 5)) {
        l += 5;
        n -= 5;
        if (n && *l == ' ')
            l++, n--;
        sse_data(j, l, n);
    } /* event:, id:, comments and blank lines carry nothing we use */
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct remote_job *j = ud;
    size_t n = size * nmemb;
    if (!j->status)
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    j->received += n;
    if (j->received > REMOTE_MAX_BODY) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server's answer is over %u bytes",
             j->model, REMOTE_MAX_BODY);
        return 0;
    }
    if (j->status >= 400) { /* keep the start of an error body for its message */
        size_t room = REMOTE_MAX_ERROR > j->whole.len ? REMOTE_MAX_ERROR - j->whole.len : 0;
        buf_append(&j->whole, data, n < room ? n : room);
        return n;
    }
    for (size_t i = 0; i < n && !j->failed;) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t span = nl ? (size_t)(nl - (data + i)) : n - i;
        if (buf_append(&j->line, data + i, span)) {
            fail(j, ERR_BAD_GATEWAY,
                 "model '%s': the remote server sent a line longer than %u bytes", j->model,
                 REMOTE_MAX_LINE);
            break;
        }
        i += span;
        if (!nl)
            break;
        i++;
        take_line(j, j->line.data ? j->line.data : "", j->line.len);
        buf_reset(&j->line);
    }
    return j->failed ? 0 : n;
}

/* ---- the transfer ---- */

static int add_transfer(struct remote_job *j)
{
    j->tries++;
    j->status = 0;
    j->received = 0;
    buf_reset(&j->line);
    buf_reset(&j->whole);
    if (j->easy) {
        curl_multi_remove_handle(j->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
    CURL *c = j->easy = curl_easy_init();
    if (!c)
        return fail(j, ERR_INTERNAL, "cannot start an HTTP transfer");
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would resend the key */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)j->connect_timeout_s);
    /* The idle timeout: a remote that sends nothing for timeout_s seconds is given up. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)j->timeout_s);
    j->curl_err[0] = 0;
    return curl_multi_add_handle(j->multi, c) == CURLM_OK
               ? 0
               : fail(j, ERR_INTERNAL, "cannot start an HTTP transfer");
}

/* The transfer ended with result: queue the last event, fail, or plan another try. */
static void transfer_done(struct remote_job *j, CURLcode result)
{
    if (j->failed)
        return;
    if (result == CURLE_COULDNT_CONNECT && !j->received && j->tries < REMOTE_TRIES) {
        /* Nothing reached the remote: safe to try again after a pause. */
        int64_t pause = (int64_t)REMOTE_BACKOFF_MS << (j->tries - 1);
        log_warn("model=%s msg=\"remote connect failed, retrying\" url=%s try=%d err=%s",
                 log_q(j->model), log_q(j->url), j->tries, log_q(j->curl_err));
        j->retry_at_us = now_us() + pause * 1000;
        return;
    }
    if (result == CURLE_OPERATION_TIMEDOUT && !j->received) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server at %s did not answer (%s)",
             j->model, j->url, j->curl_err[0] ? j->curl_err : "timed out");
        return;
    }
    if (result == CURLE_OPERATION_TIMEDOUT) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server at %s sent nothing for %d s",
             j->model, j->url, j->timeout_s);
        return;
    }
    if (result != CURLE_OK && j->received) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the connection to the remote server at %s failed: %s",
             j->model, j->url, j->curl_err[0] ? j->curl_err : curl_easy_strerror(result));
        return;
    }
    if (result != CURLE_OK) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server at %s cannot be reached: %s%s",
             j->model, j->url, j->curl_err[0] ? j->curl_err : curl_easy_strerror(result),
             j->tries > 1 ? " (after retries)" : "");
        return;
    }
    if (!j->status)
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    if (j->status >= 400) {
        char msg[400];
        error_message(j->whole.data ? j->whole.data : "", j->whole.len, msg, sizeof msg);
        int code = j->status >= 500   ? ERR_BAD_GATEWAY
                   : j->status == 401 ? ERR_UNAUTHORIZED
                   : j->status == 403 ? ERR_FORBIDDEN
                   : j->status == 404 ? ERR_NOT_FOUND
                   : j->status == 413 ? ERR_TOO_LARGE
                   : j->status == 429 ? ERR_RATE_LIMITED
                                      : ERR_BAD_REQUEST;
        fail(j, code, "model '%s': the remote server answered %ld: %s", j->model, j->status, msg);
        return;
    }
    if (j->line.len) /* a last line without its newline */
        take_line(j, j->line.data, j->line.len);
    if (!j->sse && j->whole.len) { /* a whole JSON answer */
        json_t *o = json_loadb(j->whole.data, j->whole.len, 0, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server's answer is not JSON",
                 j->model);
            return;
        }
        usage(j, json_object_get(o, "usage"));
        if (j->kind == REMOTE_EMBED) {
            json_t *data = json_object_get(o, "data");
            size_t n = json_array_size(data);
            size_t dim = json_array_size(json_object_get(json_array_get(data, 0), "embedding"));
            if (!n || !dim || n > 1u << 16 || dim > 1u << 16) {
                json_decref(o);
                fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server sent no embeddings",
                     j->model);
                return;
            }
            struct proto_msg *m = push(j, PROTO_EMBEDDING);
            m->embeddings = xcalloc(n * dim, sizeof(float));
            m->n_embeddings = (uint32_t)n;
            m->embedding_dim = (uint32_t)dim;
            for (size_t i = 0; i < n; i++) {
                json_t *v = json_object_get(json_array_get(data, i), "embedding");
                for (size_t k = 0; k < dim; k++)
                    m->embeddings[i * dim + k] = (float)json_number_value(json_array_get(v, k));
            }
            m->stats.prompt_n = j->stats.prompt_n;
            m->stats.prompt_us = now_us() - j->t0;
            json_decref(o);
            j->ended = 1;
            return;
        }
        json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
        json_t *text = json_object_get(c0, "text");
        if (j->kind == REMOTE_CHAT)
            chat_piece(j, json_object_get(c0, "message"));
        else if (json_is_string(text))
            token(j, json_string_value(text), json_string_length(text));
        finish_reason(j, json_object_get(c0, "finish_reason"));
        json_decref(o);
    } else if (j->kind == REMOTE_EMBED || !j->sse) {
        fail(j, ERR_BAD_GATEWAY, "model '%s': the remote server sent an empty answer", j->model);
        return;
    }
    if (j->failed)
        return;
    if (j->kind == REMOTE_CHAT)
        chat_end(j);
    if (!j->stats.gen_n)
        j->stats.gen_n = j->n_chunks;
    int64_t t = now_us();
    j->stats.prompt_us = (j->t_first ? j->t_first : t) - j->t0;
    j->stats.gen_us = j->t_first ? t - j->t_first : 0;
    struct proto_msg *m = push(j, PROTO_DONE);
    m->stats = j->stats;
    j->ended = 1;
}

int remote_start(const struct native_req *req, struct remote_job **out, struct err *e)
{
    *out = NULL;
    const struct store_remote *r = req->remote;
    enum remote_kind kind;
    const char *path;
    if (req->kind == NATIVE_EMBED) {
        kind = REMOTE_EMBED;
        path = "/embeddings";
    } else if (req->kind != NATIVE_GENERATE) {
        return err_set(e, ERR_BAD_REQUEST,
                       "model '%s' is served by a remote server: tokenizing is not forwarded",
                       req->model);
    } else if (req->messages) {
        kind = REMOTE_CHAT;
        path = "/chat/completions";
    } else {
        kind = REMOTE_COMPLETION;
        path = "/completions";
    }
    if (req->n_prefix_tokens)
        return err_set(e, ERR_BAD_REQUEST,
                       "model '%s' is served by a remote server: token ids (a prompt of ids, "
                       "Ollama's context) cannot be forwarded",
                       req->model);
    const char *key = NULL;
    if (r->key_env) {
        key = getenv(r->key_env);
        if (!key || !*key)
            return err_set(e, ERR_BAD_MODEL,
                           "model '%s': its preset's remote-api-key-env names %s, which is not "
                           "set in the server's environment",
                           req->model, r->key_env);
    }
    pthread_once(&curl_once, curl_init_once);
    struct remote_job *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->parse = req->parse;
    snprintf(j->model, sizeof j->model, "%s", req->model);
    size_t ul = strlen(r->url) + strlen(path) + 1;
    j->url = xmalloc(ul);
    snprintf(j->url, ul, "%s%s", r->url, path);
    j->body = request_body(req, kind);
    buf_init(&j->line, REMOTE_MAX_LINE);
    buf_init(&j->whole, REMOTE_MAX_BODY);
    j->headers = curl_slist_append(NULL, "Content-Type: application/json");
    j->headers = curl_slist_append(j->headers, kind == REMOTE_EMBED ? "Accept: application/json"
                                                                    : "Accept: text/event-stream");
    if (key) {
        j->key = xstrdup(key);
        size_t hl = strlen(key) + 32;
        char *h = xmalloc(hl);
        snprintf(h, hl, "Authorization: Bearer %s", key);
        j->headers = curl_slist_append(j->headers, h);
        memset(h, 0, hl);
        free(h);
    }
    j->connect_timeout_s = r->connect_timeout_s;
    j->timeout_s = r->timeout_s;
    j->stats.stop_reason = PROTO_STOP_EOS;
    j->multi = curl_multi_init();
    j->t0 = now_us();
    int rc = j->multi && j->body && j->headers ? add_transfer(j) : ERR_INTERNAL;
    if (rc) {
        err_set(e, rc, "%s", j->err.msg[0] ? j->err.msg : "cannot start an HTTP transfer");
        remote_free(j);
        return rc;
    }
    log_debug("model=%s msg=\"forwarded\" url=%s", log_q(j->model), log_q(j->url));
    *out = j;
    return 0;
}

int remote_next(struct remote_job *j, struct proto_msg *ev, struct err *e)
{
    proto_msg_init(ev, 0);
    for (;;) {
        if (j->q_n) {
            *ev = j->q[j->q_head++];
            j->q_n--;
            return 0;
        }
        if (j->failed)
            return err_set(e, j->err.code, "%s", j->err.msg);
        if (j->ended)
            return err_set(e, ERR_INTERNAL, "the remote answer has ended");
        if (api->shutting_down)
            return err_set(e, ERR_UNAVAILABLE, "the server is shutting down");
        if (http_client_gone())
            return err_set(e, ERR_CANCELLED, "the client went away");
        if (j->retry_at_us) {
            int64_t wait = j->retry_at_us - now_us();
            if (wait > 0) {
                const int64_t step_us = (int64_t)REMOTE_STEP_MS * 1000;
                struct timespec ts = {0, (long)((wait > step_us ? step_us : wait) * 1000)};
                nanosleep(&ts, NULL);
                continue;
            }
            j->retry_at_us = 0;
            if (add_transfer(j))
                continue;
        }
        int running = 0;
        curl_multi_perform(j->multi, &running);
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(j->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                transfer_done(j, m->data.result);
        if (!j->q_n && !j->failed && !j->ended && !j->retry_at_us)
            curl_multi_poll(j->multi, NULL, 0, REMOTE_STEP_MS, NULL);
    }
}

void remote_free(struct remote_job *j)
{
    if (!j)
        return;
    if (j->easy) {
        curl_multi_remove_handle(j->multi, j->easy); /* ends the upstream request */
        curl_easy_cleanup(j->easy);
    }
    curl_multi_cleanup(j->multi);
    curl_slist_free_all(j->headers); /* libcurl's copy of the header is freed unwiped */
    if (j->key) {
        memset(j->key, 0, strlen(j->key));
        free(j->key);
    }
    for (size_t i = 0; i < j->q_n; i++)
        proto_msg_free(&j->q[j->q_head + i]);
    free(j->q);
    json_decref(j->calls);
    free(j->url);
    free(j->body);
    buf_free(&j->line);
    buf_free(&j->whole);
    free(j);
}
