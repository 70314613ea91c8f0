/* The settings table of `hearth serve` and what is made of it: flag parsing, the environment
 * fallback, --help and the completion's flag list. See settings.h. */
#include "cli/serve_settings.h"

#include "base/util.h"
#include "cli/cli.h"
#include "engine/estimate.h"
#include "net/http.h"
#include "sched/sched.h"
#include "store/layout.h"
#include "store/preset.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 64

/* The order is the order of --help. Defaults are written as users type them; serve_settings_read
 * parses those of INT, SIZE and DURATION settings with the same checks as a given value, and
 * tests/unit/test_serve_settings.c checks they agree with the constants the code uses. */
const struct setting serve_settings_table[SETTING_COUNT] = {
    [SETTING_HOST] = {.name = "host",
                      .flag = "--host",
                      .arg = "HOST[:PORT]",
                      .env = {"HEARTH_HOST", "OLLAMA_HOST"},
                      .def = "127.0.0.1:11434",
                      .kind = SETTING_KIND_HOST,
                      .expected = "HOST[:PORT]",
                      .help = "address to listen on; the client commands connect to it too"},
    [SETTING_MODELS_DIR] =
        {.name = "models-dir",
         .flag = "--models-dir",
         .arg = "DIR",
         .env = {"HEARTH_MODELS_DIR"},
         .kind = SETTING_KIND_LIST,
         .choices = ":",
         .help = "a folder of .gguf files, repeatable (the variable: ':'-separated); "
                 "a file's stem is the model's name"},
    [SETTING_MODELS_PRESET] =
        {.name = "models-preset",
         .flag = "--models-preset",
         .arg = "FILE",
         .env = {"HEARTH_MODELS_PRESET"},
         .def = "$XDG_CONFIG_HOME/hearth/presets.ini, else "
                "~/.config/hearth/presets.ini",
         .kind = SETTING_KIND_PATH,
         .help = "presets in llama-server's INI format, re-read when it changes; a "
                 "file named must exist, a missing default file is no presets"},
    [SETTING_MODEL] =
        {.name = "model",
         .flag = "--model",
         .short_flag = "-m",
         .arg = "NAME",
         .kind = SETTING_KIND_TEXT,
         .help = "a default model: loaded at start (GET /health answers 503 until it is), "
                 "kept loaded, and used by the llama-server routes when a request names "
                 "none"},
    [SETTING_KEEP_ALIVE] = {.name = "keep-alive",
                            .flag = "--keep-alive",
                            .arg = "DURATION",
                            .env = {"HEARTH_KEEP_ALIVE", "OLLAMA_KEEP_ALIVE"},
                            .def = "5m",
                            .kind = SETTING_KIND_DURATION,
                            .min = INT64_MIN,
                            .expected = "a duration like 5m or 1h",
                            .help =
                                "how long an idle model stays loaded; negative keeps it forever"},
    [SETTING_PARALLEL] =
        {.name = "parallel",
         .flag = "--parallel",
         .short_flag = "-np",
         .arg = "N",
         .env = {"HEARTH_NUM_PARALLEL", "OLLAMA_NUM_PARALLEL"},
         .def = "4",
         .kind = SETTING_KIND_INT,
         .min = 1,
         .max = 256,
         .expected = "a number of slots from 1 to 256",
         .help = "requests each model serves at once, each in a slot of num_ctx tokens; "
                 "more wait in a queue"},
    [SETTING_MAX_MEMORY] =
        {.name = "max-memory",
         .flag = "--max-memory",
         .arg = "SIZE",
         .env = {"HEARTH_MAX_MEMORY"},
         .def = "what /proc/meminfo calls available",
         .kind = SETTING_KIND_SIZE,
         .min = 1,
         .max = INT64_MAX,
         .expected = "a size like 6GiB or 800MB",
         .help = "memory the loaded models may take in all, e.g. 6GiB or 800MB; idle "
                 "models are unloaded to make room, and a model that cannot fit is "
                 "answered 507"},
    [SETTING_MAX_LOADED_MODELS] = {.name = "max-loaded-models",
                                   .flag = "--max-loaded-models",
                                   .arg = "N",
                                   .env = {"HEARTH_MAX_LOADED_MODELS", "OLLAMA_MAX_LOADED_MODELS"},
                                   .def = "3",
                                   .kind = SETTING_KIND_INT,
                                   .max = 1024,
                                   .expected = "a number from 0 to 1024",
                                   .help = "models loaded at once at most (0: no cap)"},
    [SETTING_MAX_QUEUE] = {.name = "max-queue",
                           .flag = "--max-queue",
                           .arg = "N",
                           .env = {"HEARTH_MAX_QUEUE", "OLLAMA_MAX_QUEUE"},
                           .def = "512",
                           .kind = SETTING_KIND_INT,
                           .max = 1 << 20,
                           .expected = "a number from 0 to 1048576",
                           .help =
                               "requests that may wait for a model or a slot (0: no cap); more are "
                               "answered 503 with Retry-After"},
    [SETTING_NO_METRICS] = {.name = "no-metrics",
                            .flag = "--no-metrics",
                            .kind = SETTING_KIND_SWITCH,
                            .help = "do not serve GET /metrics (Prometheus)"},
    [SETTING_NO_WEBUI] = {.name = "no-webui",
                          .flag = "--no-webui",
                          .kind = SETTING_KIND_SWITCH,
                          .help = "do not serve the web UI (GET / in a browser, /ui/)"},
    [SETTING_API_KEY] =
        {.name = "api-key",
         .flag = "--api-key",
         .arg = "KEY",
         .env = {"HEARTH_API_KEY"},
         .kind = SETTING_KIND_TEXT,
         .flags = SETTING_SECRET,
         .help = "require this key (the flag: comma-separated, several; the variable: "
                 "one key, which the client commands send too) on every route but /, "
                 "/ui/*, /health and /v1/health, sent as 'Authorization: Bearer KEY' or "
                 "'X-Api-Key: KEY'"},
    [SETTING_API_KEY_FILE] = {.name = "api-key-file",
                              .flag = "--api-key-file",
                              .arg = "FILE",
                              .kind = SETTING_KIND_PATH,
                              .help =
                                  "keys one per line ('#' comments); the file must not be readable "
                                  "by group or others (chmod 600)"},
    [SETTING_INSECURE_NO_AUTH] = {.name = "insecure-no-auth",
                                  .flag = "--insecure-no-auth",
                                  .kind = SETTING_KIND_SWITCH,
                                  .help = "allow a non-loopback --host without any key (refused "
                                          "otherwise: anyone who reaches the port could use it)"},
    [SETTING_SSL_CERT_FILE] = {.name = "ssl-cert-file",
                               .flag = "--ssl-cert-file",
                               .arg = "FILE",
                               .env = {"HEARTH_SSL_CERT_FILE"},
                               .kind = SETTING_KIND_PATH,
                               .help = "serve HTTPS with this PEM certificate (chain)"},
    [SETTING_SSL_KEY_FILE] = {.name = "ssl-key-file",
                              .flag = "--ssl-key-file",
                              .arg = "FILE",
                              .env = {"HEARTH_SSL_KEY_FILE"},
                              .kind = SETTING_KIND_PATH,
                              .help = "and this PEM private key"},
    [SETTING_MAX_BODY] =
        {.name = "max-body",
         .flag = "--max-body",
         .arg = "SIZE",
         .env = {"HEARTH_MAX_BODY"},
         .def = "16MiB",
         .kind = SETTING_KIND_SIZE,
         .min = 1024,
         .max = (int64_t)1 << 32,
         .expected = "a size from 1KiB to 4GiB, e.g. 16MiB",
         .help = "largest request body (blob uploads are streamed and not bound by it)"},
    [SETTING_TIMEOUT] = {.name = "timeout",
                         .flag = "--timeout",
                         .arg = "SECONDS",
                         .env = {"HEARTH_TIMEOUT"},
                         .def = "60",
                         .kind = SETTING_KIND_INT,
                         .min = 1,
                         .max = 86400,
                         .expected = "seconds from 1 to 86400",
                         .help = "close a connection that sends nothing this long between "
                                 "requests or while sending a body"},
    [SETTING_HEADER_TIMEOUT] = {.name = "header-timeout",
                                .flag = "--header-timeout",
                                .arg = "SECONDS",
                                .env = {"HEARTH_HEADER_TIMEOUT"},
                                .def = "10",
                                .kind = SETTING_KIND_INT,
                                .min = 1,
                                .max = 3600,
                                .expected = "seconds from 1 to 3600",
                                .help = "close a new connection whose request line and headers "
                                        "are not all in this long after it opened, however "
                                        "they trickle"},
    [SETTING_WRITE_TIMEOUT] = {.name = "write-timeout",
                               .flag = "--write-timeout",
                               .arg = "SECONDS",
                               .env = {"HEARTH_WRITE_TIMEOUT"},
                               .def = "60",
                               .kind = SETTING_KIND_INT,
                               .min = 1,
                               .max = 86400,
                               .expected = "seconds from 1 to 86400",
                               .help = "cut off a client that takes no bytes of an answer this "
                                       "long (its generation stops)"},

    [SETTING_LOAD_TIMEOUT] = {.name = "load-timeout",
                              .arg = "DURATION",
                              .env = {"HEARTH_LOAD_TIMEOUT"},
                              .def = "5m",
                              .kind = SETTING_KIND_DURATION,
                              .expected = "a duration like 5m or 30s, or seconds",
                              .help =
                                  "stops a worker whose model takes longer to load (0 disables); "
                                  "a request waits as long for models in use to make room"},
    [SETTING_STALL_TIMEOUT] =
        {.name = "stall-timeout",
         .arg = "DURATION",
         .env = {"HEARTH_STALL_TIMEOUT"},
         .def = "5m",
         .kind = SETTING_KIND_DURATION,
         .expected = "a duration like 5m or 30s, or seconds",
         .help = "kills a worker that sends nothing that long while requests wait "
                 "on it (0 disables; a worker sends nothing while it reads a "
                 "prompt: keep it above the longest prompt's time)"},
    [SETTING_STRICT_OPTIONS] = {.name = "strict-options",
                                .arg = "1",
                                .env = {"HEARTH_STRICT_OPTIONS"},
                                .def = "0",
                                .kind = SETTING_KIND_BOOL,
                                .help =
                                    "answers unknown request options with 400 instead of a warning "
                                    "(any value but 0)"},
    [SETTING_ALLOWED_HOSTS] = {.name = "allowed-hosts",
                               .arg = "NAMES",
                               .env = {"HEARTH_ALLOWED_HOSTS"},
                               .kind = SETTING_KIND_TEXT,
                               .help =
                                   "while bound to loopback, a Host header that is not a loopback "
                                   "name, an address or the machine's name is refused (403; DNS "
                                   "rebinding) unless listed here: comma-separated names, "
                                   "\".example.org\" for every name under it"},
    [SETTING_ORIGINS] = {.name = "origins",
                         .arg = "PATTERNS",
                         .env = {"HEARTH_ORIGINS", "OLLAMA_ORIGINS"},
                         .kind = SETTING_KIND_TEXT,
                         .flags = SETTING_ADDS,
                         .help =
                             "browser pages of origins other than localhost's are refused (403) "
                             "unless listed: comma-separated patterns like https://app.example.org "
                             "or chrome-extension://*, \"*\" for any; both variables add"},
    [SETTING_LOG_LEVEL] = {.name = "log-level",
                           .arg = "LEVEL",
                           .env = {"HEARTH_LOG_LEVEL"},
                           .def = "info",
                           .kind = SETTING_KIND_CHOICE,
                           .expected = "debug, info, warn, error or off",
                           .choices = "debug info warn error off",
                           .flags = SETTING_LENIENT,
                           .help = "the least level logged (logfmt lines on stderr)"},
    [SETTING_PROMPT_CACHE_DIR] =
        {.name = "prompt-cache-dir",
         .arg = "DIR",
         .env = {"HEARTH_PROMPT_CACHE_DIR"},
         .def = "$XDG_CACHE_HOME/hearth/prompts, else ~/.cache/hearth/prompts",
         .kind = SETTING_KIND_PATH,
         .help = "where workers keep long prompts pushed out of their slot, "
                 "across model unloads (\"off\" disables)"},
    [SETTING_PROMPT_CACHE_RAM_MB] = {.name = "prompt-cache-ram-mb",
                                     .arg = "MB",
                                     .env = {"HEARTH_PROMPT_CACHE_RAM_MB"},
                                     .def = "512",
                                     .kind = SETTING_KIND_INT,
                                     .max = 1 << 20,
                                     .expected = "a number of MiB from 0 to 1048576",
                                     .flags = SETTING_LENIENT,
                                     .help =
                                         "how much of the prompt cache each worker keeps in RAM "
                                         "before the directory (0: straight to the directory)"},
    [SETTING_PROMPT_CACHE_MAX_MB] = {.name = "prompt-cache-max-mb",
                                     .arg = "MB",
                                     .env = {"HEARTH_PROMPT_CACHE_MAX_MB"},
                                     .def = "1024",
                                     .kind = SETTING_KIND_INT,
                                     .max = 1 << 20,
                                     .expected = "a number of MiB from 0 to 1048576",
                                     .flags = SETTING_LENIENT,
                                     .help =
                                         "the prompt cache directory's cap; least recently used "
                                         "files go first"},
    [SETTING_MAX_BLOB_GB] = {.name = "max-blob-gb",
                             .arg = "GB",
                             .env = {"HEARTH_MAX_BLOB_GB"},
                             .def = "512",
                             .kind = SETTING_KIND_INT,
                             .max = INT64_MAX,
                             .expected = "a whole number of GB",
                             .flags = SETTING_LENIENT,
                             .help = "the largest blob one upload (POST /api/blobs) may "
                                     "send"},
    [SETTING_OLLAMA_MODELS] =
        {.name = "ollama-models",
         .arg = "DIR",
         .env = {"OLLAMA_MODELS"},
         .def = "~/.ollama/models",
         .kind = SETTING_KIND_PATH,
         .help = "Ollama's store: its models are served, and pulls from an Ollama "
                 "registry go there"},
    [SETTING_HF_HUB_CACHE] = {.name = "hf-hub-cache",
                              .arg = "DIR",
                              .env = {"HF_HUB_CACHE"},
                              .def = "$HF_HOME/hub, else ~/.cache/huggingface/hub",
                              .kind = SETTING_KIND_PATH,
                              .help =
                                  "the Hugging Face cache: its models are served, and pulls from "
                                  "Hugging Face go there"},
    [SETTING_HF_ENDPOINT] = {.name = "hf-endpoint",
                             .arg = "URL",
                             .env = {"HF_ENDPOINT"},
                             .def = "https://huggingface.co",
                             .kind = SETTING_KIND_TEXT,
                             .help = "where Hugging Face pulls go (a mirror)"},
    [SETTING_HF_TOKEN] = {.name = "hf-token",
                          .arg = "TOKEN",
                          .env = {"HF_TOKEN"},
                          .kind = SETTING_KIND_TEXT,
                          .flags = SETTING_SECRET,
                          .help = "sent to Hugging Face for gated and private repositories"},
    [SETTING_HF_HUB_OFFLINE] = {.name = "hf-hub-offline",
                                .arg = "1",
                                .env = {"HF_HUB_OFFLINE"},
                                .kind = SETTING_KIND_TEXT,
                                .help = "1, true, yes or on: pulls from Hugging Face are refused"},
    [SETTING_OLLAMA_REGISTRY] = {.name = "ollama-registry",
                                 .arg = "URL",
                                 .env = {"HEARTH_OLLAMA_REGISTRY"},
                                 .def = "https://registry.ollama.ai",
                                 .kind = SETTING_KIND_TEXT,
                                 .help = "the Ollama registry pulls of NAME:TAG use"},
    [SETTING_PULL_RETRIES] = {.name = "pull-retries",
                              .arg = "N",
                              .env = {"HEARTH_PULL_RETRIES"},
                              .def = "5",
                              .kind = SETTING_KIND_INT,
                              .min = 1,
                              .max = 100,
                              .expected = "a number from 1 to 100",
                              .flags = SETTING_LENIENT,
                              .help = "attempts of a download before a pull fails"},
    [SETTING_PULL_STALL_S] = {.name = "pull-stall-s",
                              .arg = "SECONDS",
                              .env = {"HEARTH_PULL_STALL_S"},
                              .def = "30",
                              .kind = SETTING_KIND_INT,
                              .min = 1,
                              .max = 3600,
                              .expected = "seconds from 1 to 3600",
                              .flags = SETTING_LENIENT,
                              .help = "a download that receives nothing this long is retried"},
    [SETTING_PULL_SEGMENTS] = {.name = "pull-segments",
                               .arg = "N",
                               .env = {"HEARTH_PULL_SEGMENTS"},
                               .def = "4",
                               .kind = SETTING_KIND_INT,
                               .min = 1,
                               .max = 16,
                               .expected = "a number from 1 to 16",
                               .flags = SETTING_LENIENT,
                               .help = "connections that download one large file"},
    [SETTING_PULL_SEGMENT_MIN_MB] = {.name = "pull-segment-min-mb",
                                     .arg = "MB",
                                     .env = {"HEARTH_PULL_SEGMENT_MIN_MB"},
                                     .def = "64",
                                     .kind = SETTING_KIND_INT,
                                     .min = 1,
                                     .max = 1 << 20,
                                     .expected = "a number of MiB from 1 to 1048576",
                                     .flags = SETTING_LENIENT,
                                     .help = "files smaller than this many MiB per segment are "
                                             "downloaded over fewer connections"},
};

