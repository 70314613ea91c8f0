/* What the model routes report about a GGUF: family, size, quantization, metadata, template. */
#include "api/model_info.h"

#include "api/api.h"

#include "base/util.h"
#include "engine/mfile.h"

#include <ggml.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ftype_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
    [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
    [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
    [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
    [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
    [36] = "TQ1_0",   [37] = "TQ2_0",   [38] = "MXFP4",  [39] = "NVFP4",  [40] = "Q1_0",
    [41] = "Q2_0",
};

static void human_count(uint64_t n, char *out, size_t len)
{
    if (n >= 1000000000ull)
        snprintf(out, len, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(out, len, "%.1fM", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(out, len, "%.1fK", (double)n / 1e3);
    else
        snprintf(out, len, "%llu", (unsigned long long)n);
    /* "7.0B" -> "7B", as Ollama writes it */
    char *dot = strstr(out, ".0");
    if (dot && (dot[2] == 'B' || dot[2] == 'M' || dot[2] == 'K'))
        memmove(dot, dot + 2, strlen(dot + 2) + 1);
}

char *api_model_template(const char *path)
{
    struct mfile mf;
    if (!path || mfile_open(path, &mf, NULL)) /* NULL: a remote model, no file */
        return NULL;
    char *t = mfile_get_str(&mf, "tokenizer.chat_template");
    mfile_close(&mf);
    return t;
}

int model_details_read(const char *path, struct model_details *d, struct err *e)
{
    memset(d, 0, sizeof *d);
    struct mfile mf;
    int rc = mfile_open(path, &mf, e);
    if (rc)
        return rc;
    char *arch = mfile_get_str(&mf, "general.architecture");
    snprintf(d->family, sizeof d->family, "%s", arch ? arch : "unknown");
    d->n_params = mf.n_elements;
    human_count(mf.n_elements, d->param_size, sizeof d->param_size);
    int64_t ft;
    if (mfile_get_int(&mf, "general.file_type", &ft) == 0 && ft >= 0 &&
        ft < (int64_t)ARRAY_LEN(ftype_names) && ftype_names[ft])
        snprintf(d->quant, sizeof d->quant, "%s", ftype_names[ft]);
    else /* no file type recorded: name the type that holds most of the weights */
        snprintf(d->quant, sizeof d->quant, "%s", ggml_type_name((enum ggml_type)mf.main_type));
    for (char *c = d->quant; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    char key[160];
    int64_t v;
    snprintf(key, sizeof key, "%s.context_length", d->family);
    if (mfile_get_int(&mf, key, &v) == 0)
        d->context_length = v;
    snprintf(key, sizeof key, "%s.embedding_length", d->family);
    if (mfile_get_int(&mf, key, &v) == 0)
        d->embedding_length = v;
    snprintf(key, sizeof key, "%s.pooling_type", d->family);
    int64_t pooling = 0;
    d->is_embedding = mfile_get_int(&mf, key, &pooling) == 0;
    d->is_reranker = d->is_embedding && pooling == 4; /* LLAMA_POOLING_TYPE_RANK */
    d->has_fim = mfile_find(&mf, "tokenizer.ggml.fim_pre_token_id") &&
                 mfile_find(&mf, "tokenizer.ggml.fim_suf_token_id") &&
                 mfile_find(&mf, "tokenizer.ggml.fim_mid_token_id");
    d->chat_template = mfile_get_str(&mf, "tokenizer.chat_template");
    free(arch);
    mfile_close(&mf);
    return 0;
}

void model_details_free(struct model_details *d)
{
    if (d)
        free(d->chat_template);
}

json_t *model_details_json(const struct model_details *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "parent_model", json_string(""));
    json_object_set_new(o, "format", json_string("gguf"));
    json_object_set_new(o, "family", json_string(d->family));
    json_t *fam = json_array();
    json_array_append_new(fam, json_string(d->family));
    json_object_set_new(o, "families", fam);
    json_object_set_new(o, "parameter_size", json_string(d->param_size));
    json_object_set_new(o, "quantization_level", json_string(d->quant));
    return o;
}

json_t *model_capabilities_json(const struct model_details *d)
{
    json_t *c = json_array();
    /* A model with a pooling layer makes embeddings only. */
    json_array_append_new(c, json_string(d->is_reranker    ? "rerank"
                                         : d->is_embedding ? "embedding"
                                                           : "completion"));
    if (d->has_fim)
        json_array_append_new(c, json_string("insert"));
    return c;
}

static uint64_t rd(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* One encoded GGUF value as JSON; *adv gets its encoded size. */
static json_t *value_json(uint32_t type, const uint8_t *p, size_t *adv)
{
    switch (type) {
    case MFILE_U8: *adv = 1; return json_integer((json_int_t)p[0]);
    case MFILE_I8: *adv = 1; return json_integer((json_int_t)(int8_t)p[0]);
    case MFILE_U16: *adv = 2; return json_integer((json_int_t)rd(p, 2));
    case MFILE_I16: *adv = 2; return json_integer((json_int_t)(int16_t)rd(p, 2));
    case MFILE_U32: *adv = 4; return json_integer((json_int_t)rd(p, 4));
    case MFILE_I32: *adv = 4; return json_integer((json_int_t)(int32_t)rd(p, 4));
    case MFILE_U64: *adv = 8; return json_integer((json_int_t)rd(p, 8));
    case MFILE_I64: *adv = 8; return json_integer((json_int_t)rd(p, 8));
    case MFILE_BOOL: *adv = 1; return json_boolean(p[0]);
    case MFILE_F32: {
        float f;
        memcpy(&f, p, 4);
        *adv = 4;
        return isfinite(f) ? json_real(f) : json_null();
    }
    case MFILE_F64: {
        double f;
        memcpy(&f, p, 8);
        *adv = 8;
        return isfinite(f) ? json_real(f) : json_null();
    }
    case MFILE_STRING: {
        uint64_t n = rd(p, 8);
        *adv = 8 + (size_t)n;
        json_t *s = json_stringn((const char *)p + 8, (size_t)n);
        return s ? s : json_null(); /* not UTF-8 */
    }
    default: *adv = 0; return json_null();
    }
}

int model_info_json(const char *path, int verbose, json_t **out, struct err *e)
{
    struct mfile mf;
    int rc = mfile_open(path, &mf, e);
    if (rc)
        return rc;
    json_t *o = json_object();
    for (uint64_t i = 0; i < mf.n_kv; i++) {
        const struct mfile_kv *kv = &mf.kv[i];
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)(kv->key_len < 500 ? kv->key_len : 500), kv->key);
        json_t *v;
        size_t adv;
        if (kv->type == MFILE_ARRAY) {
            /* Ollama leaves the large arrays (the vocabulary) out unless asked. */
            if (!verbose && kv->arr_n > 64) {
                v = json_null();
            } else {
                v = json_array();
                const uint8_t *p = kv->val + 12;
                for (uint64_t k = 0; k < kv->arr_n; k++) {
                    json_array_append_new(v, value_json(kv->arr_type, p, &adv));
                    p += adv;
                }
            }
        } else {
            v = value_json(kv->type, kv->val, &adv);
        }
        json_object_set_new(o, key, v);
    }
    json_object_set_new(o, "general.parameter_count", json_integer((json_int_t)mf.n_elements));
    mfile_close(&mf);
    *out = o;
    return 0;
}
