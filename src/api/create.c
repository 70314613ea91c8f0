/* Ollama's POST /api/create: the current JSON form (model, from, files, adapters, template,
 * system, license, parameters, messages, quantize, stream) and the legacy `modelfile` text,
 * both turned into a struct modelfile and handed to create_model (store/create.h).
 *
 * The network API never reads a file the request names on the server (CVE-2024-39721): FROM is
 * a model name or the digest of a blob uploaded with /api/blobs, and `path` is refused. The
 * model is written as a preset section and, since Ollama's clients list models from Ollama's
 * store, as an Ollama manifest too.
 *
 * Mistakes found before anything is written are answered with 400/404; once the stream has
 * started, a failure ends it with an {"error"} line, as Ollama does. */
#include "store/create.h"
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "store/layout.h"
#include "store/modelfile.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CREATE_MAX_FILES    64
#define CREATE_MAX_LICENSES 64

static int set_text(char **slot, json_t *body, const char *key, struct err *e)
{
    const char *v = NULL;
    if (api_get_str(body, key, &v, e))
        return ERR_BAD_REQUEST;
    if (!v)
        return 0;
    if (strlen(v) > MODELFILE_MAX_VALUE)
        return err_set(e, ERR_TOO_LARGE, "field '%s' is longer than %u bytes", key,
                       MODELFILE_MAX_VALUE);
    free(*slot);
    *slot = xstrdup(v);
    return 0;
}

/* A {name: digest} object: checks every digest; *gguf gets the one .gguf entry's digest when
 * want_gguf, else the single entry's. */
static int digest_map(json_t *body, const char *key, int want_gguf, const char **out, struct err *e)
{
    json_t *m = json_object_get(body, key);
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return err_set(e, ERR_BAD_REQUEST, "field '%s' must be an object of file names to digests",
                       key);
    if (json_object_size(m) > CREATE_MAX_FILES)
        return err_set(e, ERR_TOO_LARGE, "field '%s' has more than %d files", key,
                       CREATE_MAX_FILES);
    const char *name, *found = NULL;
    json_t *v;
    int n = 0;
    json_object_foreach(m, name, v)
    {
        const char *d = json_string_value(v);
        if (!d || strncmp(d, "sha256:", 7) != 0 || !layout_digest_valid(d))
            return err_set(e, ERR_BAD_REQUEST,
                           "%s.%s: invalid digest (expected sha256: and 64 lowercase hex digits)",
                           key, name);
        size_t nl = strlen(name);
        if (!want_gguf || (nl > 5 && !strcasecmp(name + nl - 5, ".gguf"))) {
            found = d;
            n++;
        }
    }
    if (want_gguf && n == 0 && json_object_size(m))
        return err_set(e, ERR_BAD_REQUEST,
                       "%s: no .gguf file (hearth creates models from GGUF files only; "
                       "safetensors are not supported)",
                       key);
    if (n > 1)
        return err_set(e, ERR_BAD_REQUEST, "%s: more than one %s (hearth takes one file here)", key,
                       want_gguf ? ".gguf file" : "adapter");
    if (found)
        *out = found;
    return 0;
}

/* A parameter value from JSON as the params table's text. */
static int param_text(json_t *v, char *out, size_t len)
{
    if (json_is_string(v))
        snprintf(out, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    return 0;
}

static int add_parameters(json_t *body, struct modelfile *mf, struct err *e)
{
    json_t *p = json_object_get(body, "parameters");
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_object(p))
        return err_set(e, ERR_BAD_REQUEST, "field 'parameters' must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(p, key, v)
    {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (n > PARAMS_MAX_STOPS)
            return err_set(e, ERR_TOO_LARGE, "parameters.%s: more than %d values", key,
                           PARAMS_MAX_STOPS);
        for (size_t i = 0; i < n; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            char text[PARAMS_MAX_STR_LEN + 1];
            struct err pe = {0};
            if (strlen(json_is_string(item) ? json_string_value(item) : "") > PARAMS_MAX_STR_LEN)
                return err_set(e, ERR_TOO_LARGE, "parameters.%s: the value is too long", key);
            if (param_text(item, text, sizeof text))
                return err_set(e, ERR_BAD_REQUEST,
                               "parameters.%s: must be a number, a string, a boolean or a list "
                               "of them",
                               key);
            int rc = modelfile_add_param(&mf->params, key, text, &pe);
            if (rc)
                return err_set(e, rc, "parameters.%s: %s", key, pe.msg);
        }
    }
    return 0;
}

static int add_messages(json_t *body, struct modelfile *mf, struct err *e)
{
    json_t *m = json_object_get(body, "messages");
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_array(m))
        return err_set(e, ERR_BAD_REQUEST, "field 'messages' must be an array");
    if (json_array_size(m) > MODELFILE_MAX_MESSAGES)
        return err_set(e, ERR_TOO_LARGE, "more than %d messages", MODELFILE_MAX_MESSAGES);
    for (int i = 0; i < mf->n_messages; i++)
        free(mf->messages[i].content);
    free(mf->messages);
    mf->messages = NULL;
    mf->n_messages = 0;
    size_t i;
    json_t *it;
    json_array_foreach(m, i, it)
    {
        const char *role = json_string_value(json_object_get(it, "role"));
        const char *content = json_string_value(json_object_get(it, "content"));
        if (!modelfile_role_valid(role))
            return err_set(e, ERR_BAD_REQUEST,
                           "messages[%zu].role must be system, user or assistant", i);
        if (!content)
            return err_set(e, ERR_BAD_REQUEST, "messages[%zu].content must be a string", i);
        if (strlen(content) > MODELFILE_MAX_VALUE)
            return err_set(e, ERR_TOO_LARGE, "messages[%zu].content is too long", i);
        mf->messages = xrealloc(mf->messages, (i + 1) * sizeof *mf->messages);
        snprintf(mf->messages[i].role, sizeof mf->messages[i].role, "%.15s", role);
        mf->messages[i].content = xstrdup(content);
        mf->n_messages = (int)i + 1;
    }
    return 0;
}

