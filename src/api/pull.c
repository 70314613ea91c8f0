/* Pull routes: Ollama's POST /api/pull (NDJSON progress) and llama-server's router POST /models
 * (starts a download, answers {"success":true}).
 *
 * A pull runs on its own thread (store/pull.h) and queues its progress lines; the HTTP stream
 * hands them out. The handler waits until the pull has read its manifest (or failed) before it
 * answers, so a model that does not exist, a bad manifest or a refused realm is a proper HTTP
 * status rather than an error line in a 200 stream. A client that goes away cancels the pull;
 * the partial files stay for a resume.
 */
#include "store/pull.h"
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "store/layout.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PULLS      8          /* pulls running at once */
#define MAX_QUEUED     (1u << 20) /* progress bytes waiting for a slow client */
#define PROGRESS_EVERY 100000     /* us between two progress lines of one file */
#define HEARTBEAT_MS   1000       /* a line at least this often, so a gone client is noticed */

static int n_pulls;

struct pull_job {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char name[LAYOUT_MAX_PATH];
    struct pull_options opts;
    volatile int cancel;
    struct buf out; /* NDJSON lines not yet sent */
    size_t out_pos;
    char last_line[512]; /* the latest progress line, repeated as a heartbeat */
    char last_status[64];
    int64_t last_emit_us;
    int planned;  /* the manifest is read: a file is being fetched */
    int finished; /* pull_model returned */
    int detached; /* POST /models: nobody reads; the thread frees the job */
    int rc;
    struct err e;
};

static void job_free(struct pull_job *j)
{
    buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
    __atomic_sub_fetch(&n_pulls, 1, __ATOMIC_RELAXED);
}

/* Queues a line (the caller holds mu). Progress lines are dropped when a slow client lets the
 * queue fill; the others always go. */
static void queue_line(struct pull_job *j, json_t *o, int droppable)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!droppable || j->out.len - j->out_pos < MAX_QUEUED) {
        if (j->out_pos == j->out.len) {
            buf_reset(&j->out);
            j->out_pos = 0;
        }
        buf_puts(&j->out, s);
        buf_puts(&j->out, "\n");
    }
    snprintf(j->last_line, sizeof j->last_line, "%s\n", s);
    free(s);
    pthread_cond_broadcast(&j->cv);
}

static void on_event(void *ud, const struct pull_event *ev)
{
    struct pull_job *j = ud;
    if (api_shutting_down(api))
        j->cancel = 1;
    pthread_mutex_lock(&j->mu);
    int64_t t = now_us();
    int same = !strcmp(j->last_status, ev->status);
    if (ev->digest && same && ev->completed < ev->total && t - j->last_emit_us < PROGRESS_EVERY) {
        pthread_mutex_unlock(&j->mu);
        return;
    }
    json_t *o = json_pack("{s:s}", "status", ev->status);
    if (ev->digest) {
        json_object_set_new(o, "digest", json_string(ev->digest));
        json_object_set_new(o, "total", json_integer((json_int_t)ev->total));
        json_object_set_new(o, "completed", json_integer((json_int_t)ev->completed));
        j->planned = 1;
    }
    if (!j->detached)
        queue_line(j, o, ev->digest != NULL);
    else if (ev->digest && !same)
        log_info("msg=\"pulling\" model=%s digest=%s total=%llu", log_q(j->name), ev->digest,
                 (unsigned long long)ev->total);
    json_decref(o);
    snprintf(j->last_status, sizeof j->last_status, "%s", ev->status);
    j->last_emit_us = t;
    pthread_mutex_unlock(&j->mu);
}

static void *pull_thread(void *arg)
{
    struct pull_job *j = arg;
    struct err e = {0};
    int rc = pull_model(j->name, &j->opts, on_event, j, &j->cancel, &e);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->e = e;
    j->finished = 1;
    if (rc && !j->detached) {
        json_t *o = json_pack("{s:s}", "error", e.msg);
        queue_line(j, o, 0);
        json_decref(o);
    }
    int detached = j->detached;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (detached)
        job_free(j);
    return NULL;
}

/* Starts a pull of name; waits until it has a plan or has failed. NULL with the error answered
 * through error_fn when it could not start. */