/* ---- checking a value ---- */

/* Checks text as setting t expects; 0 and *num, or -1. */
static int check(const struct setting *t, const char *text, int64_t *num)
{
    *num = 0;
    switch (t->kind) {
    case SETTING_KIND_HOST: {
        char host[256];
        unsigned short port;
        return cli_parse_host(text, host, sizeof host, &port) ? -1 : 0;
    }
    case SETTING_KIND_DURATION: return sched_parse_keep_alive(text, num) || *num < t->min ? -1 : 0;
    case SETTING_KIND_SIZE: {
        uint64_t b;
        if (estimate_parse_size(text, &b) || b < (uint64_t)t->min || b > (uint64_t)t->max)
            return -1;
        *num = (int64_t)b;
        return 0;
    }
    case SETTING_KIND_INT: return parse_i64(text, num) || *num < t->min || *num > t->max ? -1 : 0;
    case SETTING_KIND_BOOL: *num = *text && strcmp(text, "0") != 0; return 0;
    case SETTING_KIND_CHOICE: {
        size_t n = strlen(text);
        for (const char *c = t->choices; *c;) {
            size_t w = strcspn(c, " ");
            if (w == n && !strncmp(c, text, n))
                return 0;
            c += w + (c[w] == ' ');
        }
        return -1;
    }
    default: return 0;
    }
}

