/* `hearth serve`'s security settings: API keys, the refusal of an open non-loopback bind, TLS
 * files, body and time limits, and the guard they configure (src/api/guard.c). */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cli/serve_settings.h"
#include "engine/estimate.h"
#include "net/http.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_FILE_MAX (1u << 20)
#define KEYS_MAX     1024
#define TLS_FILE_MAX (1u << 20)

static void add_key(struct serve_secure *s, const char *k, size_t n)
{
    while (n && (k[0] == ' ' || k[0] == '\t')) {
        k++;
        n--;
    }
    while (n && (k[n - 1] == ' ' || k[n - 1] == '\t' || k[n - 1] == '\r'))
        n--;
    if (!n || s->n_keys >= KEYS_MAX)
        return;
    s->keys = xrealloc(s->keys, (size_t)(s->n_keys + 1) * sizeof *s->keys);
    s->keys[s->n_keys++] = xstrndup(k, n);
}

/* Reads a whole regular file of at most max bytes (NUL-terminated, malloc'd), or NULL after
 * printing why. */
static char *read_small_file(const char *what, const char *path, size_t max, struct stat *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("cannot open the %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), st) || !S_ISREG(st->st_mode) || (size_t)st->st_size > max) {
        cli_error("the %s %s is not a regular file of at most %zu bytes", what, path, max);
        fclose(f);
        return NULL;
    }
    char *text = xmalloc((size_t)st->st_size + 1);
    size_t n = fread(text, 1, (size_t)st->st_size, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static int read_key_file(struct serve_secure *s, const char *path)
{
    struct stat st;
    char *text = read_small_file("API key file", path, KEY_FILE_MAX, &st);
    if (!text)
        return -1;
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        cli_error("the API key file %s may be read by other users (mode %03o); make it "
                  "private with: chmod 600 %s",
                  path, (unsigned)(st.st_mode & 0777), path);
        free(text);
        return -1;
    }
    int before = s->n_keys;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (line[0] != '#')
            add_key(s, line, n);
        line += n + (nl ? 1 : 0);
    }
    free(text);
    if (s->n_keys == before) {
        cli_error("the API key file %s has no key", path);
        return -1;
    }
    return 0;
}

int serve_secure_setup(struct serve_secure *s, const struct settings *set, const char *host,
                       struct http_config *cfg)
{
    const struct setting_value *v = set->v;
    const char *key_arg = v[SETTING_API_KEY].text;
    if (key_arg && v[SETTING_API_KEY].source == SETTING_FROM_FLAG) {
        for (const char *p = key_arg; *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            add_key(s, p, n);
            p += n + (comma ? 1 : 0);
        }
        if (!s->n_keys) {
            cli_error("--api-key is empty");
            return -1;
        }
    } else if (key_arg) { /* HEARTH_API_KEY: one key */
        add_key(s, key_arg, strlen(key_arg));
    }
    const char *key_file = v[SETTING_API_KEY_FILE].text;
    if (key_file && read_key_file(s, key_file))
        return -1;

    int loopback = http_host_is_loopback(host);
    if (!loopback && !s->n_keys) {
        if (!v[SETTING_INSECURE_NO_AUTH].num) {
            cli_error("refusing to listen on %s without an API key: anyone who can reach it could "
                      "use and change its models. Set a key with --api-key KEY, --api-key-file "
                      "FILE or HEARTH_API_KEY, or pass --insecure-no-auth to serve it open",
                      host);
            return -1;
        }
        fprintf(stderr,
                "hearth: WARNING: serving %s WITHOUT AUTHENTICATION (--insecure-no-auth): anyone "
                "who can reach this port can run, pull, create and delete models\n",
                host);
        log_warn("msg=\"serving a non-loopback address without authentication\" host=%s",
                 log_q(host));
    }

    const char *cert = v[SETTING_SSL_CERT_FILE].text, *key = v[SETTING_SSL_KEY_FILE].text;
    if (!cert != !key) {
        cli_error("HTTPS needs both --ssl-cert-file and --ssl-key-file");
        return -1;
    }
    if (cert) {
        if (!http_tls_supported()) {
            cli_error("this libmicrohttpd was built without TLS: HTTPS is not available");
            return -1;
        }
        struct stat st;
        s->cert_pem = read_small_file("certificate", cert, TLS_FILE_MAX, &st);
        if (!s->cert_pem)
            return -1;
        s->key_pem = read_small_file("private key", key, TLS_FILE_MAX, &st);
        if (!s->key_pem)
            return -1;
        cfg->tls_cert_pem = s->cert_pem;
        cfg->tls_key_pem = s->key_pem;
    }

    /* checked by serve_settings_read; the defaults too */
    cfg->max_body = (size_t)v[SETTING_MAX_BODY].num;
    cfg->idle_timeout_s = (unsigned)v[SETTING_TIMEOUT].num;
    cfg->header_timeout_s = (unsigned)v[SETTING_HEADER_TIMEOUT].num;
    cfg->write_timeout_s = (unsigned)v[SETTING_WRITE_TIMEOUT].num;

    /* Origins: both variables add to the defaults. */
    const char *origins = v[SETTING_ORIGINS].text ? v[SETTING_ORIGINS].text : "";
    struct api_guard_config g = {
        .keys = (const char *const *)s->keys,
        .n_keys = s->n_keys,
        .check_host = loopback,
        .bind_host = host,
        .hosts = v[SETTING_ALLOWED_HOSTS].text,
        .origins = origins,
    };
    struct err e = {0};
    if (api_guard_init(&g, &e)) {
        cli_error("%s", e.msg);
        return -1;
    }
    cfg->guard = api_guard;
    cfg->too_large = api_too_large;
    log_info("msg=\"access\" keys=%d host_check=%s tls=%s max_body=%zu timeout_s=%u "
             "header_timeout_s=%u write_timeout_s=%u",
             s->n_keys, loopback ? "on" : "off", cert ? "on" : "off",
             cfg->max_body ? cfg->max_body : (size_t)HTTP_DEFAULT_MAX_BODY, cfg->idle_timeout_s,
             cfg->header_timeout_s, cfg->write_timeout_s);
    return 0;
}

void serve_secure_redact(const struct store *st)
{
    const char *const *dirs;
    int n = store_dirs(st, &dirs);
    for (int i = 0; i < n; i++) {
        char real[PATH_MAX];
        api_redact_add(dirs[i], "");
        if (realpath(dirs[i], real))
            api_redact_add(real, "");
    }
    api_redact_add(store_ollama_root(st), "");
    api_redact_add(store_hf_hub(st), "");
    api_redact_add(getenv("HEARTH_PROMPT_CACHE_DIR"), "");
    const char *presets = store_presets_path(st);
    if (presets && strrchr(presets, '/')) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(presets, '/') - presets), presets);
        api_redact_add(dir, "");
    }
    api_redact_add(getenv("HOME"), "~");
}

void serve_secure_free(struct serve_secure *s)
{
    for (int i = 0; i < s->n_keys; i++) {
        explicit_bzero(s->keys[i], strlen(s->keys[i]));
        free(s->keys[i]);
    }
    free(s->keys);
    free(s->cert_pem);
    if (s->key_pem) {
        explicit_bzero(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    api_guard_free();
    api_redact_clear();
    memset(s, 0, sizeof *s);
}
