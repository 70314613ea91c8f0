/* The Ollama API's model routes: version, tags, ps, show, copy, delete. */
#include "api/api.h"
#include "api/model_info.h"
#include "base/sha256.h"
#include "base/util.h"
#include "engine/offload.h"
#include "web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

void api_not_found(const struct http_request *req, struct http_reply *rep)
{
    api_errorf(rep, ERR_NOT_FOUND, "no route for %s %s", req->method, req->path);
}

void api_bad_method(const struct http_request *req, struct http_reply *rep)
{
    json_t *o = json_object();
    char msg[256];
    snprintf(msg, sizeof msg, "method %s is not allowed on %s (allowed: %s)", req->method,
             req->path, rep->allow);
    json_object_set_new(o, "error", json_string(msg));
    api_reply(rep, 405, o);
}

/* GET /: Ollama's "is running" answer, which clients and scripts probe; a browser (Accept:
 * text/html) gets the web UI instead unless --no-webui. */
void ollama_root(const struct http_request *req, struct http_reply *rep)
{
    if (api && api->webui) {
        if (web_wants_html(req)) {
            web_index(req, rep);
            return;
        }
        /* Caches must keep the text and the page apart. */
        http_reply_header(rep, "Vary", "Accept");
    }
    http_reply_text(rep, 200, "hearth is running");
}

void ollama_version(const struct http_request *req, struct http_reply *rep)
{
    (void)req;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(HEARTH_VERSION));
    api_reply(rep, 200, o);
}

/* A stable identifier for a model file. For folder models it is the SHA-256 of the path, size
 * and modification time, not of the content: hashing gigabytes on every listing would be slow.
 * Models from Ollama's store (#6) carry their real blob digest. */
static void identity_digest(const char *path, int64_t size, time_t mtime, char hex[65])
{
    char id[4200];
    int n = snprintf(id, sizeof id, "%s\n%lld\n%lld", path, (long long)size, (long long)mtime);
    sha256_hex(id, (size_t)n, hex);
}

/* Where a remote model points (never its key: only the variable that holds it). */
static json_t *remote_json(const struct store_remote *r)
{
    json_t *o = json_pack("{s:s, s:s}", "url", r->url, "model", r->model);
    if (r->key_env)
        json_object_set_new(o, "api_key_env", json_string(r->key_env));
    return o;
}

/* A remote model has no file: its details say "remote" and its size is 0. */
static json_t *remote_details(void)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:s, s:s}", "parent_model", "", "format", "remote",
                     "family", "", "families", "parameter_size", "", "quantization_level", "");
}

static json_t *remote_entry(const char *name, const struct store_model *m)
{
    char id[8192], hex[65], ts[48];
    int n = snprintf(id, sizeof id, "remote\n%s\n%s", m->remote->url, m->remote->model);
    sha256_hex(id, (size_t)(n < (int)sizeof id ? n : (int)sizeof id - 1), hex);
    api_time_fmt(m->mtime, ts, sizeof ts);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "model", json_string(name));
    json_object_set_new(o, "modified_at", json_string(ts));
    json_object_set_new(o, "size", json_integer(0));
    json_object_set_new(o, "digest", json_string(hex));
    json_object_set_new(o, "source", json_string(store_source_name(m->source)));
    json_object_set_new(o, "remote", remote_json(m->remote));
    json_object_set_new(o, "details", remote_details());
    json_object_set_new(o, "capabilities", json_pack("[s]", "completion"));
    return o;
}

static json_t *model_entry(const char *name, const struct store_model *m)
{
    if (m->remote)
        return remote_entry(name, m);
    const char *path = m->path;
    json_t *o = json_object();
    char ts[48], hex[65];
    api_time_fmt(m->mtime, ts, sizeof ts);
    if (!strncmp(m->digest, "sha256:", 7))
        snprintf(hex, sizeof hex, "%s", m->digest + 7);
    else
        identity_digest(path, m->size, m->mtime, hex);
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "model", json_string(name));
    json_object_set_new(o, "modified_at", json_string(ts));
    json_object_set_new(o, "size", json_integer(m->size));
    json_object_set_new(o, "digest", json_string(hex));
    /* hearth's own: where the model was found (folder, ollama, hf, preset, path). */
    json_object_set_new(o, "source", json_string(store_source_name(m->source)));
    struct model_details d;
    if (model_details_read(path, &d, NULL) == 0) {
        json_object_set_new(o, "details", model_details_json(&d));
        json_object_set_new(o, "capabilities", model_capabilities_json(&d));
        model_details_free(&d);
    } else {
        json_object_set_new(o, "details", json_object());
    }
    return o;
}

void ollama_tags(const struct http_request *req, struct http_reply *rep)
{
    (void)req;
    struct store_model *list;
    int n;
    store_list(api->store, &list, &n);
    json_t *models = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(models, model_entry(list[i].name, &list[i]));
    store_list_free(list, n);
    json_t *o = json_object();
    json_object_set_new(o, "models", models);
    api_reply(rep, 200, o);
}

