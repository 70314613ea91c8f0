/* `hearth serve`: the daemon. HTTP server, API translation and the scheduler of workers. */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cli/serve_settings.h"
#include "net/http.h"
#include "sched/sched.h"
#include "store/create.h"
#include "store/preset.h"
#include "store/store.h"
#include "web/web.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PORT 11434

/* Parses HOST[:PORT], [V6]:PORT, :PORT or a URL like http://host:port/. */
int cli_parse_host(const char *in, char *host, size_t host_len, unsigned short *port)
{
    const char *p = in;
    if (!strncmp(p, "http://", 7))
        p += 7;
    else if (!strncmp(p, "https://", 8))
        p += 8;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", p);
    char *slash = strchr(tmp, '/');
    if (slash)
        *slash = '\0';
    *port = DEFAULT_PORT;
    char *port_s = NULL;
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');
        if (!close)
            return ERR_BAD_REQUEST;
        *close = '\0';
        snprintf(host, host_len, "%s", tmp + 1);
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1])
            return ERR_BAD_REQUEST;
    } else {
        char *colon = strrchr(tmp, ':');
        if (colon && strchr(tmp, ':') == colon) {
            *colon = '\0';
            port_s = colon + 1;
        }
        snprintf(host, host_len, "%s", tmp[0] ? tmp : "127.0.0.1");
    }
    if (port_s) {
        int64_t v;
        if (parse_i64(port_s, &v) || v < 0 || v > 65535)
            return ERR_BAD_REQUEST;
        *port = (uint16_t)v;
    }
    return 0;
}

/* Loads a model and keeps it loaded until it is stopped. allow_path: name was typed by the user
 * who started the server, so it may be a file. */
static int load_kept(const char *name, int allow_path, int64_t *load_us, struct err *e)
{
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    snprintf(req.model, sizeof req.model, "%s", name);
    req.keep_alive_ms = SCHED_KEEP_FOREVER;
    req.allow_path = allow_path;
    int unloaded;
    int rc = native_resolve(&req, e);
    if (!rc)
        rc = native_load_only(&req, &unloaded, load_us, e);
    native_req_free(&req);
    return rc;
}