static struct pull_job *job_start(const char *name, int insecure, int detached,
                                  struct http_reply *rep, api_error_fn error_fn)
{
    struct model_ref r;
    struct err e = {0};
    if (model_ref_parse(name, &r, &e)) {
        error_fn(rep, ERR_BAD_REQUEST, e.msg);
        return NULL;
    }
    if (r.kind == REF_PATH) {
        error_fn(rep, ERR_BAD_REQUEST, "a path cannot be pulled: name a registry model");
        return NULL;
    }
    if (__atomic_add_fetch(&n_pulls, 1, __ATOMIC_RELAXED) > MAX_PULLS) {
        __atomic_sub_fetch(&n_pulls, 1, __ATOMIC_RELAXED);
        error_fn(rep, ERR_UNAVAILABLE, "too many pulls at once; try again when one has ended");
        return NULL;
    }
    struct pull_job *j = xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    buf_init(&j->out, (size_t)2 * MAX_QUEUED);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->opts.insecure = insecure;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pthread_create(&j->th, &attr, pull_thread, j)) {
        pthread_attr_destroy(&attr);
        job_free(j);
        error_fn(rep, ERR_UNAVAILABLE, "cannot start a thread for the pull");
        return NULL;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&j->mu);
    while (!j->planned && !j->finished)
        pthread_cond_wait(&j->cv, &j->mu);
    int failed = j->finished && j->rc;
    if (!failed && detached) {
        j->detached = 1;
        pthread_detach(j->th);
    }
    pthread_mutex_unlock(&j->mu);
    if (failed) {
        pthread_join(j->th, NULL);
        error_fn(rep, j->rc, j->e.msg);
        job_free(j);
        return NULL;
    }
    return j;
}

static size_t stream_next(void *ctx, char *buf, size_t max)
{
    struct pull_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    size_t n = 0;
    while (j->out_pos >= j->out.len && !j->finished) {
        if (api_shutting_down(api))
            j->cancel = 1;
        struct timespec ts;
        deadline_after_ms(&ts, HEARTBEAT_MS);
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) && j->out_pos >= j->out.len &&
            !j->finished && j->last_line[0]) {
            /* Nothing new (a slow or stalled file): say the last thing again, which also finds
             * out whether the client is still there. */
            buf_puts(&j->out, j->last_line);
        }
    }
    if (j->out_pos < j->out.len) {
        n = j->out.len - j->out_pos;
        if (n > max)
            n = max;
        memcpy(buf, j->out.data + j->out_pos, n);
        j->out_pos += n;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

static void stream_free(void *ctx)
{
    struct pull_job *j = ctx;
    j->cancel = 1; /* the client went away, or the stream ended: either way we are done */
    pthread_join(j->th, NULL);
    if (j->rc == ERR_CANCELLED)
        log_info("msg=\"pull cancelled: the partial files are kept for a resume\" model=%s",
                 log_q(j->name));
    job_free(j);
}

static void handle_pull(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    const char *model = NULL, *name = NULL;
    int stream = 1, insecure = 0;
    struct err e = {0};
    if (api_get_str(body, "model", &model, &e) || api_get_str(body, "name", &name, &e) ||
        api_get_bool(body, "stream", &stream, &e) ||
        api_get_bool(body, "insecure", &insecure, &e)) {
        api_error(rep, ERR_BAD_REQUEST, e.msg);
        goto out;
    }
    if (!model || !*model)
        model = name;
    if (!model || !*model) {
        api_error(rep, ERR_BAD_REQUEST, "missing field 'model'");
        goto out;
    }
    snprintf(rep->model, sizeof rep->model, "%s", model);
    struct pull_job *j = job_start(model, insecure, 0, rep, api_error);
    if (!j)
        goto out;
    if (stream) {
        rep->status = 200;
        rep->content_type = "application/x-ndjson";
        rep->stream = (struct http_stream){stream_next, stream_free, j};
        goto out;
    }
    pthread_join(j->th, NULL);
    if (j->rc)
        api_error(rep, j->rc, j->e.msg);
    else
        api_reply(rep, 200, json_pack("{s:s}", "status", "success"));
    job_free(j);
out:
    json_decref(body);
}

/* POST /models {"model": NAME}: llama-server's router checks the name against the hub, then
 * downloads in the background and answers {"success": true} at once. */
static void handle_router_models(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, llama_error);
    if (!body)
        return;
    const char *model = NULL;
    struct err e = {0};
    if (api_get_str(body, "model", &model, &e))
        llama_error(rep, ERR_BAD_REQUEST, e.msg);
    else if (!model || !*model)
        llama_error(rep, ERR_BAD_REQUEST, "model must be a non-empty string");
    else if (job_start(model, 0, 1, rep, llama_error))
        api_reply(rep, 200, json_pack("{s:b}", "success", 1));
    json_decref(body);
}

static const struct http_route routes[] = {
    {"POST", "/api/pull", handle_pull},
    {"POST", "/models", handle_router_models},
};

void pull_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
