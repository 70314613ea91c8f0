/* The commands that talk to a running server about models: list, ps, show, rm, cp, stop.
 * Output columns follow Ollama's. */
#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "net/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_human_size(double bytes, char *out, size_t len)
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) {
        bytes /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, len, "%.*f %s", bytes < 10 ? 1 : 0, bytes, units[u]);
}

/* "3 minutes ago", "4 minutes from now", as Ollama words it. */
static void human_since(time_t t, char *out, size_t len)
{
    time_t now = time(NULL);
    const long min = 60, hour = 3600, day = 86400;
    long d = (long)(t > now ? t - now : now - t);
    const char *dir = t > now ? "from now" : "ago";
    if (d < min)
        snprintf(out, len, t > now ? "Less than a minute from now" : "Less than a minute ago");
    else if (d < 2 * min)
        snprintf(out, len, "About a minute %s", dir);
    else if (d < hour)
        snprintf(out, len, "%ld minutes %s", d / min, dir);
    else if (d < 2 * hour)
        snprintf(out, len, "About an hour %s", dir);
    else if (d < 2 * day)
        snprintf(out, len, "%ld hours %s", d / hour, dir);
    else if (d < 14 * day)
        snprintf(out, len, "%ld days %s", d / day, dir);
    else if (d < 60 * day)
        snprintf(out, len, "%ld weeks %s", d / (7 * day), dir);
    else if (d < 730 * day)
        snprintf(out, len, "%ld months %s", d / (30 * day), dir);
    else if (d > 365000 * day)
        snprintf(out, len, "Forever");
    else
        snprintf(out, len, "%ld years %s", d / (365 * day), dir);
}

static time_t parse_time(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

/* Calls the server; on success returns the parsed JSON body (or NULL for an empty one) and 0;
 * prints the error and returns 1 otherwise. */
static int call(const char *method, const char *path, json_t *body, json_t **out)
{
    char base[512];
    httpc_default_base(base, sizeof base);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct httpc_opts o = {.method = method, .body = text};
    struct buf resp;
    buf_init(&resp, 64u << 20);
    int status = 0;
    struct err e = {0};
    int rc = httpc_request(base, path, &o, &status, &resp, &e);
    free(text);
    if (rc) {
        cli_error("%s", e.msg);
        buf_free(&resp);
        return 1;
    }
    json_t *j = resp.len ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
    buf_free(&resp);
    if (status != 200) {
        json_t *err = json_object_get(j, "error");
        cli_error("%s", json_is_string(err) ? json_string_value(err) : "the server failed");
        json_decref(j);
        return 1;
    }
    *out = j;
    return 0;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* With --json, prints the server's answer as it is (and frees it) for scripts. */
static int print_json_if_asked(int argc, char **argv, json_t *r)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--json")) {
            json_dumpf(r, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(r);
            return 1;
        }
    return 0;
}

int cmd_list(int argc, char **argv)
{
    json_t *r;
    if (call("GET", "/api/tags", NULL, &r))
        return 1;
    if (print_json_if_asked(argc, argv, r))
        return 0;
    printf("%-40s %-14s %-10s %-8s %-8s %s\n", "NAME", "ID", "SIZE", "QUANT", "SOURCE", "MODIFIED");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "models"), i, m)
    {
        char size[32], mod[64];
        cli_human_size((double)json_integer_value(json_object_get(m, "size")), size, sizeof size);
        human_since(parse_time(jstr(m, "modified_at")), mod, sizeof mod);
        const char *quant = jstr(json_object_get(m, "details"), "quantization_level");
        printf("%-40s %-14.12s %-10s %-8s %-8s %s\n", jstr(m, "name"), jstr(m, "digest"), size,
               *quant ? quant : "-", *jstr(m, "source") ? jstr(m, "source") : "-", mod);
    }
    json_decref(r);
    return 0;
}

