/* Ollama manifests and digests (src/store/store_ollama.c, src/store/layout.c): the first line
 * of the input is a model name (model_ref_parse) and a digest (layout_ollama_blob); the rest is
 * the manifest of the model "fuzz" in a private Ollama store, looked up as /api/show and
 * /api/generate would. A digest that names anything outside blobs/ must be refused. */
#include "store/layout.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256], manifest[600];
static struct store *store;

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len)
        abort();
    fclose(f);
}

static void setup(void)
{
    char tmpl[] = "/tmp/hearth-fuzz-manifest-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    snprintf(root, sizeof root, "%s/ollama", tmpl);
    char dir[512];
    struct err e = {0};
    snprintf(dir, sizeof dir, "%s/blobs", root);
    if (layout_mkdirs(dir, &e))
        abort();
    snprintf(dir, sizeof dir, "%s/manifests/registry.ollama.ai/library/fuzz", root);
    if (layout_mkdirs(dir, &e))
        abort();
    snprintf(manifest, sizeof manifest, "%s/latest", dir);
    /* Blobs the seeds name: a "model", a params layer and a text layer. */
    const char *blobs[][2] = {
        {"0000000000000000000000000000000000000000000000000000000000000000", "GGUF"},
        {"1111111111111111111111111111111111111111111111111111111111111111",
         "{\"temperature\":0.5,\"stop\":[\"a\",\"b\"],\"num_ctx\":99999999999}"},
        {"2222222222222222222222222222222222222222222222222222222222222222",
         "{{ .System }} {{ .Prompt }}"},
        {"3333333333333333333333333333333333333333333333333333333333333333",
         "[{\"role\":\"user\",\"content\":\"hi\"}]"},
    };
    for (size_t i = 0; i < sizeof blobs / sizeof blobs[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/blobs/sha256-%s", root, blobs[i][0]);
        write_file(p, blobs[i][1], strlen(blobs[i][1]));
    }
    char hub[300];
    snprintf(hub, sizeof hub, "%s/hf", tmpl);
    struct store_config cfg = {.hf_hub = hub, .ollama_root = root};
    store = store_init(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        setup();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *line = malloc(first + 1);
    memcpy(line, data, first);
    line[first] = '\0';
    struct model_ref r;
    struct err e = {0};
    (void)model_ref_parse(line, &r, &e);
    char blob[LAYOUT_MAX_PATH];
    if (layout_ollama_blob(root, line, blob, sizeof blob, &e) == 0) {
        /* A valid digest is exactly ROOT/blobs/sha256-<64 hex>. */
        size_t rl = strlen(root);
        if (strncmp(blob, root, rl) != 0 || strncmp(blob + rl, "/blobs/sha256-", 14) != 0 ||
            strlen(blob + rl + 14) != 64 || strchr(blob + rl + 14, '/') ||
            !layout_digest_valid(line))
            abort();
    }
    free(line);

    const char *rest = nl ? (const char *)nl + 1 : "";
    size_t rest_len = nl ? size - first - 1 : 0;
    write_file(manifest, rest, rest_len);
    struct store_model m;
    memset(&m, 0, sizeof m);
    (void)store_find(store, "fuzz", &m, &e);
    store_model_free(&m); /* zeroed on failure */
    return 0;
}
