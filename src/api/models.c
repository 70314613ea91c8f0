/* llama-server's router routes: GET /models and GET /v1/models list every model the store knows
 * with its state, POST /models/load loads one and POST /models/unload unloads one. POST /models
 * (a download) lives in pull.c.
 *
 * The list is OpenAI's (object "list", data [{id, object, created, owned_by}]) with the router's
 * `status` object on each entry, as llama-server in router mode answers both routes. A model
 * whose last load failed or whose worker crashed is {"value": "unloaded", "failed": true}, as
 * llama-server writes it, with hearth's `error` saying why.
 */
#include "api/api.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* The scheduler knows at most this many models at once in a listing. */
#define MODELS_MAX_STATUS 256

static const struct sched_status *status_of(const struct sched_status *st, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].name, name))
            return &st[i];
    return NULL;
}

static json_t *status_json(const struct sched_status *st)
{
    json_t *o = json_object();
    enum sched_state state = st ? st->state : SCHED_UNLOADED;
    int failed = state == SCHED_FAILED;
    json_object_set_new(o, "value", json_string(sched_state_name(failed ? SCHED_UNLOADED : state)));
    if (failed) {
        json_object_set_new(o, "failed", json_true());
        /* The same words as the load's error reply: no server folder in them. */
        char *msg = api_redact(st->error[0] ? st->error : "load failed");
        json_object_set_new(o, "error", json_string(msg));
        free(msg);
    }
    return o;
}

/* One entry; st is the scheduler's view of it (NULL: never loaded). */
static json_t *model_json(const char *name, time_t created, const struct sched_status *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(name));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer((json_int_t)created));
    json_object_set_new(o, "owned_by", json_string("hearth"));
    json_object_set_new(o, "status", status_json(st));
    if (st && st->state == SCHED_LOADED) {
        /* What llama-server forwards from the loaded instance's own /v1/models. */
        const struct model_info *in = &st->info;
        json_t *meta = json_object();
        json_object_set_new(meta, "n_vocab", json_integer(in->n_vocab));
        json_object_set_new(meta, "n_ctx", json_integer(in->n_ctx));
        json_object_set_new(meta, "n_ctx_train", json_integer(in->n_ctx_train));
        json_object_set_new(meta, "n_embd", json_integer(in->n_embd));
        json_object_set_new(meta, "n_params", json_integer((json_int_t)in->n_params));
        json_object_set_new(meta, "size", json_integer((json_int_t)in->size));
        json_object_set_new(o, "meta", meta);
    }
    return o;
}

static void handle_list(const struct http_request *req, struct http_reply *rep)
{
    (void)req;
    struct sched_status *st = xcalloc(MODELS_MAX_STATUS, sizeof *st);
    int n_st = sched_list_all(api->sched, st, MODELS_MAX_STATUS);
    struct store_model *list;
    int n;
    store_list(api->store, &list, &n);
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = model_json(list[i].name, list[i].mtime, status_of(st, n_st, list[i].name));
        if (list[i].remote) {
            /* Served elsewhere: always ready, never loaded here. */
            json_object_set_new(o, "status", json_pack("{s:s}", "value", "loaded"));
            json_object_set_new(o, "remote",
                                json_pack("{s:s, s:s}", "url", list[i].remote->url, "model",
                                          list[i].remote->model));
        }
        json_array_append_new(data, o);
    }
    /* Models the scheduler holds that no store lists: `serve --model FILE.gguf`. */
    for (int k = 0; k < n_st; k++) {
        int listed = 0;
        for (int i = 0; i < n && !listed; i++)
            listed = !strcmp(list[i].name, st[k].name);
        if (!listed)
            json_array_append_new(data, model_json(st[k].name, 0, &st[k]));
    }
    store_list_free(list, n);
    free(st);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    api_reply(rep, 200, o);
}

