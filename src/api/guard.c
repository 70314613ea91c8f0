/* What every request passes before its route: the Host check (DNS rebinding), CORS (Origin and
 * preflights) and API keys. It runs once the headers are in, before the body is read, so a
 * refused request costs no more than its headers.
 *
 * Order: Host (403), Origin (403), OPTIONS preflight (204), key (401). The refusals answer in
 * the shape of the API the path belongs to (api_error_for_path), so each client library shows
 * its own kind of error. */
#include "api/api.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define GUARD_MAX_LIST 64

static struct {
    char (*keys)[65]; /* SHA-256 of each key: compared in constant time, whatever the length */
    int n_keys;
    int check_host;
    char bind_host[256];
    char hostname[256];
    char *hosts[GUARD_MAX_LIST]; /* HEARTH_ALLOWED_HOSTS, lower case */
    int n_hosts;
    char *origins[GUARD_MAX_LIST]; /* HEARTH_ORIGINS and OLLAMA_ORIGINS: fnmatch patterns */
    int n_origins;
    int any_origin; /* one of them is "*" */
} guard;

/* Paths served without a key: health checks, and the web UI's page and files (the user types
 * the key into it); a trailing '*' is a prefix. */
static const char *const open_paths[] = {"/", "/health", "/v1/health", "/ui/*"};

/* Origins every browser page on this machine has (Ollama's defaults): any port of the
 * loopback names, and the schemes of local apps. */
static const char *const default_origins[] = {
    "http://localhost", "https://localhost", "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://[::1]",     "https://[::1]",     "http://[::1]:*",     "https://[::1]:*",
    "http://0.0.0.0",   "https://0.0.0.0",   "http://0.0.0.0:*",   "https://0.0.0.0:*",
    "app://*",          "file://*",          "tauri://*",          "vscode-webview://*",
};

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Splits a comma-separated list into out (trimmed, copied). */
static void add_list(const char *text, char **out, int *n, int lowercase)
{
    if (!text)
        return;
    char *copy = xstrdup(text);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && *n < GUARD_MAX_LIST;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t l = strlen(t);
        while (l && (t[l - 1] == ' ' || t[l - 1] == '\t' || t[l - 1] == '/'))
            t[--l] = '\0';
        if (!l)
            continue;
        out[*n] = xstrdup(t);
        if (lowercase)
            lower(out[*n]);
        (*n)++;
    }
    free(copy);
}

int api_guard_init(const struct api_guard_config *c, struct err *e)
{
    api_guard_free();
    if (c->n_keys > 0) {
        guard.keys = xcalloc((size_t)c->n_keys, sizeof *guard.keys);
        for (int i = 0; i < c->n_keys; i++) {
            if (!c->keys[i] || !*c->keys[i])
                return err_set(e, ERR_BAD_REQUEST, "an API key is empty");
            sha256_hex(c->keys[i], strlen(c->keys[i]), guard.keys[i]);
        }
        guard.n_keys = c->n_keys;
    }
    guard.check_host = c->check_host;
    snprintf(guard.bind_host, sizeof guard.bind_host, "%s", c->bind_host ? c->bind_host : "");
    lower(guard.bind_host);
    if (gethostname(guard.hostname, sizeof guard.hostname - 1))
        guard.hostname[0] = '\0';
    lower(guard.hostname);
    add_list(c->hosts, guard.hosts, &guard.n_hosts, 1);
    add_list(c->origins, guard.origins, &guard.n_origins, 0);
    for (int i = 0; i < guard.n_origins; i++)
        if (!strcmp(guard.origins[i], "*"))
            guard.any_origin = 1;
    return 0;
}

void api_guard_free(void)
{
    free(guard.keys);
    for (int i = 0; i < guard.n_hosts; i++)
        free(guard.hosts[i]);
    for (int i = 0; i < guard.n_origins; i++)
        free(guard.origins[i]);
    memset(&guard, 0, sizeof guard);
}

int api_guard_has_keys(void)
{
    return guard.n_keys > 0;
}

api_error_fn api_error_for_path(const char *path)
{
    if (!strncmp(path, "/api/", 5))
        return api_error;
    if (!strncmp(path, "/v1/messages", 12))
        return anthropic_error;
    if (!strncmp(path, "/v1/rerank", 10) || !strcmp(path, "/v1/health"))
        return llama_error;
    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/chat/completions"))
        return openai_error;
    return llama_error;
}

void api_too_large(const struct http_request *req, struct http_reply *rep, int code,
                   const char *msg)
{
    api_error_for_path(req->path)(rep, code, msg);
}

/* ---- Host ---- */

