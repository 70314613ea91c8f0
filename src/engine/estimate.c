#include "engine/estimate.h"

#include "base/util.h"
#include "engine/mfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double estimate_cache_type_bytes(const char *type)
{
    static const struct {
        const char *name;
        double bytes;
    } types[] = {
        {"f32", 4},          {"f16", 2},          {"bf16", 2},           {"q8_0", 34.0 / 32},
        {"q4_0", 18.0 / 32}, {"q4_1", 20.0 / 32}, {"iq4_nl", 18.0 / 32}, {"q5_0", 22.0 / 32},
        {"q5_1", 24.0 / 32},
    };
    if (!type || !*type)
        return 2;
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        if (!strcasecmp(types[i].name, type))
            return types[i].bytes;
    return 0;
}

static int64_t arch_int(const struct mfile *f, const char *arch, const char *key, int64_t def)
{
    char full[256];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int64_t v;
    if (mfile_get_int(f, full, &v) || v < 0)
        return def;
    return v;
}

/* The rows of the token embedding (or output) tensor: the vocabulary size, when the tokenizer's
 * list is absent. */
static int64_t vocab_size(const struct mfile *f)
{
    const struct mfile_kv *kv = mfile_find(f, "tokenizer.ggml.tokens");
    if (kv && kv->type == MFILE_ARRAY)
        return (int64_t)kv->arr_n;
    return 32000;
}

/* Split shards: NAME-00001-of-00003.gguf names its siblings. Adds their tensor bytes. */
static int add_shards(const char *path, const struct mfile *first, uint64_t *weights, struct err *e)
{
    int64_t count;
    if (mfile_get_int(first, "split.count", &count) || count <= 1)
        return 0;
    if (count > 9999)
        return err_set(e, ERR_BAD_MODEL, "%s says it has %lld split shards", path,
                       (long long)count);
    size_t n = strlen(path);
    const char *tail = "-00001-of-00000.gguf";
    size_t tl = strlen(tail);
    if (n < tl || strncmp(path + n - tl, "-00001-of-", 10) != 0)
        return 0; /* not the first shard by name: the worker finds no siblings either */
    char *p = xstrdup(path);
    int rc = 0;
    for (int64_t i = 2; i <= count && !rc; i++) {
        snprintf(p + n - tl, tl + 1, "-%05d-of-%05d.gguf", (int)i, (int)count);
        struct mfile mf;
        rc = mfile_open(p, &mf, e);
        if (!rc) {
            *weights += mf.tensor_bytes;
            mfile_close(&mf);
        }
    }
    free(p);
    return rc;
}

int estimate_model(const char *path, const struct load_params *lp, struct mem_estimate *out,
                   struct err *e)
{
    memset(out, 0, sizeof *out);
    struct mfile mf;
    int rc = mfile_open(path, &mf, e);
    if (rc)
        return rc;
    out->weights = mf.tensor_bytes;
    out->output_weights = mf.output_bytes;
    uint64_t not_layers = mf.tensor_bytes - mf.layer_bytes;
    rc = add_shards(path, &mf, &out->weights, e);
    /* The first shard holds the embeddings and the output; the others hold layers. */
    out->layer_weights = out->weights > not_layers ? out->weights - not_layers : 0;
    char *arch = mfile_get_str(&mf, "general.architecture");
    if (rc || !arch) {
        free(arch);
        mfile_close(&mf);
        return rc ? rc : err_set(e, ERR_BAD_MODEL, "%s has no general.architecture", path);
    }
    int64_t n_layer = arch_int(&mf, arch, "block_count", 0);
    int64_t n_embd = arch_int(&mf, arch, "embedding_length", 0);
    int64_t n_head = arch_int(&mf, arch, "attention.head_count", 1);
    int64_t n_head_kv = arch_int(&mf, arch, "attention.head_count_kv", n_head);
    int64_t n_ff = arch_int(&mf, arch, "feed_forward_length", 4 * n_embd);
    int64_t head = n_head > 0 ? n_embd / n_head : n_embd;
    int64_t k_len = arch_int(&mf, arch, "attention.key_length", head);
    int64_t v_len = arch_int(&mf, arch, "attention.value_length", head);
    int64_t n_train = arch_int(&mf, arch, "context_length", 0);
    int64_t pooling = arch_int(&mf, arch, "pooling_type", 0);
    int64_t n_vocab = vocab_size(&mf);
    free(arch);
    mfile_close(&mf);