/* Ollama's fields as Ollama names them; hearth's own beside them: the worker's pid, the
 * processor split as `ollama ps` prints it, slots busy and total, and memory by device. */
void ollama_ps(const struct http_request *req, struct http_reply *rep)
{
    (void)req;
    struct sched_status *st = xcalloc(256, sizeof *st);
    int n = sched_list(api->sched, st, 256);
    json_t *models = json_array();
    for (int i = 0; i < n; i++) {
        struct store_model m;
        if (store_find(api->store, st[i].name, &m, NULL))
            continue; /* deleted while loaded */
        json_t *o = model_entry(st[i].name, &m);
        store_model_free(&m);
        char ts[48];
        /* Ollama writes a far-future time for models kept forever. */
        api_time_fmt(st[i].expires_at ? st[i].expires_at : (time_t)253402300799LL, ts, sizeof ts);
        json_object_set_new(o, "expires_at", json_string(ts));
        /* The scheduler's estimate of what it needs when it made one, else its weights. */
        uint64_t size = st[i].mem_bytes ? st[i].mem_bytes : st[i].info.size;
        /* On GPUs: what the worker measured (the CUDA context and its workspaces included, so
         * it can exceed the estimate, which then grows to it). */
        uint64_t vram = st[i].info.size_vram;
        if (vram > size)
            size = vram;
        json_object_set_new(o, "size", json_integer((json_int_t)size));
        json_object_set_new(o, "size_vram", json_integer((json_int_t)vram));
        json_object_set_new(o, "context_length", json_integer(st[i].info.n_ctx));
        char proc[32];
        offload_processor(size, vram, proc, sizeof proc);
        json_object_set_new(o, "processor", json_string(proc));
        json_object_set_new(o, "gpu_layers", json_integer(st[i].info.n_gpu_layers));
        /* busy counts the requests queued in the worker for a slot too. */
        int running = st[i].busy < st[i].slots ? st[i].busy : st[i].slots;
        json_object_set_new(o, "slots_busy", json_integer(running));
        json_object_set_new(o, "queued", json_integer(st[i].busy - running));
        json_object_set_new(o, "slots_total", json_integer(st[i].slots));
        json_object_set_new(o, "pid", json_integer(st[i].pid));
        json_t *mem = json_array();
        if (size > vram)
            json_array_append_new(
                mem, json_pack("{s:s, s:I}", "device", "CPU", "bytes", (json_int_t)(size - vram)));
        if (vram)
            json_array_append_new(mem, json_pack("{s:s, s:s, s:I}", "device", "GPU", "name",
                                                 st[i].info.gpu, "bytes", (json_int_t)vram));
        json_object_set_new(o, "memory", mem);
        json_array_append_new(models, o);
    }
    free(st);
    json_t *o = json_object();
    json_object_set_new(o, "models", models);
    api_reply(rep, 200, o);
}

static int model_field(json_t *body, const char **name, struct err *e)
{
    int rc = api_get_str(body, "model", name, e);
    if (!rc && !*name)
        rc = api_get_str(body, "name", name, e);
    if (!rc && (!*name || !**name))
        rc = err_set(e, ERR_BAD_REQUEST, "model is required");
    return rc;
}