static int host_allowed(const char *value)
{
    char h[256];
    if (strlen(value) >= sizeof h)
        return 0;
    snprintf(h, sizeof h, "%s", value);
    lower(h);
    /* Strip the port: [v6]:port, name:port. A bare v6 address is not a valid Host. */
    char *name = h;
    if (h[0] == '[') {
        char *close = strchr(h, ']');
        if (!close || (close[1] && close[1] != ':'))
            return 0;
        *close = '\0';
        name = h + 1;
    } else {
        char *colon = strchr(h, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0';
    }
    size_t l = strlen(name);
    if (l && name[l - 1] == '.')
        name[--l] = '\0';
    if (!l)
        return 1;
    /* An address is never a rebinding: the attacker's page can only reach us under a name. */
    unsigned char addr[16];
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return 1;
    if (!strcmp(name, "localhost") || (l > 10 && !strcmp(name + l - 10, ".localhost")))
        return 1;
    if (!strcmp(name, guard.bind_host) || (guard.hostname[0] && !strcmp(name, guard.hostname)))
        return 1;
    for (int i = 0; i < guard.n_hosts; i++) {
        const char *a = guard.hosts[i];
        size_t al = strlen(a);
        if (!strcmp(a, "*") || !strcmp(a, name))
            return 1;
        /* ".example.com" allows every name under it. */
        if (a[0] == '.' && l > al && !strcmp(name + l - al, a))
            return 1;
    }
    return 0;
}

/* ---- Origin ---- */

static int origin_matches(const char *origin, const char *pattern)
{
    return fnmatch(pattern, origin, 0) == 0;
}

/* Same origin: the page was served by this server under the Host it now sends. */
static int same_origin(const char *origin, const char *host)
{
    if (!host)
        return 0;
    const char *rest = !strncasecmp(origin, "http://", 7)    ? origin + 7
                       : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                             : NULL;
    return rest && !strcasecmp(rest, host);
}

static int origin_allowed(const char *origin, const char *host)
{
    if (guard.any_origin || same_origin(origin, host))
        return 1;
    for (size_t i = 0; i < ARRAY_LEN(default_origins); i++)
        if (origin_matches(origin, default_origins[i]))
            return 1;
    for (int i = 0; i < guard.n_origins; i++)
        if (origin_matches(origin, guard.origins[i]))
            return 1;
    return 0;
}

/* Access-Control-Request-Headers is echoed when it is a plain list of header names. */
static int header_list_ok(const char *s)
{
    if (strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != ',' && *s != ' ')
            return 0;
    return 1;
}

/* ---- keys ---- */

static int key_valid(const char *key)
{
    char h[65];
    sha256_hex(key, strlen(key), h);
    unsigned found = 0;
    for (int i = 0; i < guard.n_keys; i++) {
        unsigned diff = 0;
        for (int j = 0; j < 64; j++)
            diff |= (unsigned)(h[j] ^ guard.keys[i][j]);
        found |= (unsigned)(diff == 0);
    }
    return found != 0;
}

/* The key a request carries: Authorization: Bearer KEY, else X-Api-Key. */
static const char *request_key(const struct http_request *req)
{
    const char *auth = http_header(req, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return auth;
    }
    return http_header(req, "X-Api-Key");
}

static int path_open(const char *path)
{
    for (size_t i = 0; i < ARRAY_LEN(open_paths); i++) {
        size_t l = strlen(open_paths[i]);
        if (open_paths[i][l - 1] == '*' ? !strncmp(path, open_paths[i], l - 1)
                                        : !strcmp(path, open_paths[i]))
            return 1;
    }
    return 0;
}

int api_guard(const struct http_request *req, struct http_reply *rep)
{
    api_error_fn fail = api_error_for_path(req->path);
    const char *host = http_header(req, "Host");
    if (guard.check_host && host && !host_allowed(host)) {
        log_warn("msg=\"refused a request for another host (DNS rebinding?)\" host=%s path=%s",
                 log_q(host), log_q(req->path));
        char msg[400];
        snprintf(msg, sizeof msg,
                 "host '%.200s' is not allowed: this server answers loopback names only; add "
                 "the name to HEARTH_ALLOWED_HOSTS to allow it",
                 host);
        fail(rep, ERR_FORBIDDEN, msg);
        return 1;
    }
    const char *origin = http_header(req, "Origin");
    if (origin) {
        if (!origin_allowed(origin, host)) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "origin '%.200s' is not allowed; add it to HEARTH_ORIGINS (or "
                     "OLLAMA_ORIGINS) to allow it",
                     origin);
            fail(rep, ERR_FORBIDDEN, msg);
            return 1;
        }
        /* No Access-Control-Allow-Credentials, ever: a page may send a key it holds itself,
         * but never the browser's cookies or auth. */
        http_reply_header(rep, "Access-Control-Allow-Origin", guard.any_origin ? "*" : origin);
        http_reply_header(rep, "Vary", "Origin");
    }
    if (!strcmp(req->method, "OPTIONS")) {
        const char *want = http_header(req, "Access-Control-Request-Headers");
        http_reply_header(rep, "Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
        http_reply_header(rep, "Access-Control-Allow-Headers",
                          want && header_list_ok(want)
                              ? want
                              : "Authorization, Content-Type, X-Api-Key, anthropic-version");
        http_reply_header(rep, "Access-Control-Max-Age", "600");
        rep->status = 204;
        return 1;
    }
    if (!guard.n_keys || path_open(req->path))
        return 0;
    const char *key = request_key(req);
    if (key && key_valid(key))
        return 0;
    http_reply_header(rep, "WWW-Authenticate", "Bearer");
    fail(rep, ERR_UNAUTHORIZED,
         key ? "invalid API key"
             : "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-Api-Key: "
               "KEY'");
    return 1;
}
