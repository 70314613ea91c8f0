/* `hearth serve`: the daemon. HTTP server, API translation and the scheduler of workers. */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "net/http.h"
#include "sched/sched.h"
#include "store/preset.h"
#include "store/store.h"
#include "web/web.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PORT 11434

static void serve_usage(void)
{
    printf(
        "Usage: hearth serve [flags]\n"
        "\n"
        "Serves the Ollama, OpenAI, Anthropic and llama-server APIs on 127.0.0.1:11434 and\n"
        "loads each model in a worker process on first use. Models are found in the\n"
        "--models-dir folders, Ollama's store ($OLLAMA_MODELS, else ~/.ollama/models) and\n"
        "the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else\n"
        "~/.cache/huggingface/hub).\n"
        "\n"
        "Flags (environment variables in brackets; a flag wins over its variable):\n"
        "  --host HOST[:PORT]        address to listen on (default 127.0.0.1:%d)\n"
        "                            [HEARTH_HOST, then OLLAMA_HOST]\n"
        "  --models-dir DIR          a folder of .gguf files, repeatable; a file's stem is\n"
        "                            the model's name [HEARTH_MODELS_DIR, ':'-separated]\n"
        "  --keep-alive DURATION     how long an idle model stays loaded (default 5m;\n"
        "                            negative keeps it forever) [HEARTH_KEEP_ALIVE, then\n"
        "                            OLLAMA_KEEP_ALIVE]\n"
        "  -np, --parallel N         requests each model serves at once, each in a slot of\n"
        "                            num_ctx tokens (default 4; more wait in a queue)\n"
        "                            [HEARTH_NUM_PARALLEL, then OLLAMA_NUM_PARALLEL]\n"
        "  --max-memory SIZE         memory the loaded models may take in all, e.g. 6GiB or\n"
        "                            800MB (default: what /proc/meminfo calls available);\n"
        "                            idle models are unloaded to make room, and a model\n"
        "                            that cannot fit is answered 507 [HEARTH_MAX_MEMORY]\n"
        "  --max-loaded-models N     models loaded at once at most (default 3; 0: no cap)\n"
        "                            [HEARTH_MAX_LOADED_MODELS, then OLLAMA_MAX_LOADED_MODELS]\n"
        "  --max-queue N             requests that may wait for a model or a slot (default\n"
        "                            512; 0: no cap); more are answered 503 with Retry-After\n"
        "                            [HEARTH_MAX_QUEUE, then OLLAMA_MAX_QUEUE]\n"
        "  --models-preset FILE      presets in llama-server's INI format, re-read when it\n"
        "                            changes (default $XDG_CONFIG_HOME/hearth/presets.ini,\n"
        "                            else ~/.config/hearth/presets.ini; a missing default\n"
        "                            file is no presets) [HEARTH_MODELS_PRESET]\n"
        "  -m, --model NAME          a default model: loaded at start (GET /health answers\n"
        "                            503 until it is), kept loaded, and used by the\n"
        "                            llama-server routes when a request names none\n"
        "  --no-metrics              do not serve GET /metrics (Prometheus)\n"
        "  --api-key KEY             require this key (comma-separated: several) on every\n"
        "                            route but /, /ui/*, /health and /v1/health, sent as\n"
        "                            'Authorization: Bearer KEY' or 'X-Api-Key: KEY'\n"
        "                            [HEARTH_API_KEY, one key; the CLI sends it too]\n"
        "  --api-key-file FILE       keys one per line ('#' comments); the file must not be\n"
        "                            readable by group or others (chmod 600)\n"
        "  --insecure-no-auth        allow a non-loopback --host without any key (refused\n"
        "                            otherwise: anyone who reaches the port could use it)\n"
        "  --ssl-cert-file FILE      serve HTTPS with this PEM certificate (chain)\n"
        "                            [HEARTH_SSL_CERT_FILE]\n"
        "  --ssl-key-file FILE       and this PEM private key [HEARTH_SSL_KEY_FILE]\n"
        "  --max-body SIZE           largest request body, e.g. 16MiB (default 16MiB; blob\n"
        "                            uploads are streamed and not bound by it)\n"
        "                            [HEARTH_MAX_BODY]\n"
        "  --timeout SECONDS         close a connection that sends or takes nothing this\n"
        "                            long, headers included (default 60) [HEARTH_TIMEOUT]\n"
        "  --no-webui                do not serve the web UI (GET / in a browser, /ui/)\n"
        "  -h, --help                print this help\n"
        "\n"
        "Other variables: HEARTH_LOAD_TIMEOUT (default 5m; 0 disables) stops a worker whose\n"
        "model takes longer to load; HEARTH_STALL_TIMEOUT (default 5m; 0 disables) kills a\n"
        "worker that sends nothing that long while requests wait on it (a worker sends nothing\n"
        "while it reads a prompt: keep it above the longest prompt's time);\n"
        "HEARTH_STRICT_OPTIONS=1 answers unknown request options with 400\n"
        "instead of a warning; while bound to loopback, a Host header that is not a loopback\n"
        "name, an address or the machine's name is refused (403; DNS rebinding), unless\n"
        "HEARTH_ALLOWED_HOSTS (comma-separated names, \".example.org\" for every name under it)\n"
        "lists it; browser pages of other origins than localhost's are refused (403) unless\n"
        "HEARTH_ORIGINS or OLLAMA_ORIGINS (comma-separated patterns like\n"
        "https://app.example.org or chrome-extension://*; \"*\" for any) list them;\n"
        "HEARTH_LOG_LEVEL=debug|info|warn|error;\n"
        "HEARTH_PROMPT_CACHE_RAM_MB (default 512) keeps long prompts pushed out of their slot in\n"
        "each worker's RAM, then HEARTH_PROMPT_CACHE_DIR (default ~/.cache/hearth/prompts, "
        "\"off\"\n"
        "disables) on disk, across model unloads, within HEARTH_PROMPT_CACHE_MAX_MB (default\n"
        "1024).\n",
        DEFAULT_PORT);
}

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
    for (int i = 0; i < n && !ctx->shutting_down; i++) {
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

/* A flag's value, else the first variable set. */
static const char *flag_or_env(const char *flag, const char *var1, const char *var2)
{
    if (flag)
        return flag;
    const char *v = var1 ? getenv(var1) : NULL;
    if ((!v || !*v) && var2)
        v = getenv(var2);
    return v && *v ? v : NULL;
}

static int count_option(const char *text, const char *what, int max, int *out)
{
    int64_t v;
    if (!text)
        return 0;
    if (parse_i64(text, &v) || v < 0 || v > max) {
        cli_error("invalid %s '%s' (expected a number from 0 to %d)", what, text, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int duration_option(const char *var, int64_t *ms)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    if (sched_parse_keep_alive(v, ms) || *ms < 0) {
        cli_error("invalid %s '%s' (expected a duration like 5m or 30s, or seconds)", var, v);
        return -1;
    }
    return 0;
}

/* The scheduler's limits from the flags and the environment. */
static int sched_options(const char *mem_arg, const char *max_loaded_arg, const char *queue_arg,
                         struct sched_config *c)
{
    mem_arg = flag_or_env(mem_arg, "HEARTH_MAX_MEMORY", NULL);
    if (mem_arg && (estimate_parse_size(mem_arg, &c->max_memory) || c->max_memory == 0)) {
        cli_error("invalid max-memory '%s' (expected a size like 6GiB or 800MB)", mem_arg);
        return -1;
    }
    if (count_option(
            flag_or_env(max_loaded_arg, "HEARTH_MAX_LOADED_MODELS", "OLLAMA_MAX_LOADED_MODELS"),
            "max-loaded-models", 1024, &c->max_loaded) ||
        count_option(flag_or_env(queue_arg, "HEARTH_MAX_QUEUE", "OLLAMA_MAX_QUEUE"), "max-queue",
                     1 << 20, &c->max_queue))
        return -1;
    if (duration_option("HEARTH_LOAD_TIMEOUT", &c->load_timeout_ms) ||
        duration_option("HEARTH_STALL_TIMEOUT", &c->stall_timeout_ms))
        return -1;
    /* A request that needs the place of models in use waits for them as long as a load may
     * take (0: no load timeout, so it waits as long as they run). */
    c->busy_wait_ms = c->load_timeout_ms > 0 ? c->load_timeout_ms : INT64_MAX / 4;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    const char *host_arg = NULL, *keep_arg = NULL, *model_arg = NULL, *parallel_arg = NULL,
               *preset_arg = NULL, *mem_arg = NULL, *max_loaded_arg = NULL, *queue_arg = NULL;
    char **dirs = xcalloc((size_t)argc + 64, sizeof(char *));
    int n_dirs = 0, status = 1, no_metrics = 0, no_webui = 0;
    struct serve_secure sec = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!a)
            break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage();
            free(dirs);
            return 0;
        } else if (!strcmp(a, "--host") && v) {
            host_arg = v;
            i++;
        } else if (!strcmp(a, "--models-dir") && v) {
            dirs[n_dirs++] = (char *)v;
            i++;
        } else if (!strcmp(a, "--keep-alive") && v) {
            keep_arg = v;
            i++;
        } else if ((!strcmp(a, "--parallel") || !strcmp(a, "-np")) && v) {
            parallel_arg = v;
            i++;
        } else if (!strcmp(a, "--models-preset") && v) {
            preset_arg = v;
            i++;
        } else if (!strcmp(a, "--max-memory") && v) {
            mem_arg = v;
            i++;
        } else if (!strcmp(a, "--max-loaded-models") && v) {
            max_loaded_arg = v;
            i++;
        } else if (!strcmp(a, "--max-queue") && v) {
            queue_arg = v;
            i++;
        } else if (!strcmp(a, "--no-metrics")) {
            no_metrics = 1;
        } else if (!strcmp(a, "--insecure-no-auth")) {
            sec.insecure_no_auth = 1;
        } else if (!strcmp(a, "--api-key") && v) {
            sec.api_key_arg = v;
            i++;
        } else if (!strcmp(a, "--api-key-file") && v) {
            sec.api_key_file = v;
            i++;
        } else if (!strcmp(a, "--ssl-cert-file") && v) {
            sec.ssl_cert_arg = v;
            i++;
        } else if (!strcmp(a, "--ssl-key-file") && v) {
            sec.ssl_key_arg = v;
            i++;
        } else if (!strcmp(a, "--max-body") && v) {
            sec.max_body_arg = v;
            i++;
        } else if (!strcmp(a, "--timeout") && v) {
            sec.timeout_arg = v;
            i++;
        } else if (!strcmp(a, "--no-webui")) {
            no_webui = 1;
        } else if ((!strcmp(a, "--model") || !strcmp(a, "-m")) && v) {
            model_arg = v;
            i++;
        } else if (!strcmp(a, "--host") || !strcmp(a, "--models-dir") ||
                   !strcmp(a, "--keep-alive") || !strcmp(a, "--model") || !strcmp(a, "-m") ||
                   !strcmp(a, "--parallel") || !strcmp(a, "-np") || !strcmp(a, "--models-preset") ||
                   !strcmp(a, "--max-memory") || !strcmp(a, "--max-loaded-models") ||
                   !strcmp(a, "--max-queue") || !strcmp(a, "--api-key") ||
                   !strcmp(a, "--api-key-file") || !strcmp(a, "--ssl-cert-file") ||
                   !strcmp(a, "--ssl-key-file") || !strcmp(a, "--max-body") ||
                   !strcmp(a, "--timeout")) {
            cli_error("%s needs a value", a);
            free(dirs);
            return 2;
        } else {
            cli_error("unknown flag '%s' (see hearth serve --help)", a);
            free(dirs);
            return 2;
        }
    }
    char *env_dirs = NULL;
    if (n_dirs == 0 && getenv("HEARTH_MODELS_DIR")) {
        env_dirs = xstrdup(getenv("HEARTH_MODELS_DIR"));
        char *save = NULL;
        for (char *d = strtok_r(env_dirs, ":", &save); d && n_dirs < 64;
             d = strtok_r(NULL, ":", &save))
            dirs[n_dirs++] = d;
    }
    if (!host_arg)
        host_arg = getenv("HEARTH_HOST");
    if (!host_arg)
        host_arg = getenv("OLLAMA_HOST");
    char host[256];
    uint16_t port;
    if (cli_parse_host(host_arg ? host_arg : "127.0.0.1", host, sizeof host, &port)) {
        cli_error("invalid host '%s' (expected HOST[:PORT])", host_arg);
        goto out;
    }
    if (!keep_arg)
        keep_arg = getenv("HEARTH_KEEP_ALIVE");
    if (!keep_arg)
        keep_arg = getenv("OLLAMA_KEEP_ALIVE");
    int64_t keep_ms = (int64_t)5 * 60 * 1000;
    if (keep_arg && sched_parse_keep_alive(keep_arg, &keep_ms)) {
        cli_error("invalid keep-alive '%s' (expected a duration like 5m or 1h)", keep_arg);
        goto out;
    }
    if (!parallel_arg)
        parallel_arg = getenv("HEARTH_NUM_PARALLEL");
    if (!parallel_arg)
        parallel_arg = getenv("OLLAMA_NUM_PARALLEL");
    int64_t parallel = 4;
    if (parallel_arg && *parallel_arg &&
        (parse_i64(parallel_arg, &parallel) || parallel < 1 || parallel > 256)) {
        cli_error("invalid parallel '%s' (expected a number of slots from 1 to 256)", parallel_arg);
        goto out;
    }
    struct sched_config scfg_sched;
    sched_config_init(&scfg_sched, keep_ms);
    if (sched_options(mem_arg, max_loaded_arg, queue_arg, &scfg_sched))
        goto out;
    if (!preset_arg)
        preset_arg = getenv("HEARTH_MODELS_PRESET");
    char preset_path[4096];
    if (check_presets(preset_arg, preset_path, sizeof preset_path))
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
    char prompt_dir[4096];
    if (!getenv("HEARTH_PROMPT_CACHE_DIR")) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(prompt_dir, sizeof prompt_dir, "%s/hearth/prompts", xdg);
        else
            snprintf(prompt_dir, sizeof prompt_dir, "%s/.cache/hearth/prompts",
                     home ? home : "/tmp");
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", prompt_dir);
        for (char *p = parent + 1; *p; p++) /* mkdir -p */
            if (*p == '/') {
                *p = '\0';
                mkdir(parent, 0700);
                *p = '/';
            }
        mkdir(prompt_dir, 0700);
        setenv("HEARTH_PROMPT_CACHE_DIR", prompt_dir, 1);
    }

    struct api_ctx ctx = {0};
    struct store_config scfg = {.dirs = dirs, .n_dirs = n_dirs, .presets = preset_path};
    ctx.store = store_init(&scfg);
    log_info("msg=\"model sources\" folders=%d ollama=%s hf=%s", n_dirs,
             log_q(store_ollama_root(ctx.store)), log_q(store_hf_hub(ctx.store)));
    scfg_sched.waiter_gone = client_gone;
    ctx.sched = sched_new(&scfg_sched);
    ctx.num_parallel = (int32_t)parallel;
    ctx.webui = !no_webui;
    const char *strict = getenv("HEARTH_STRICT_OPTIONS");
    ctx.strict_options = strict && strcmp(strict, "0") != 0 && *strict;
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
        .idle_timeout_s = 60,
        .on_complete = metrics_request,
    };
    struct http_server *srv;
    struct err e = {0};
    serve_secure_redact(ctx.store);
    if (serve_secure_setup(&sec, host, &cfg) || http_start(&cfg, &srv, &e)) {
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
             http_port(srv), n_dirs, (long long)keep_ms, log_q(preset_path));
    /* Tests and scripts read the port from this line when they ask for port 0. */
    fprintf(stderr, "hearth: listening on %s:%u\n", host, http_port(srv));

    int sig = 0;
    sigwait(&set, &sig);
    log_info("msg=\"shutting down\" signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ctx.shutting_down = 1;
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
    free(env_dirs);
    free(dirs);
    return status;
}