/* The name a bad value is reported under: the flag's name, else the variable. */
static const char *report_name(const struct setting *t)
{
    return t->flag ? t->name : t->env[0];
}

static void set_list(struct setting_value *v, const char *text, const char *sep)
{
    char *copy = xstrdup(text), *save = NULL;
    for (char *d = strtok_r(copy, sep, &save); d && v->list.n < LIST_MAX;
         d = strtok_r(NULL, sep, &save))
        strlist_add(&v->list, d);
    free(copy);
}

/* The variables of t: the first set (or, for SETTING_ADDS, all joined) into v. */
static void from_env(const struct setting *t, struct setting_value *v)
{
    if (t->flags & SETTING_ADDS) {
        char joined[8192] = "", from[sizeof v->from_buf] = "";
        for (int i = 0; i < 2 && t->env[i]; i++) {
            const char *e = getenv(t->env[i]);
            if (!e || !*e)
                continue;
            size_t j = strlen(joined), f = strlen(from);
            snprintf(joined + j, sizeof joined - j, "%s%s", j ? "," : "", e);
            snprintf(from + f, sizeof from - f, "%s%s", f ? "+" : "", t->env[i]);
        }
        if (joined[0]) {
            v->own = xstrdup(joined);
            v->text = v->own;
            snprintf(v->from_buf, sizeof v->from_buf, "%s", from);
            v->from = v->from_buf;
            v->source = SETTING_FROM_ENV;
        }
        return;
    }
    for (int i = 0; i < 2 && t->env[i]; i++) {
        const char *e = getenv(t->env[i]);
        if (e && *e) {
            v->text = e;
            v->from = t->env[i];
            v->source = SETTING_FROM_ENV;
            return;
        }
    }
}

