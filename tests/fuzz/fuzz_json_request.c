/* Request bodies of every API, through the same route handlers `hearth serve` runs, with no
 * network: the first byte picks a route, the rest is the body. The store is empty, so every
 * request ends at the latest when its model is looked up; what is fuzzed is the parsing and
 * checking of the JSON before that, and the error replies. */
#include "api/api.h"
#include "sched/sched.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Routes that only parse and answer (no downloads, no writes to the store). */
static const char *const paths[] = {
    "/api/generate",   "/api/chat",
    "/api/embed",      "/api/embeddings",
    "/api/show",       "/v1/chat/completions",
    "/v1/completions", "/v1/embeddings",
    "/v1/messages",    "/v1/messages/count_tokens",
    "/v1/responses",   "/completion",
    "/tokenize",       "/detokenize",
    "/apply-template", "/embedding",
    "/rerank",         "/models/load",
    "/models/unload",
};
#define N_PATHS (sizeof paths / sizeof paths[0])

static http_handler handlers[N_PATHS];
static struct api_ctx ctx;

static void setup(void)
{
    char tmpl[] = "/tmp/hearth-fuzz-json-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    static char hub[300], root[300];
    snprintf(hub, sizeof hub, "%s/hf", tmpl);
    snprintf(root, sizeof root, "%s/ollama", tmpl);
    struct store_config scfg = {.hf_hub = hub, .ollama_root = root};
    ctx.store = store_init(&scfg);
    struct sched_config c;
    sched_config_init(&c, 0);
    ctx.sched = sched_new(&c);
    ctx.num_parallel = 1;
    api = &ctx;
    void (*tables[])(const struct http_route **, int *) = {ollama_routes,    openai_routes,
                                                           anthropic_routes, llama_routes,
                                                           responses_routes, models_routes};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        const struct http_route *r;
        int n;
        tables[t](&r, &n);
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < N_PATHS; p++)
                if (!strcmp(r[i].method, "POST") && !strcmp(r[i].path, paths[p]))
                    handlers[p] = r[i].handler;
    }
    for (size_t p = 0; p < N_PATHS; p++)
        if (!handlers[p]) {
            fprintf(stderr, "no handler for %s\n", paths[p]);
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!api)
        setup();
    if (size < 1)
        return 0;
    size_t which = data[0] % N_PATHS;
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    struct http_request req = {
        .method = "POST", .path = paths[which], .body = body, .body_len = size - 1, .conn = NULL};
    struct http_reply rep;
    memset(&rep, 0, sizeof rep);
    buf_init(&rep.body, 0);
    rep.status = 500;
    handlers[which](&req, &rep);
    /* A handler that got this far with an empty store answered with an error, whole. */
    if (rep.stream.next || rep.status < 400)
        abort();
    if (rep.stream.free)
        rep.stream.free(rep.stream.ctx);
    buf_free(&rep.body);
    free(body);
    return 0;
}