int cmd_ps(int argc, char **argv)
{
    json_t *r;
    if (call("GET", "/api/ps", NULL, &r))
        return 1;
    if (print_json_if_asked(argc, argv, r))
        return 0;
    printf("%-40s %-14s %-10s %-10s %-9s %-7s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT",
           "SLOTS", "UNTIL");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "models"), i, m)
    {
        char size[32], until[64], proc[32], slots[32] = "-";
        double total = (double)json_integer_value(json_object_get(m, "size"));
        double vram = (double)json_integer_value(json_object_get(m, "size_vram"));
        cli_human_size(total, size, sizeof size);
        human_since(parse_time(jstr(m, "expires_at")), until, sizeof until);
        /* hearth says it; an Ollama server leaves it to the client, which splits by size_vram. */
        if (json_is_string(json_object_get(m, "processor")))
            snprintf(proc, sizeof proc, "%s", jstr(m, "processor"));
        else if (vram <= 0 || total <= 0)
            snprintf(proc, sizeof proc, "100%% CPU");
        else if (vram >= total)
            snprintf(proc, sizeof proc, "100%% GPU");
        else
            snprintf(proc, sizeof proc, "%d%%/%d%% CPU/GPU", (int)(100 - vram * 100 / total + 0.5),
                     (int)(vram * 100 / total + 0.5));
        if (json_is_integer(json_object_get(m, "slots_total")))
            snprintf(slots, sizeof slots, "%lld/%lld",
                     (long long)json_integer_value(json_object_get(m, "slots_busy")),
                     (long long)json_integer_value(json_object_get(m, "slots_total")));
        printf("%-40s %-14.12s %-10s %-10s %-9lld %-7s %s\n", jstr(m, "name"), jstr(m, "digest"),
               size, proc, (long long)json_integer_value(json_object_get(m, "context_length")),
               slots, until);
    }
    json_decref(r);
    return 0;
}

int cmd_show(int argc, char **argv)
{
    const char *name = NULL, *part = NULL;
    int verbose = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--modelfile") || !strcmp(argv[i], "--parameters") ||
            !strcmp(argv[i], "--template") || !strcmp(argv[i], "--system") ||
            !strcmp(argv[i], "--license"))
            part = argv[i] + 2;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose = 1;
        else if (!strcmp(argv[i], "--json"))
            continue; /* print_json_if_asked */
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: hearth show MODEL [--modelfile|--parameters|--template|--system|"
                   "--license] [-v|--verbose] [--json]\n"
                   "--json prints the server's /api/show answer as it is, for scripts.\n"
                   "--parameters prints every parameter's effective value and where it came\n"
                   "from: default, gguf (general.sampling.*), [*], model (the model's own\n"
                   "parameters), section (its preset section).\n");
            return 0;
        } else if (argv[i][0] == '-') {
            cli_error("unknown flag '%s' (see hearth show --help)", argv[i]);
            return 2;
        } else if (!name)
            name = argv[i];
        else {
            cli_error("show takes one model");
            return 2;
        }
    }
    if (!name) {
        cli_error("missing MODEL (usage: hearth show MODEL)");
        return 2;
    }
    json_t *req = json_pack("{s:s, s:b}", "model", name, "verbose", verbose), *r;
    int rc = call("POST", "/api/show", req, &r);
    json_decref(req);
    if (rc)
        return 1;
    if (print_json_if_asked(argc, argv, r))
        return 0;
    json_t *hp = json_object_get(r, "hearth_parameters");
    if (part && !strcmp(part, "parameters") && json_is_array(hp)) {
        /* Every effective value and the layer it came from (hearth's extension of /api/show). */
        printf("%-24s %-28s %s\n", "PARAMETER", "VALUE", "SOURCE");
        size_t i;
        json_t *p;
        json_array_foreach(hp, i, p)
        {
            char *v = json_dumps(json_object_get(p, "value"),
                                 JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(7));
            printf("%-24s %-28.200s %s\n", jstr(p, "name"), v ? v : "", jstr(p, "source"));
            free(v);
        }
        json_decref(r);
        return 0;
    }
    if (part) {
        printf("%s", jstr(r, part));
        size_t n = strlen(jstr(r, part));
        if (n && jstr(r, part)[n - 1] != '\n')
            putchar('\n');
        json_decref(r);
        return 0;
    }
    json_t *d = json_object_get(r, "details"), *info = json_object_get(r, "model_info");
    const char *arch = jstr(d, "family");
    char key[160];
    json_t *remote = json_object_get(r, "remote");
    if (remote) {
        printf("  Remote\n");
        printf("    %-20s %s\n", "url", jstr(remote, "url"));
        printf("    %-20s %s\n", "model", jstr(remote, "model"));
        if (*jstr(remote, "api_key_env"))
            printf("    %-20s $%s\n", "api key", jstr(remote, "api_key_env"));
        printf("\n");
    }
    printf("  Model\n");
    if (remote) {
        printf("    %-20s %s\n\n", "source", jstr(r, "source"));
        goto capabilities;
    }
    printf("    %-20s %s\n", "architecture", arch);
    printf("    %-20s %s\n", "parameters", jstr(d, "parameter_size"));
    snprintf(key, sizeof key, "%s.context_length", arch);
    printf("    %-20s %lld\n", "context length",
           (long long)json_integer_value(json_object_get(info, key)));
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    printf("    %-20s %lld\n", "embedding length",
           (long long)json_integer_value(json_object_get(info, key)));
    printf("    %-20s %s\n", "quantization", jstr(d, "quantization_level"));
    printf("    %-20s %s\n\n", "source", jstr(r, "source"));