static int finish(const struct setting *t, struct setting_value *v)
{
    if (t->kind == SETTING_KIND_LIST) {
        if (v->source == SETTING_FROM_ENV)
            set_list(v, v->text, t->choices);
        return 0;
    }
    if (v->source == SETTING_FROM_FLAG && t->kind == SETTING_KIND_SWITCH) {
        v->num = 1;
        return 0;
    }
    if (!v->text) {
        /* the default, where it is a value (not a description) */
        if (t->def && check(t, t->def, &v->num))
            v->num = 0;
        return 0;
    }
    if (!check(t, v->text, &v->num))
        return 0;
    if (t->flags & SETTING_LENIENT) {
        char why[512];
        snprintf(why, sizeof why, "%s='%s' is not %s; the default is used", v->from, v->text,
                 t->expected);
        v->ignored = xstrdup(why);
        v->text = NULL;
        v->from = NULL;
        v->source = SETTING_FROM_DEFAULT;
        return finish(t, v);
    }
    if (v->source == SETTING_FROM_ENV && t->flag)
        cli_error("invalid %s '%s' in %s (expected %s)", report_name(t), v->text, v->from,
                  t->expected);
    else
        cli_error("invalid %s '%s' (expected %s)", report_name(t), v->text, t->expected);
    return 2;
}

