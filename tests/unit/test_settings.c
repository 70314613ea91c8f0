/* The precedence of settings without a server: the model's own params over the defaults, lists
 * replaced rather than merged, and a request's fields kept by settings_apply. (The preset and
 * GGUF layers are exercised end to end by tests/node/presets.test.mjs.) */
#include "api/api.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static int idx(const char *name)
{
    int n;
    const struct param_desc *t = params_table(&n);
    return (int)(params_find(name) - t);
}

int main(void)
{
    struct store_model m = {0};
    snprintf(m.name, sizeof m.name, "x:latest");
    m.path = NULL; /* no GGUF: that layer is empty */
    strlist_add(&m.params, "temperature=0.2");
    strlist_add(&m.params, "stop=<|im_end|>");
    strlist_add(&m.params, "stop=<|endoftext|>");
    strlist_add(&m.params, "num_ctx=8192");
    strlist_add(&m.params, "temperature=not a number"); /* ignored with a warning */

    struct gen_params gen;
    struct load_params load;
    enum preset_origin origin[64];
    settings_layers(&m, &gen, &load, origin);
    CHECK(gen.temperature > 0.19f && gen.temperature < 0.21f);
    CHECK(origin[idx("temperature")] == PRESET_ORIGIN_MODEL);
    CHECK(gen.stop.n == 2);
    if (gen.stop.n == 2) {
        CHECK_STR(gen.stop.v[0], "<|im_end|>");
        CHECK_STR(gen.stop.v[1], "<|endoftext|>");
    }
    CHECK(load.num_ctx == 8192);
    CHECK(origin[idx("num_ctx")] == PRESET_ORIGIN_MODEL);
    CHECK(origin[idx("top_k")] == PRESET_ORIGIN_DEFAULT && gen.top_k == 40);
    gen_params_free(&gen);
    load_params_free(&load);

    /* A request's fields stay, whatever the order of resolving and applying; the rest come
     * from the layers, and a request's stop list replaces the model's. */
    struct native_req req;
    native_req_init(&req, NATIVE_GENERATE);
    req.gen.top_k = 5;
    native_mark(&req, "top_k");
    strlist_add(&req.gen.stop, "END");
    native_mark(&req, "stop");
    req.load.num_ctx = 1024; /* not marked: an API-level default, which a layer replaces */
    settings_apply(&req, &m);
    CHECK(req.gen.top_k == 5);
    CHECK(req.gen.stop.n == 1 && !strcmp(req.gen.stop.v[0], "END"));
    CHECK(req.gen.temperature > 0.19f && req.gen.temperature < 0.21f);
    CHECK(req.load.num_ctx == 8192);
    native_req_free(&req);

    /* Marking by any spelling the params table knows. */
    native_req_init(&req, NATIVE_GENERATE);
    native_mark(&req, "ctx-size");
    CHECK(req.req_set == (uint64_t)1 << idx("num_ctx"));
    native_mark(&req, "no-such-parameter");
    CHECK(req.req_set == (uint64_t)1 << idx("num_ctx"));
    native_req_free(&req);

    strlist_free(&m.params);
    return check_done("test_settings");
}