/* The model a load or unload names: 0 and *name, or an error already answered. */
static int body_model(const struct http_request *hreq, struct http_reply *rep, json_t **body,
                      const char **name)
{
    *body = api_parse_body(hreq, rep, llama_error);
    if (!*body)
        return -1;
    struct err e = {0};
    *name = NULL;
    if (api_get_str(*body, "model", name, &e)) {
        llama_error(rep, ERR_BAD_REQUEST, e.msg);
        return -1;
    }
    if (!*name || !**name) {
        llama_error(rep, ERR_BAD_REQUEST, "model name is missing from the request");
        return -1;
    }
    if (strlen(*name) >= STORE_MAX_NAME) {
        llama_error(rep, ERR_BAD_REQUEST, "model name is too long");
        return -1;
    }
    return 0;
}

/* The scheduler's state of a model, or -1 when it does not know it. */
static int state_of(const char *name)
{
    struct sched_status *st = xcalloc(MODELS_MAX_STATUS, sizeof *st);
    int n = sched_list_all(api->sched, st, MODELS_MAX_STATUS);
    const struct sched_status *s = status_of(st, n, name);
    int state = s ? (int)s->state : -1;
    free(st);
    return state;
}

/* POST /models/load {"model": NAME}. llama-server answers at once and loads in the background;
 * hearth answers when the load has ended, so a load that fails answers with the worker's own
 * message (a client polling GET /models for "loaded" sees the same). */
static void handle_load(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body;
    const char *name;
    if (body_model(hreq, rep, &body, &name)) {
        json_decref(body);
        return;
    }
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    snprintf(req.model, sizeof req.model, "%s", name);
    struct err e = {0};
    int rc = native_resolve(&req, &e);
    if (rc == ERR_NOT_FOUND) {
        llama_error(rep, ERR_NOT_FOUND, "model is not found");
        goto out;
    }
    if (rc) {
        llama_error(rep, rc, e.msg);
        goto out;
    }
    int state = state_of(req.model);
    if (state == SCHED_LOADED || state == SCHED_LOADING) {
        llama_error(rep, ERR_BAD_REQUEST, "model is already running");
        goto out;
    }
    int unloaded;
    int64_t load_us;
    rc = native_load_only(&req, &unloaded, &load_us, &e);
    if (rc)
        llama_error(rep, rc == ERR_WORKER_DIED ? ERR_INTERNAL : rc, e.msg);
    else
        api_reply(rep, 200, json_pack("{s:b}", "success", 1));
out:
    native_req_free(&req);
    json_decref(body);
}

/* POST /models/unload {"model": NAME}: waits for the requests using it to end. */
static void handle_unload(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body;
    const char *name;
    if (body_model(hreq, rep, &body, &name)) {
        json_decref(body);
        return;
    }
    /* The scheduler knows models by their canonical name; a name the store does not know may
     * still be loaded (`serve --model FILE.gguf`). */
    char canon[STORE_MAX_NAME + 16];
    snprintf(canon, sizeof canon, "%s", name);
    struct store_model m;
    int known = 0;
    if (store_find(api->store, name, &m, NULL) == 0) {
        snprintf(canon, sizeof canon, "%s", m.name);
        store_model_free(&m);
        known = 1;
    }
    int state = state_of(canon);
    if (!known && state < 0)
        llama_error(rep, ERR_BAD_REQUEST, "model is not found");
    else if (state != SCHED_LOADED && state != SCHED_LOADING)
        llama_error(rep, ERR_BAD_REQUEST, "model is not running");
    else if (sched_unload(api->sched, canon))
        llama_error(rep, ERR_BAD_REQUEST, "model is not running");
    else
        api_reply(rep, 200, json_pack("{s:b}", "success", 1));
    json_decref(body);
}

static const struct http_route routes[] = {
    {"GET", "/models", handle_list},
    {"GET", "/v1/models", handle_list},
    {"POST", "/models/load", handle_load},
    {"POST", "/models/unload", handle_unload},
};

void models_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