static int add_license(json_t *body, struct modelfile *mf, struct err *e)
{
    json_t *l = json_object_get(body, "license");
    if (!l || json_is_null(l))
        return 0;
    size_t n = json_is_array(l) ? json_array_size(l) : 1;
    if (n > CREATE_MAX_LICENSES)
        return err_set(e, ERR_TOO_LARGE, "more than %d licenses", CREATE_MAX_LICENSES);
    strlist_free(&mf->licenses);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_is_array(l) ? json_array_get(l, i) : l;
        const char *t = json_string_value(it);
        if (!t)
            return err_set(e, ERR_BAD_REQUEST,
                           "field 'license' must be a string or a list of strings");
        if (strlen(t) > MODELFILE_MAX_VALUE)
            return err_set(e, ERR_TOO_LARGE, "a license is longer than %u bytes",
                           MODELFILE_MAX_VALUE);
        strlist_add(&mf->licenses, t);
    }
    return 0;
}

/* Turns the request into mf; *name and *quant point into body. */
static int parse_request(json_t *body, struct modelfile *mf, const char **name, const char **quant,
                         int *stream, struct err *e)
{
    static const char *const unsupported[] = {"renderer", "parser", "draft_files",
                                              "draft_quantize"};
    const char *text = NULL, *from = NULL, *gguf = NULL, *adapter = NULL, *requires = NULL;
    if (json_object_get(body, "path"))
        return err_set(e, ERR_BAD_REQUEST,
                       "field 'path' is not accepted: the server reads no file a request names "
                       "(send the Modelfile's text as 'modelfile', or use 'from' and 'files')");
    for (size_t i = 0; i < ARRAY_LEN(unsupported); i++) {
        json_t *v = json_object_get(body, unsupported[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v)) &&
            !(json_is_object(v) && !json_object_size(v)))
            return err_set(e, ERR_BAD_REQUEST, "field '%s' is not supported by hearth",
                           unsupported[i]);
    }
    if (api_get_str(body, "model", name, e) || (!*name && api_get_str(body, "name", name, e)) ||
        api_get_str(body, "modelfile", &text, e) || api_get_str(body, "from", &from, e) ||
        api_get_str(body, "quantize", quant, e) || api_get_str(body, "requires", &requires, e) ||
        api_get_bool(body, "stream", stream, e))
        return ERR_BAD_REQUEST;
    if (!*name || !**name)
        return err_set(e, ERR_BAD_REQUEST, "field 'model' is required");
    if (*quant && !**quant)
        *quant = NULL;
    if (text) {
        struct err pe = {0};
        int rc = modelfile_parse(text, strlen(text), mf, &pe);
        if (rc && !(strstr(pe.msg, "no FROM line") && (from || json_object_get(body, "files"))))
            return err_set(e, rc, "modelfile: %s", pe.msg);
    }
    int rc = digest_map(body, "files", 1, &gguf, e);
    if (!rc)
        rc = digest_map(body, "adapters", 0, &adapter, e);
    if (!rc)
        rc = set_text(&mf->template_text, body, "template", e);
    if (!rc)
        rc = set_text(&mf->system, body, "system", e);
    if (!rc)
        rc = add_license(body, mf, e);
    if (!rc)
        rc = add_parameters(body, mf, e);
    if (!rc)
        rc = add_messages(body, mf, e);
    if (rc)
        return rc;
    if (json_object_get(body, "template"))
        mf->template_is_go = modelfile_template_is_go(mf->template_text);
    if (gguf || from) {
        free(mf->from);
        mf->from = xstrdup(gguf ? gguf : from);
    }
    if (adapter) {
        free(mf->adapter);
        mf->adapter = xstrdup(adapter);
    }
    if (requires) {
        free(mf->requires);
        mf->requires = xstrdup(requires);
    }
    if (!mf->from)
        return err_set(e, ERR_BAD_REQUEST,
                       "field 'from' (a model name) or 'files' (uploaded blobs) is required");
    return 0;
}