/* The setting whose flag is a, or -1. */
static int find_flag(const char *a)
{
    for (int i = 0; i < SETTING_COUNT; i++) {
        const struct setting *t = &serve_settings_table[i];
        if ((t->flag && !strcmp(a, t->flag)) || (t->short_flag && !strcmp(a, t->short_flag)))
            return i;
    }
    return -1;
}

int serve_settings_read(struct settings *s, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < argc && argv[i]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return SERVE_SETTINGS_HELP;
        int id = find_flag(a);
        if (id < 0) {
            cli_error("unknown flag '%s' (see hearth serve --help)", a);
            return 2;
        }
        const struct setting *t = &serve_settings_table[id];
        struct setting_value *v = &s->v[id];
        v->source = SETTING_FROM_FLAG;
        v->from = a;
        if (t->kind == SETTING_KIND_SWITCH)
            continue;
        if (i + 1 >= argc || !argv[i + 1]) {
            cli_error("%s needs a value", a);
            return 2;
        }
        v->text = argv[++i];
        if (t->kind == SETTING_KIND_LIST)
            strlist_add(&v->list, v->text);
    }
    for (int id = 0; id < SETTING_COUNT; id++) {
        struct setting_value *v = &s->v[id];
        if (v->source == SETTING_FROM_DEFAULT)
            from_env(&serve_settings_table[id], v);
        int rc = finish(&serve_settings_table[id], v);
        if (rc)
            return rc;
    }
    return 0;
}