    /* The worker's choices (src/engine/worker.c): num_ctx 0 is min(4096, trained context);
     * an embedding model gets one slot. */
    uint64_t n_ctx = lp->num_ctx > 0                 ? (uint64_t)lp->num_ctx
                     : n_train > 0 && n_train < 4096 ? (uint64_t)n_train
                                                     : 4096;
    uint64_t slots = lp->num_parallel > 0 ? (uint64_t)lp->num_parallel : 1;
    if (pooling > 0)
        slots = 1;
    if (n_ctx * slots > (1u << 24)) /* the worker's own limit, checked before any estimate */
        return err_set(e, ERR_BAD_REQUEST,
                       "num_ctx %llu times num_parallel %llu is more than 16M tokens of context",
                       (unsigned long long)n_ctx, (unsigned long long)slots);
    /* libllama pads the cache to 256 cells. */
    uint64_t cells = (n_ctx * slots + 255) / 256 * 256;
    double bk = estimate_cache_type_bytes(lp->cache_type_k);
    double bv = estimate_cache_type_bytes(lp->cache_type_v ? lp->cache_type_v : lp->cache_type_k);
    if (bk == 0)
        bk = 2;
    if (bv == 0)
        bv = 2;
    out->kv = (uint64_t)((double)n_layer * (double)n_head_kv * (double)cells *
                         ((double)k_len * bk + (double)v_len * bv));

    uint64_t ubatch = (uint64_t)(lp->num_ubatch > 0 ? lp->num_ubatch : 512);
    if (lp->num_batch > 0 && (uint64_t)lp->num_batch < ubatch)
        ubatch = (uint64_t)lp->num_batch;
    /* Activations of one micro-batch: the residual stream and its norms, Q K V, the FFN's up
     * and gate, and the logits; all f32. */
    uint64_t act = 4 * ubatch *
                   ((uint64_t)(4 * n_embd) + (uint64_t)(2 * n_ff) + (uint64_t)n_vocab +
                    (uint64_t)(n_head + 2 * n_head_kv) * (uint64_t)k_len);
    /* Without flash attention the scores of a micro-batch against the cache are one matrix. */
    if (lp->flash_attn == FLASH_ATTN_OFF)
        act += 4 * ubatch * n_ctx * (uint64_t)n_head;
    uint64_t logits = 4 * (uint64_t)n_vocab * slots;
    out->compute = act + logits + ESTIMATE_OVERHEAD;
    out->total = out->weights + out->kv + out->compute;
    out->n_ctx = (uint32_t)n_ctx;
    out->slots = (uint32_t)slots;
    out->n_layer = (uint32_t)(n_layer > 0 && n_layer < 100000 ? n_layer : 0);
    return 0;
}

int estimate_parse_size(const char *text, uint64_t *bytes)
{
    if (!text)
        return ERR_BAD_REQUEST;
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text) && *text != '.')
        return ERR_BAD_REQUEST;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0)
        return ERR_BAD_REQUEST;
    while (isspace((unsigned char)*end))
        end++;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1024.0},
        {"m", 1048576.0},
        {"g", 1073741824.0},
        {"t", 1099511627776.0},
        {"kib", 1024.0},
        {"mib", 1048576.0},
        {"gib", 1073741824.0},
        {"tib", 1099511627776.0},
        {"kb", 1e3},
        {"mb", 1e6},
        {"gb", 1e9},
        {"tb", 1e12},
    };
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        double b = v * units[i].mult;
        if (b > 1.8e19)
            return ERR_BAD_REQUEST;
        *bytes = (uint64_t)b;
        return 0;
    }
    return ERR_BAD_REQUEST;
}

const char *estimate_fmt(uint64_t bytes, char *buf, size_t len)
{
    if (bytes >= (1ull << 30))
        snprintf(buf, len, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(buf, len, "%.1f MiB", (double)bytes / (double)(1ull << 20));
    else
        snprintf(buf, len, "%llu KiB", (unsigned long long)((bytes + 1023) / 1024));
    return buf;
}