/* ---- the streamed reply ---- */

struct create_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct buf out; /* NDJSON not yet sent */
    int done;
    volatile int cancel;
    pthread_t thread;
    struct modelfile mf;
    char name[STORE_MAX_NAME + 16];
    char quant[32];
    int64_t last_us; /* of the last progress line, to send at most ~10 a second */
    char last_status[160];
};

static void job_line(struct create_job *j, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    pthread_mutex_lock(&j->mu);
    if (buf_puts(&j->out, s) || buf_puts(&j->out, "\n"))
        log_warn("msg=\"create status dropped: the client is not reading\"");
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(s);
}

static void job_progress(void *ctx, const char *status, int64_t total, int64_t done)
{
    struct create_job *j = ctx;
    int64_t now = now_us();
    int same = !strcmp(status, j->last_status);
    if (same && total > 0 && done < total && now - j->last_us < 100000)
        return;
    j->last_us = now;
    snprintf(j->last_status, sizeof j->last_status, "%s", status);
    json_t *o = json_pack("{s:s}", "status", status);
    if (total > 0) {
        json_object_set_new(o, "total", json_integer(total));
        json_object_set_new(o, "completed", json_integer(done));
    }
    job_line(j, o);
}

static void *job_run(void *arg)
{
    struct create_job *j = arg;
    struct create_opts o = {.name = j->name,
                            .quantize = j->quant[0] ? j->quant : NULL,
                            .ollama = 1,
                            .progress = job_progress,
                            .progress_ctx = j,
                            .cancel = &j->cancel};
    struct err e = {0};
    int rc = create_model(api->store, &j->mf, &o, &e);
    if (rc)
        log_warn("msg=\"create failed\" model=%s err=%s", log_q(j->name), log_q(e.msg));
    job_line(j, rc ? json_pack("{s:s}", "error", e.msg) : json_pack("{s:s}", "status", "success"));
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static size_t job_next(void *ctx, char *buf, size_t max)
{
    struct create_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    while (!j->out.len && !j->done) {
        struct timespec ts;
        deadline_after_ms(&ts, 200);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (api_shutting_down(api))
            j->cancel = 1; /* stops a quantize; the rest of a create is short */
    }
    size_t n = j->out.len < max ? j->out.len : max;
    memcpy(buf, j->out.data, n);
    buf_consume(&j->out, n);
    pthread_mutex_unlock(&j->mu);
    return n;
}

static void job_free(void *ctx)
{
    struct create_job *j = ctx;
    j->cancel = 1; /* a client that goes away stops a quantize */
    pthread_join(j->thread, NULL);
    modelfile_free(&j->mf);
    buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void handle_create(const struct http_request *req, struct http_reply *rep)
{
    json_t *body = api_parse_body(req, rep, api_error);
    if (!body)
        return;
    struct modelfile mf = {0};
    const char *name = NULL, *quant = NULL;
    int stream = 1;
    struct err e = {0};
    int rc = parse_request(body, &mf, &name, &quant, &stream, &e);
    struct create_opts o = {.name = name, .quantize = quant, .ollama = 1};
    if (!rc)
        rc = create_check(api->store, &mf, &o, &e);
    if (rc) {
        api_error(rep, rc, e.msg);
        goto out;
    }
    snprintf(rep->model, sizeof rep->model, "%s", name);
    if (!stream) {
        if (create_model(api->store, &mf, &o, &e))
            api_error(rep, e.code, e.msg);
        else
            api_reply(rep, 200, json_pack("{s:s}", "status", "success"));
        goto out;
    }
    struct create_job *j = xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    buf_init(&j->out, 16u << 20);
    j->mf = mf;
    memset(&mf, 0, sizeof mf);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->quant, sizeof j->quant, "%s", quant ? quant : "");
    job_progress(j, "parsing modelfile", 0, 0);
    if (pthread_create(&j->thread, NULL, job_run, j)) {
        modelfile_free(&j->mf);
        buf_free(&j->out);
        free(j);
        api_error(rep, ERR_UNAVAILABLE, "cannot start a thread");
        goto out;
    }
    rep->status = 200;
    rep->content_type = "application/x-ndjson";
    rep->stream = (struct http_stream){job_next, job_free, j};
out:
    modelfile_free(&mf);
    json_decref(body);
}

static const struct http_route routes[] = {
    {"POST", "/api/create", handle_create},
};

void create_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