capabilities:
    printf("  Capabilities\n");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "capabilities"), i, c)
        printf("    %s\n", json_string_value(c));
    const char *params = jstr(r, "parameters");
    if (*params) {
        printf("\n  Parameters\n");
        for (const char *l = params; *l;) {
            const char *nl = strchr(l, '\n');
            int len = nl ? (int)(nl - l) : (int)strlen(l);
            printf("    %.*s\n", len, l);
            l += len + (nl ? 1 : 0);
        }
    }
    if (verbose) {
        printf("\n  Metadata\n");
        const char *k;
        json_t *v;
        json_object_foreach(info, k, v)
        {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("    %-40s %.200s\n", k, s ? s : "");
            free(s);
        }
    }
    putchar('\n');
    json_decref(r);
    return 0;
}

int cmd_rm(int argc, char **argv)
{
    if (argc < 1) {
        cli_error("missing MODEL (usage: hearth rm MODEL...)");
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        json_t *req = json_pack("{s:s}", "model", argv[i]), *r = NULL;
        int rc = call("DELETE", "/api/delete", req, &r);
        json_decref(req);
        json_decref(r);
        if (rc)
            return 1;
        printf("deleted '%s'\n", argv[i]);
    }
    return 0;
}

int cmd_cp(int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: hearth cp SOURCE DESTINATION");
        return 2;
    }
    json_t *req = json_pack("{s:s, s:s}", "source", argv[0], "destination", argv[1]), *r = NULL;
    int rc = call("POST", "/api/copy", req, &r);
    json_decref(req);
    json_decref(r);
    if (rc)
        return 1;
    printf("copied '%s' to '%s'\n", argv[0], argv[1]);
    return 0;
}

int cmd_stop(int argc, char **argv)
{
    if (argc != 1) {
        cli_error("usage: hearth stop MODEL");
        return 2;
    }
    json_t *req = json_pack("{s:s, s:s, s:i, s:b}", "model", argv[0], "prompt", "", "keep_alive", 0,
                            "stream", 0),
           *r = NULL;
    int rc = call("POST", "/api/generate", req, &r);
    json_decref(req);
    json_decref(r);
    return rc;
}