/* Loads the default model in the background, so the server answers /health (503) meanwhile. */
static void *load_default(void *arg)
{
    struct api_ctx *ctx = arg;
    struct err e = {0};
    int64_t load_us;
    int rc = load_kept(ctx->default_model, 1, &load_us, &e);
    if (rc)
        log_error("msg=\"the default model failed to load\" model=%s err=%s",
                  log_q(ctx->default_model), log_q(e.msg));
    __atomic_store_n(&ctx->default_ready, rc ? -1 : 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Loads the models whose preset section says load-on-startup = true, one after the other, and
 * keeps them loaded (as llama-server's router does, until they are stopped). */
static void *load_on_startup(void *arg)
{
    struct api_ctx *ctx = arg;
    struct preset_set *p = store_presets(ctx->store);
    int n;
    const char *const *names = preset_sections(p, &n);
    for (int i = 0; i < n; i++) {
        const char *t = preset_get(p, names[i], "stop-timeout");
        if (t && strcmp(t, "10") != 0)
            log_warn("msg=\"stop-timeout is not used: hearth gives every worker 10 s to exit\" "
                     "model=%s stop_timeout=%s",
                     log_q(names[i]), t);
    }
    for (int i = 0; i < n && !api_shutting_down(ctx); i++) {
        const char *v = preset_get(p, names[i], "load-on-startup");
        if (!v || strcmp(v, "true") != 0)
            continue;
        struct err e = {0};
        int64_t load_us;
        int rc = load_kept(names[i], 0, &load_us, &e);
        if (rc)
            log_error("msg=\"a load-on-startup model failed to load\" model=%s err=%s",
                      log_q(names[i]), log_q(e.msg));
        else
            log_info("msg=\"loaded on startup\" model=%s ms=%lld", log_q(names[i]),
                     (long long)(load_us / 1000));
    }
    preset_release(p);
    return NULL;
}

/* The presets file: --models-preset, HEARTH_MODELS_PRESET or the default. A file named
 * explicitly must exist; any file must parse. */
static int check_presets(const char *arg, char *path, size_t len)
{
    int required = arg && *arg;
    if (required)
        snprintf(path, len, "%s", arg);
    else
        preset_default_path(path, len);
    struct stat st;
    if (required && stat(path, &st) != 0) {
        cli_error("presets file %s does not exist", path);
        return -1;
    }
    struct preset_set *p;
    struct err e = {0};
    if (preset_load(path, &p, &e)) {
        cli_error("%s", e.msg);
        return -1;
    }
    preset_release(p);
    return 0;
}

/* Whether the client of the request this thread serves has gone (the scheduler asks while a
 * request waits for a model). */
static int client_gone(void)
{
    return http_client_gone();
}

/* Keeps the prompt cache's folder where workers find it (they inherit the environment),
 * creating the default one. */
static void prompt_cache_dir(const struct settings *set)
{
    if (set->v[SETTING_PROMPT_CACHE_DIR].text)
        return;
    char dir[4096];
    serve_settings_value(set, SETTING_PROMPT_CACHE_DIR, dir, sizeof dir);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    for (char *p = parent + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = '\0';
            mkdir(parent, 0700);
            *p = '/';
        }
    mkdir(dir, 0700);
    setenv("HEARTH_PROMPT_CACHE_DIR", dir, 1);
}

int cmd_serve(int argc, char **argv)
{
    return cli_serve_main(argc, argv, NULL, NULL);
}

int cli_serve_main(int argc, char **argv, const char *bundle_presets, const char *bundle_model)
{
    /* A connection has a thread of its own, and glibc would give up to 8 arenas per core to
     * them; memory freed in one is kept there. Two arenas held the daemon's RSS flat over a
     * 64-client soak where the default grew it 5.7 % (bench/RESULTS.md). The workers, one
     * thread of requests each, keep the default. */
    mallopt(M_ARENA_MAX, 2);
    struct settings conf;
    int status = serve_settings_read(&conf, argc, argv);
    if (status == SERVE_SETTINGS_HELP) {
        serve_settings_usage(stdout);
        serve_settings_free(&conf);
        return 0;
    }
    if (status) {
        serve_settings_free(&conf);
        return status;
    }
    status = 1;
    struct serve_secure sec = {0};
    const struct setting_value *v = conf.v;
    char **dirs = v[SETTING_MODELS_DIR].list.v;
    int n_dirs = v[SETTING_MODELS_DIR].list.n;
    const char *model_arg = v[SETTING_MODEL].text;
    /* A bundle's model is the default, as llama-server's -m is, and loads at start. */
    if (!model_arg && bundle_model)
        model_arg = bundle_model;
    int no_metrics = (int)v[SETTING_NO_METRICS].num, no_webui = (int)v[SETTING_NO_WEBUI].num;
    char host[256];
    uint16_t port;
    /* checked by serve_settings_read */
    cli_parse_host(v[SETTING_HOST].text ? v[SETTING_HOST].text
                                        : serve_settings_table[SETTING_HOST].def,
                   host, sizeof host, &port);
    int64_t keep_ms = v[SETTING_KEEP_ALIVE].num;
    struct sched_config scfg_sched;
    sched_config_init(&scfg_sched, keep_ms);
    if (v[SETTING_MAX_MEMORY].text)
        scfg_sched.max_memory = (uint64_t)v[SETTING_MAX_MEMORY].num;
    scfg_sched.max_loaded = (int)v[SETTING_MAX_LOADED_MODELS].num;
    scfg_sched.max_queue = (int)v[SETTING_MAX_QUEUE].num;
    scfg_sched.load_timeout_ms = v[SETTING_LOAD_TIMEOUT].num;
    scfg_sched.stall_timeout_ms = v[SETTING_STALL_TIMEOUT].num;
    /* A request that needs the place of models in use waits for them as long as a load may
     * take (0: no load timeout, so it waits as long as they run). */
    scfg_sched.busy_wait_ms =
        scfg_sched.load_timeout_ms > 0 ? scfg_sched.load_timeout_ms : INT64_MAX / 4;
    char preset_path[4096] = "";
    /* A bundle's presets are its own; HEARTH_MODELS_PRESET, meant for hearth, is left alone. */
    if (bundle_presets && v[SETTING_MODELS_PRESET].source == SETTING_FROM_FLAG) {
        cli_error("a bundle serves its own model with its own preset: --models-preset does not "
                  "apply");
        status = 2;
        goto out;
    }
    if (!bundle_presets &&
        check_presets(v[SETTING_MODELS_PRESET].text, preset_path, sizeof preset_path))
        goto out;

    /* Signals are taken by this thread alone, with sigwait; every other thread (libmicrohttpd's,
     * the scheduler's) inherits the blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Workers keep long prompts across unloads in the prompt cache (src/engine/kvcache.c). */
    prompt_cache_dir(&conf);

    struct api_ctx ctx = {0};
    struct store_config scfg = {.dirs = dirs, .n_dirs = n_dirs, .presets = preset_path};
    if (bundle_presets) {
        scfg.presets = NULL;
        scfg.presets_text = bundle_presets;
        scfg.own_only = 1;
    }
    ctx.store = store_init(&scfg);
    create_sweep(ctx.store); /* what a create killed on the way left behind */
    if (bundle_presets)
        log_info("msg=\"model sources\" bundle=true folders=%d", n_dirs);
    else
        log_info("msg=\"model sources\" folders=%d ollama=%s hf=%s", n_dirs,
                 log_q(store_ollama_root(ctx.store)), log_q(store_hf_hub(ctx.store)));
    scfg_sched.waiter_gone = client_gone;
    ctx.sched = sched_new(&scfg_sched);
    ctx.num_parallel = (int32_t)v[SETTING_PARALLEL].num;
    ctx.webui = !no_webui;
    ctx.strict_options = (int)v[SETTING_STRICT_OPTIONS].num;
    api = &ctx;

    /* One table for every protocol. */
    void (*tables[])(const struct http_route **, int *) = {
        ollama_routes, blobs_routes, create_routes, openai_routes, anthropic_routes, llama_routes,
        responses_routes, pull_routes, models_routes,
        /* --no-webui and --no-metrics drop these */
        web_routes, metrics_routes};
    int n_routes = 0;
    struct http_route *routes = NULL;
    for (size_t t = 0; t < ARRAY_LEN(tables); t++) {
        if ((tables[t] == web_routes && no_webui) || (tables[t] == metrics_routes && no_metrics))
            continue;
        /* A bundle serves what it holds: no downloads, no new models, no blob uploads. */
        if (bundle_presets &&
            (tables[t] == pull_routes || tables[t] == create_routes || tables[t] == blobs_routes))
            continue;
        const struct http_route *r;
        int n;
        tables[t](&r, &n);
        routes = xrealloc(routes, (size_t)(n_routes + n) * sizeof *routes);
        memcpy(routes + n_routes, r, (size_t)n * sizeof *routes);
        n_routes += n;
    }
    const struct http_upload_route *uploads;
    int n_uploads;
    blobs_upload_routes(&uploads, &n_uploads);
    if (bundle_presets)
        n_uploads = 0;
    struct http_config cfg = {
        .host = host,
        .port = port,
        .routes = routes,
        .n_routes = n_routes,
        .uploads = uploads,
        .n_uploads = n_uploads,
        .not_found = api_not_found,
        .bad_method = api_bad_method,
        .max_connections = 256,
        .on_complete = metrics_request,
    };
    struct http_server *srv;
    struct err e = {0};
    serve_secure_redact(ctx.store);
    if (serve_secure_setup(&sec, &conf, host, &cfg) || http_start(&cfg, &srv, &e)) {
        if (e.msg[0])
            cli_error("%s", e.msg);
        sched_free(ctx.sched);
        store_free(ctx.store);
        free(routes);
        goto out;
    }
    pthread_t loader;
    int have_loader = 0;
    if (model_arg) {
        ctx.default_model = model_arg;
        have_loader = pthread_create(&loader, NULL, load_default, &ctx) == 0;
    }
    pthread_t startup;
    int have_startup = pthread_create(&startup, NULL, load_on_startup, &ctx) == 0;
    log_info("msg=\"listening\" addr=%s:%u models_dirs=%d keep_alive_ms=%lld presets=%s", host,
             http_port(srv), n_dirs, (long long)keep_ms,
             log_q(bundle_presets ? "(the bundle's)" : preset_path));
    /* Tests and scripts read the port from this line when they ask for port 0. */
    fprintf(stderr, "hearth: listening on %s:%u\n", host, http_port(srv));

    int sig = 0;
    sigwait(&set, &sig);
    log_info("msg=\"shutting down\" signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    __atomic_store_n(&ctx.shutting_down, 1, __ATOMIC_RELEASE);
    http_quiesce(srv);
    /* Streams notice shutting_down within 200 ms, cancel their generation and end with a final
     * event; give them a moment to do so before closing the connections. */
    for (int i = 0; i < 50 && api_active_streams() > 0; i++)
        usleep(100 * 1000);
    http_stop(srv);
    if (have_loader)
        pthread_join(loader, NULL);
    if (have_startup)
        pthread_join(startup, NULL);
    sched_free(ctx.sched);
    store_free(ctx.store);
    free(routes);
    api = NULL;
    log_info("msg=\"stopped\"");
    status = 0;
out:
    serve_secure_free(&sec);
    serve_settings_free(&conf);
    return status;
}
