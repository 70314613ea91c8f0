/* The one implementation of generation behind every API: a native request is sent to its
 * model's worker and its events come back, whatever wire format the client speaks. */
#include "api/api.h"
#include "api/remote.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/client.h"

#include <stdlib.h>
#include <string.h>

struct api_ctx *api;

struct native_job {
    struct runner *runner;
    struct worker_mux *mux;
    struct mux_chan *chan;
    uint64_t id;
    char model[STORE_MAX_NAME + 16];
    int64_t t0;
    int64_t load_us;
    int64_t keep_alive_ms;
    int finished; /* DONE, EMBEDDING or ERROR received, or the worker died */
    int first_seen;
    int cancelled;
    int64_t t_gone_check;      /* when the client's connection was last looked at */
    struct remote_job *remote; /* a remote model's request: no runner, no worker */
};

static uint64_t next_id(void)
{
    static uint64_t counter;
    return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

void native_req_init(struct native_req *r, enum native_kind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    gen_params_init(&r->gen);
    load_params_init(&r->load);
    r->keep_alive_ms = SCHED_KEEP_DEFAULT;
    r->think = -1;
    r->parallel_tool_calls = 1;
}

void native_req_free(struct native_req *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->model_template);
    free(r->model_system);
    free(r->model_messages);
    free(r->tool_format);
    json_decref(r->tools);
    json_decref(r->kwargs);
    json_decref(r->messages);
    store_remote_free(r->remote);
    free(r->prompt);
    free(r->suffix);
    free(r->prefix_tokens);
    gen_params_free(&r->gen);
    load_params_free(&r->load);
    strlist_free(&r->inputs);
    memset(r, 0, sizeof *r);
}

int native_resolve(struct native_req *req, struct err *e)
{
    struct store_model m;
    int rc = req->allow_path ? store_find_local(api->store, req->model, &m, e)
                             : store_find(api->store, req->model, &m, e);
    if (rc)
        return rc;
    snprintf(req->model, sizeof req->model, "%s", m.name);
    settings_apply(req, &m);
    free(req->path);
    req->path = m.path;
    m.path = NULL;
    free(req->model_template);
    free(req->model_system);
    free(req->model_messages);
    req->model_template = m.template_text;
    req->model_template_is_go = m.template_is_go;
    req->model_system = m.system;
    req->model_messages = m.messages_json;
    free(req->tool_format);
    req->tool_format = m.tool_format;
    m.template_text = m.system = m.messages_json = m.tool_format = NULL;
    store_remote_free(req->remote);
    req->remote = m.remote;
    m.remote = NULL;
    if (req->remote) {
        /* What a remote gets: the parameters the request or a preset set, not hearth's
         * defaults, which would override the remote's own. */
        int n;
        params_table(&n);
        enum preset_origin *origin = xcalloc((size_t)n, sizeof *origin);
        struct gen_params gen;
        struct load_params load;
        settings_layers(&m, &gen, &load, origin);
        req->remote_set = 0;
        for (int i = 0; i < n && i < 64; i++)
            if (origin[i] >= PRESET_ORIGIN_GLOBAL)
                req->remote_set |= (uint64_t)1 << i;
        gen_params_free(&gen);
        load_params_free(&load);
        free(origin);
    }
    store_model_free(&m);
    return 0;
}