void serve_settings_free(struct settings *s)
{
    for (int i = 0; i < SETTING_COUNT; i++) {
        strlist_free(&s->v[i].list);
        free(s->v[i].ignored);
        free(s->v[i].own);
    }
    memset(s, 0, sizeof *s);
}

/* ---- what is printed from the table ---- */

/* "[HEARTH_X, then OLLAMA_X; default D]" for setting t into out. */
static void where_from(const struct setting *t, int with_env, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    if (with_env && t->env[0])
        o += (size_t)snprintf(out + o, len - o, "%s%s%s", t->env[0],
                              t->env[1] ? (t->flags & SETTING_ADDS ? " and " : ", then ") : "",
                              t->env[1] ? t->env[1] : "");
    if (t->def && o < len)
        o += (size_t)snprintf(out + o, len - o, "%sdefault %s", o ? "; " : "", t->def);
    if (o && o + 3 < len) {
        memmove(out + 1, out, o + 1);
        out[0] = '[';
        out[o + 1] = ']';
        out[o + 2] = '\0';
    }
}

static void print_entry(FILE *out, const struct setting *t)
{
    char head[128], tail[512], text[2048];
    if (t->flag)
        snprintf(head, sizeof head, "%s%s%s%s%s", t->short_flag ? t->short_flag : "",
                 t->short_flag ? ", " : "", t->flag, t->arg ? " " : "", t->arg ? t->arg : "");
    else
        snprintf(head, sizeof head, "%s%s%s", t->env[0], t->env[1] ? ", " : "=",
                 t->env[1] ? t->env[1] : t->arg);
    where_from(t, t->flag != NULL, tail, sizeof tail);
    snprintf(text, sizeof text, "%s %s", t->help, tail);
    cli_wrap(out, head, 28, text);
}