/* Ollama's `modelfile` text for a model: FROM, then what the store says about it. */
static json_t *modelfile_text(const struct store_model *m, const char *tmpl, const char *params)
{
    struct buf b;
    buf_init(&b, 16u << 20);
    buf_printf(&b,
               "# Modelfile generated by \"hearth show\"\n# To build a new Modelfile based on "
               "this, replace FROM with:\n# FROM %s\n\nFROM %s\n",
               m->name, m->path);
    if (tmpl)
        buf_printf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", tmpl);
    if (m->system)
        buf_printf(&b, "SYSTEM \"\"\"%s\"\"\"\n", m->system);
    /* The effective values that are not defaults, one "name value" per line. */
    for (const char *p = params ? params : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        /* "num_ctx      4096" (padded as Ollama pads `parameters`) -> "num_ctx 4096" */
        size_t k = 0;
        while (k < n && p[k] != ' ')
            k++;
        size_t v = k;
        while (v < n && p[v] == ' ')
            v++;
        if (n)
            buf_printf(&b, "PARAMETER %.*s %.*s\n", (int)k, p, (int)(n - v), p + v);
        p += n + (nl ? 1 : 0);
    }
    if (m->license)
        buf_printf(&b, "LICENSE \"\"\"%s\"\"\"\n", m->license);
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

/* /api/show of a remote model: where it points, and the parameters hearth sends it. */
static void remote_show(const struct store_model *m, struct http_reply *rep)
{
    snprintf(rep->model, sizeof rep->model, "%s", m->name);
    json_t *o = json_object();
    settings_show(m, o);
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_printf(&b, "# %s is served by a remote server\n# remote = %s\n# remote-model = %s\n",
               m->name, m->remote->url, m->remote->model);
    if (m->system)
        buf_printf(&b, "SYSTEM \"\"\"%s\"\"\"\n", m->system);
    json_object_set_new(o, "modelfile", json_stringn(b.data ? b.data : "", b.len));
    buf_free(&b);
    json_object_set_new(o, "template", json_string(""));
    json_object_set_new(o, "template_source", json_null());
    if (m->system)
        json_object_set_new(o, "system", json_string(m->system));
    json_object_set_new(o, "source", json_string(store_source_name(m->source)));
    json_object_set_new(o, "remote", remote_json(m->remote));
    json_object_set_new(o, "details", remote_details());
    json_object_set_new(o, "model_info", json_object());
    json_object_set_new(o, "capabilities", json_pack("[s]", "completion"));
    char ts[48];
    api_time_fmt(m->mtime, ts, sizeof ts);
    json_object_set_new(o, "modified_at", json_string(ts));
    api_reply(rep, 200, o);
}

void ollama_show(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    const char *name = NULL;
    int verbose = 0;
    struct err e = {0};
    struct store_model m = {0};
    struct model_details d = {0};
    json_t *info = NULL;
    int rc = model_field(body, &name, &e);
    if (!rc)
        rc = api_get_bool(body, "verbose", &verbose, &e);
    if (!rc)
        rc = store_find(api->store, name, &m, &e);
    if (!rc && m.remote) {
        remote_show(&m, rep);
        goto out;
    }
    if (!rc)
        rc = model_details_read(m.path, &d, &e);
    if (!rc)
        rc = model_info_json(m.path, verbose, &info, &e);
    if (rc) {
        api_error(rep, rc, e.msg);
        goto out;
    }
    snprintf(rep->model, sizeof rep->model, "%s", m.name);
    json_t *o = json_object();
    char ts[48];
    /* The template requests use, and where it came from (DESIGN.md: never silent). */
    struct native_req probe = {.path = m.path,
                               .model_template = m.template_text,
                               .model_template_is_go = m.template_is_go};
    char *tmpl = NULL;
    const char *tmpl_src = api_chat_template(&probe, &tmpl);
    settings_show(&m, o);
    json_object_set_new(
        o, "modelfile",
        modelfile_text(&m, tmpl, json_string_value(json_object_get(o, "parameters"))));
    json_object_set_new(o, "template", json_string(tmpl ? tmpl : ""));
    json_object_set_new(o, "template_source", tmpl_src ? json_string(tmpl_src) : json_null());
    free(tmpl);
    if (m.system)
        json_object_set_new(o, "system", json_string(m.system));
    if (m.license)
        json_object_set_new(o, "license", json_string(m.license));
    if (m.messages_json) {
        json_t *msgs = json_loads(m.messages_json, 0, NULL);
        if (json_is_array(msgs))
            json_object_set_new(o, "messages", msgs);
        else
            json_decref(msgs);
    }
    json_object_set_new(o, "source", json_string(store_source_name(m.source)));
    json_object_set_new(o, "details", model_details_json(&d));
    json_object_set_new(o, "model_info", info);
    json_object_set_new(o, "capabilities", model_capabilities_json(&d));
    api_time_fmt(m.mtime, ts, sizeof ts);
    json_object_set_new(o, "modified_at", json_string(ts));
    api_reply(rep, 200, o);
out:
    model_details_free(&d);
    store_model_free(&m);
    json_decref(body);
}

void ollama_copy(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    const char *src = NULL, *dst = NULL;
    struct err e = {0};
    int rc = api_get_str(body, "source", &src, &e);
    if (!rc)
        rc = api_get_str(body, "destination", &dst, &e);
    if (!rc && (!src || !dst))
        rc = err_set(&e, ERR_BAD_REQUEST, "source and destination are required");
    if (!rc)
        rc = store_copy(api->store, src, dst, &e);
    if (rc)
        api_error(rep, rc, e.msg);
    else
        http_reply_json(rep, 200, "");
    json_decref(body);
}

void ollama_delete(const struct http_request *hreq, struct http_reply *rep)
{
    json_t *body = api_parse_body(hreq, rep, api_error);
    if (!body)
        return;
    const char *name = NULL;
    struct err e = {0};
    struct store_model m = {0};
    int rc = model_field(body, &name, &e);
    if (!rc)
        rc = store_find(api->store, name, &m, &e);
    if (!rc) {
        sched_unload(api->sched, m.name);
        rc = store_delete(api->store, m.name, &e);
    }
    if (rc)
        api_error(rep, rc, e.msg);
    else
        http_reply_json(rep, 200, "");
    store_model_free(&m);
    json_decref(body);
}