int native_start(struct native_req *req, struct native_job **out, struct err *e)
{
    if (api_shutting_down(api))
        return err_set(e, ERR_UNAVAILABLE, "the server is shutting down");
    /* A grammar from any source (a request field, a schema, a preset) is checked before a
     * model is loaded for it: libllama's parser crashes on some hostile grammars. */
    if (req->kind == NATIVE_GENERATE) {
        int grc = api_check_grammar(req->gen.grammar, e);
        if (grc)
            return grc;
    }
    struct native_job *j = xcalloc(1, sizeof *j);
    j->t0 = now_us();
    j->keep_alive_ms = req->keep_alive_ms;
    snprintf(j->model, sizeof j->model, "%s", req->model);
    if (req->remote) { /* nothing to load: the scheduler never sees it */
        int rrc = remote_start(req, &j->remote, e);
        if (rrc) {
            free(j);
            return rrc;
        }
        *out = j;
        return 0;
    }
    if (req->load.num_parallel == 0)
        req->load.num_parallel = api->num_parallel;
    int rc =
        sched_acquire(api->sched, req->model, req->path, &req->load, &j->runner, &j->load_us, e);
    if (rc) {
        free(j);
        return rc;
    }
    snprintf(j->model, sizeof j->model, "%s", req->model);
    j->mux = runner_mux(j->runner);
    j->id = next_id();
    j->chan = mux_open(j->mux, j->id);
    struct proto_msg m;
    static const enum proto_type types[] = {PROTO_GENERATE, PROTO_EMBED, PROTO_TOKENIZE,
                                            PROTO_DETOKENIZE};
    proto_msg_init(&m, types[req->kind]);
    m.id = j->id;
    m.flags = req->flags;
    if (req->kind == NATIVE_EMBED) {
        m.inputs = req->inputs;
        m.dimensions = req->dimensions;
    } else if (req->kind == NATIVE_TOKENIZE) {
        m.prompt = req->prompt ? req->prompt : (char *)"";
    } else if (req->kind == NATIVE_DETOKENIZE) {
        m.prefix_tokens = req->prefix_tokens;
        m.n_prefix_tokens = req->n_prefix_tokens;
    } else {
        m.prompt = req->prompt ? req->prompt : (char *)"";
        m.suffix = req->suffix;
        m.prefix_tokens = req->prefix_tokens;
        m.n_prefix_tokens = req->n_prefix_tokens;
        m.top_logprobs = req->top_logprobs;
        m.gen = req->gen;
    }
    rc = mux_send(j->mux, &m, e);
    if (rc) {
        if (runner_mark_dead(api->sched, j->runner))
            metrics_worker_restart();
        mux_close(j->mux, j->chan);
        sched_release(api->sched, j->runner, j->keep_alive_ms);
        free(j);
        return rc;
    }
    *out = j;
    return 0;
}

int native_next(struct native_job *j, struct proto_msg *ev, struct err *e)
{
    proto_msg_init(ev, 0);
    if (j->finished)
        return err_set(e, ERR_INTERNAL, "the job has ended");
    if (j->remote) {
        int rc = remote_next(j->remote, ev, e);
        if (rc || ev->type == PROTO_DONE || ev->type == PROTO_EMBEDDING)
            j->finished = 1;
        if (!rc && ev->type == PROTO_TOKEN && !j->first_seen) {
            j->first_seen = 1;
            metrics_first_token((double)(now_us() - j->t0) / 1e6);
        }
        if (!rc && (ev->type == PROTO_DONE || ev->type == PROTO_EMBEDDING))
            metrics_generation(&ev->stats);
        return rc;
    }
    for (;;) {
        if (api_shutting_down(api) && !j->cancelled)
            native_cancel(j);
        /* A client that hung up while its answer is computed whole (nothing is written to it
         * until the end) is seen here: the worker stops and frees the slot. Streams see it when
         * a write fails. Looked at every 50 ms at most: it costs a system call. */
        if (!j->cancelled && now_us() - j->t_gone_check >= 50000) {
            j->t_gone_check = now_us();
            if (http_client_gone()) {
                log_info("msg=\"client hung up: generation cancelled\" model=%s", log_q(j->model));
                native_cancel(j);
            }
        }
        int rc = mux_recv(j->mux, j->chan, ev, 100, e);
        if (rc == 1) {
            /* Nothing yet: look at shutting_down, the client and a worker that went quiet again. */
            runner_check_stall(api->sched, j->runner);
            continue;
        }
        if (rc) {
            j->finished = 1;
            /* Every request on the worker sees its death; the first counts and logs it. */
            if (runner_check_stall(api->sched, j->runner))
                err_set(e, ERR_WORKER_DIED,
                        "the model runner stalled (it sent nothing for HEARTH_STALL_TIMEOUT) "
                        "and was killed");
            if (runner_mark_dead(api->sched, j->runner)) {
                metrics_worker_restart();
                log_error("msg=\"model runner crashed\" model=%s err=%s", log_q(j->model),
                          log_q(e->msg));
            }
            return rc == ERR_PROTOCOL ? rc : ERR_WORKER_DIED;
        }
        if (ev->type == PROTO_ERROR) {
            j->finished = 1;
            rc = err_set(e, ev->code ? ev->code : ERR_INTERNAL, "%s",
                         ev->message ? ev->message : "generation failed");
            proto_msg_free(ev);
            return rc;
        }
        if (ev->type == PROTO_TOKEN && !j->first_seen) {
            j->first_seen = 1;
            metrics_first_token((double)(now_us() - j->t0) / 1e6);
        }
        if (ev->type == PROTO_DONE)
            metrics_generation(&ev->stats);
        if (ev->type == PROTO_EMBEDDING)
            metrics_generation(&ev->stats);
        if (ev->type == PROTO_DONE || ev->type == PROTO_EMBEDDING || ev->type == PROTO_TOKENIZED ||
            ev->type == PROTO_DETOKENIZED)
            j->finished = 1;
        if (ev->type == PROTO_DONE && ev->stats.stop_reason == PROTO_STOP_CANCELLED &&
            api_shutting_down(api)) {
            proto_msg_free(ev);
            return err_set(e, ERR_UNAVAILABLE, "the server is shutting down");
        }
        return 0;
    }
}