void serve_settings_usage(FILE *out)
{
    fprintf(out,
            "Usage: hearth serve [flags]\n"
            "\n"
            "Serves the Ollama, OpenAI, Anthropic and llama-server APIs on 127.0.0.1:11434 and\n"
            "loads each model in a worker process on first use. Models are found in the\n"
            "--models-dir folders, Ollama's store and the Hugging Face cache (below).\n"
            "`hearth config` prints the value of each setting and where it came from.\n"
            "\n"
            "Flags (environment variables in brackets, the first set wins; a flag wins over its\n"
            "variables):\n");
    for (int i = 0; i < SETTING_COUNT; i++)
        if (serve_settings_table[i].flag)
            print_entry(out, &serve_settings_table[i]);
    cli_wrap(out, "-h, --help", 28, "print this help");
    fprintf(out, "\nEnvironment only (read by the server and the workers it starts):\n");
    for (int i = 0; i < SETTING_COUNT; i++)
        if (!serve_settings_table[i].flag)
            print_entry(out, &serve_settings_table[i]);
}

void serve_settings_flags(char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < SETTING_COUNT && o < len; i++) {
        const struct setting *t = &serve_settings_table[i];
        if (t->short_flag)
            o += (size_t)snprintf(out + o, len - o, "%s ", t->short_flag);
        if (t->flag && o < len)
            o += (size_t)snprintf(out + o, len - o, "%s ", t->flag);
    }
    if (o < len)
        snprintf(out + o, len - o, "--help");
}

void serve_settings_value(const struct settings *s, enum setting_id id, char *out, size_t len)
{
    const struct setting *t = &serve_settings_table[id];
    const struct setting_value *v = &s->v[id];
    out[0] = '\0';
    if (t->flags & SETTING_SECRET) {
        snprintf(out, len, "%s", v->text ? "(set, hidden)" : "");
        return;
    }
    if (t->kind == SETTING_KIND_LIST) {
        size_t o = 0;
        for (int i = 0; i < v->list.n && o < len; i++)
            o += (size_t)snprintf(out + o, len - o, "%s%s", i ? t->choices : "", v->list.v[i]);
        return;
    }
    if (t->kind == SETTING_KIND_SWITCH) {
        snprintf(out, len, "%s", v->num ? "on" : "off");
        return;
    }
    if (v->text) {
        snprintf(out, len, "%s", v->text);
        return;
    }
    /* Defaults that depend on the machine, as the code computes them. */
    switch (id) {
    case SETTING_MODELS_PRESET: preset_default_path(out, len); return;
    case SETTING_OLLAMA_MODELS: layout_ollama_root(out, len); return;
    case SETTING_HF_HUB_CACHE: layout_hf_hub(out, len); return;
    case SETTING_PROMPT_CACHE_DIR: {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(out, len, "%s/hearth/prompts", xdg);
        else
            snprintf(out, len, "%s/.cache/hearth/prompts", home ? home : "/tmp");
        return;
    }
    default: snprintf(out, len, "%s", t->def ? t->def : "");
    }
}