int native_call(struct native_req *req, struct proto_msg *answer, int64_t *load_us, struct err *e)
{
    struct native_job *j = NULL;
    proto_msg_init(answer, 0);
    int rc = native_start(req, &j, e);
    if (rc || !j)
        return rc ? rc : ERR_INTERNAL;
    rc = native_next(j, answer, e);
    *load_us = j->load_us;
    native_finish(j);
    return rc;
}

void native_cancel(struct native_job *j)
{
    if (!j || j->finished || j->cancelled)
        return;
    j->cancelled = 1;
    if (j->remote) { /* the upstream request ends in native_finish */
        j->finished = 1;
        return;
    }
    struct proto_msg c;
    proto_msg_init(&c, PROTO_CANCEL);
    c.id = j->id;
    if (mux_send(j->mux, &c, NULL))
        runner_mark_dead(api->sched, j->runner);
}

void native_finish(struct native_job *j)
{
    if (!j)
        return;
    if (j->remote) {
        remote_free(j->remote);
        free(j);
        return;
    }
    if (!j->finished) {
        native_cancel(j);
        /* Drain to the end of this request so the worker is free for the next one. */
        while (!j->finished) {
            struct proto_msg ev;
            struct err e = {0};
            int rc = native_next(j, &ev, &e);
            proto_msg_free(&ev);
            if (rc)
                break;
        }
    }
    mux_close(j->mux, j->chan);
    sched_release(api->sched, j->runner, j->keep_alive_ms);
    free(j);
}

int64_t native_load_us(const struct native_job *j)
{
    return j->load_us;
}

int64_t native_start_us(const struct native_job *j)
{
    return j->t0;
}

const struct model_info *native_info(const struct native_job *j)
{
    static const struct model_info none;
    return j->remote ? &none : runner_info(j->runner);
}

int native_load_only(struct native_req *req, int *unloaded, int64_t *load_us, struct err *e)
{
    *unloaded = 0;
    *load_us = 0;
    if (req->remote) { /* a remote model is always there: nothing to load or unload */
        *unloaded = req->keep_alive_ms == 0;
        return 0;
    }
    if (req->keep_alive_ms == 0) {
        sched_unload(api->sched, req->model);
        *unloaded = 1;
        return 0;
    }
    struct runner *r;
    if (req->load.num_parallel == 0)
        req->load.num_parallel = api->num_parallel;
    int rc = sched_acquire(api->sched, req->model, req->path, &req->load, &r, load_us, e);
    if (rc)
        return rc;
    sched_release(api->sched, r, req->keep_alive_ms);
    return 0;
}

int native_slots(const char *model, struct proto_msg *answer, struct err *e)
{
    proto_msg_init(answer, 0);
    struct runner *r;
    if (sched_pin(api->sched, model, &r))
        return err_set(e, ERR_NOT_FOUND, "model '%s' is not loaded", model);
    struct worker_mux *mux = runner_mux(r);
    struct proto_msg m;
    proto_msg_init(&m, PROTO_SLOTS);
    m.id = next_id();
    struct mux_chan *c = mux_open(mux, m.id);
    int rc = mux_send(mux, &m, e);
    /* The worker answers between two decode steps; a step of a long prompt on a slow machine
     * takes seconds. */
    for (int waited = 0; !rc; waited += 200) {
        rc = mux_recv(mux, c, answer, 200, e);
        if (rc == 1 && waited >= 30000)
            rc = err_set(e, ERR_UNAVAILABLE, "the worker of '%s' did not answer", model);
        else if (rc == 1)
            rc = 0;
        else if (!rc && answer->type != PROTO_SLOTS_INFO)
            rc = err_set(e, ERR_PROTOCOL, "the worker answered SLOTS with type %d", answer->type);
        else
            break;
    }
    mux_close(mux, c);
    sched_unpin(api->sched, r);
    return rc;
}
