/* mkmodel: writes a GGUF model with random weights, for tests and benchmarks.
 *
 *   mkmodel --vocab ggml-vocab-llama-spm.gguf --arch llama --out m.gguf
 *           [--n-embd 64] [--n-layer 2] [--n-head 4] [--n-head-kv 2] [--n-ff 128]
 *           [--n-ctx 2048] [--type f32|f16|q8_0|q4_0|q4_k_m|...] [--seed 1]
 *           [--template chat.jinja] [--fim PRE,SUF,MID] [--rank 1 (bert: a reranker)]
 *
 * The tokenizer (and its chat template, if any) is copied from a vocab GGUF of the llama.cpp
 * tree; --template replaces the chat template. Weights are drawn from a seeded generator, so the
 * same arguments give the same file, and greedy decoding gives fixed output. Quantized types go
 * through llama_model_quantize from an F32 intermediate. Architectures: llama, qwen2, qwen3, and
 * bert (an encoder with mean pooling, for embeddings).
 */
#include <ggml.h>
#include <gguf.h>
#include <llama.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
    const char *vocab, *arch, *out, *type, *tmpl, *fim;
    int rank;
    int via_f16; /* quantize from an F16 intermediate (half the memory and I/O of F32) */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    uint64_t seed;
    const char *sampling[16]; /* NAME=VALUE: general.sampling.NAME */
    int n_sampling;
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64: small, fast, and the same everywhere. */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a]: enough spread for varied logits, small enough to stay finite. */
static float rng_uniform(float a)
{
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2.0 - 1.0) * a;
}

static int die(const char *msg, const char *arg)
{
    fprintf(stderr, "mkmodel: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 1;
}

static const struct {
    const char *name;
    enum llama_ftype ftype;
} quant_types[] = {
    {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},     {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},
    {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},     {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},
    {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M},
    {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},     {"iq4_nl", LLAMA_FTYPE_MOSTLY_IQ4_NL},
    {"bf16", LLAMA_FTYPE_MOSTLY_BF16},
};

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static struct ggml_tensor *add_tensor(struct ggml_context *ctx, struct gguf_context *g,
                                      enum ggml_type type, const char *name, int64_t ne0,
                                      int64_t ne1, float fill)
{
    struct ggml_tensor *t =
        ne1 ? ggml_new_tensor_2d(ctx, type, ne0, ne1) : ggml_new_tensor_1d(ctx, type, ne0);
    ggml_set_name(t, name);
    int64_t n = ggml_nelements(t);
    for (int64_t i = 0; i < n; i++) {
        float v = fill != 0 ? fill : rng_uniform(0.08f);
        if (type == GGML_TYPE_F16)
            ((ggml_fp16_t *)t->data)[i] = ggml_fp32_to_fp16(v);
        else
            ((float *)t->data)[i] = v;
    }
    gguf_add_tensor(g, t);
    return t;
}

static int build(const struct opts *o, const char *path, enum ggml_type wtype)
{
    struct gguf_init_params vp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *voc = gguf_init_from_file(o->vocab, vp);
    if (!voc)
        return die("cannot read vocab GGUF", o->vocab);
    int64_t tok_id = gguf_find_key(voc, "tokenizer.ggml.tokens");
    if (tok_id < 0)
        return die("no tokenizer.ggml.tokens in", o->vocab);
    int64_t n_vocab = (int64_t)gguf_get_arr_n(voc, tok_id);

    struct gguf_context *g = gguf_init_empty();
    gguf_set_kv(g, voc);
    /* Keep only the tokenizer from the vocab file; everything else is ours. */
    for (int64_t i = gguf_get_n_kv(g) - 1; i >= 0; i--) {
        const char *k = gguf_get_key(g, i);
        if (strncmp(k, "tokenizer.", 10) != 0)
            gguf_remove_key(g, k);
    }
    gguf_free(voc);
    if (o->tmpl) {
        char *t = read_text(o->tmpl);
        if (!t)
            return die("cannot read template", o->tmpl);
        gguf_set_val_str(g, "tokenizer.chat_template", t);
        free(t);
    }

    if (o->fim) {
        /* Marks three existing tokens as the fill-in-the-middle prefix, suffix and middle. */
        unsigned pre, suf, mid;
        if (sscanf(o->fim, "%u,%u,%u", &pre, &suf, &mid) != 3 || pre >= n_vocab || suf >= n_vocab ||
            mid >= n_vocab)
            return die("--fim wants PRE,SUF,MID token ids inside the vocabulary", o->fim);
        gguf_set_val_u32(g, "tokenizer.ggml.fim_pre_token_id", pre);
        gguf_set_val_u32(g, "tokenizer.ggml.fim_suf_token_id", suf);
        gguf_set_val_u32(g, "tokenizer.ggml.fim_mid_token_id", mid);
    }

    char key[128];
    /* The sampling settings the model's authors recommend (llama.cpp's general.sampling.*):
     * integers for top_k, penalty_last_n and mirostat, floats otherwise. */
    for (int i = 0; i < o->n_sampling; i++) {
        const char *eq = strchr(o->sampling[i], '=');
        if (!eq || eq == o->sampling[i])
            return die("--sampling wants NAME=VALUE, e.g. temp=0.3", o->sampling[i]);
        snprintf(key, sizeof key, "general.sampling.%.*s", (int)(eq - o->sampling[i]),
                 o->sampling[i]);
        const char *name = key + strlen("general.sampling.");
        if (!strcmp(name, "top_k") || !strcmp(name, "penalty_last_n") || !strcmp(name, "mirostat"))
            gguf_set_val_i32(g, key, atoi(eq + 1));
        else
            gguf_set_val_f32(g, key, strtof(eq + 1, NULL));
    }
    const char *a = o->arch;
    gguf_set_val_str(g, "general.architecture", a);
    snprintf(key, sizeof key, "hearth-test-%s", a);
    gguf_set_val_str(g, "general.name", key);
    gguf_set_val_u32(g, "general.file_type", wtype == GGML_TYPE_F16 ? 1 : 0);
#define KV_U32(suffix, v)                                                                          \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s." suffix, a);                                                \
        gguf_set_val_u32(g, key, (uint32_t)(v));                                                   \
    } while (0)
    KV_U32("context_length", o->n_ctx);
    KV_U32("embedding_length", o->n_embd);
    KV_U32("block_count", o->n_layer);
    KV_U32("feed_forward_length", o->n_ff);
    KV_U32("attention.head_count", o->n_head);
    KV_U32("attention.head_count_kv", o->n_head_kv);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    gguf_set_val_f32(g, key, 1e-5f);
    snprintf(key, sizeof key, "%s.rope.freq_base", a);
    gguf_set_val_f32(g, key, 10000.0f);
    int head_dim = o->n_embd / o->n_head;
    if (!strcmp(a, "qwen3")) {
        KV_U32("attention.key_length", head_dim);
        KV_U32("attention.value_length", head_dim);
    }
    if (!strcmp(a, "bert")) {
        snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", a);
        gguf_set_val_f32(g, key, 1e-12f);
        snprintf(key, sizeof key, "%s.attention.causal", a);
        gguf_set_val_bool(g, key, false);
        KV_U32("pooling_type", o->rank ? 4 : 1); /* rank (a reranker's head) or mean */
        if (gguf_find_key(g, "tokenizer.ggml.token_type_count") < 0)
            gguf_set_val_u32(g, "tokenizer.ggml.token_type_count", 2);
    }

    int is_qwen = !strncmp(a, "qwen", 4);
    int64_t q_dim = (int64_t)head_dim * o->n_head, kv_dim = (int64_t)head_dim * o->n_head_kv;
    size_t wsz = ggml_type_size(wtype);
    size_t total = (size_t)n_vocab * (size_t)o->n_embd * 2 * wsz +
                   (size_t)o->n_layer *
                       ((size_t)o->n_embd * (size_t)(2 * q_dim + 2 * kv_dim) +
                        3 * (size_t)o->n_embd * (size_t)o->n_ff) *
                       wsz +
                   (size_t)(o->n_layer * 8 + 4) * ((size_t)o->n_embd + (size_t)q_dim) * 4;
    size_t n_tensors = (size_t)o->n_layer * 16 + 8;
    struct ggml_init_params ip = {total + n_tensors * ggml_tensor_overhead() + (1 << 20), NULL,
                                  false};
    struct ggml_context *ctx = ggml_init(ip);
    if (!ctx)
        return die("out of memory", NULL);

    add_tensor(ctx, g, wtype, "token_embd.weight", o->n_embd, n_vocab, 0);
    int bert = !strcmp(a, "bert");
    if (bert) {
        /* An encoder with mean pooling: no output layer; learned positions and token types. */
        add_tensor(ctx, g, GGML_TYPE_F32, "token_types.weight", o->n_embd, 2, 0);
        add_tensor(ctx, g, GGML_TYPE_F32, "position_embd.weight", o->n_embd, o->n_ctx, 0);
        add_tensor(ctx, g, GGML_TYPE_F32, "token_embd_norm.weight", o->n_embd, 0, 1.0f);
        add_tensor(ctx, g, GGML_TYPE_F32, "token_embd_norm.bias", o->n_embd, 0, 0);
        if (o->rank) { /* the classification head: one relevance score */
            add_tensor(ctx, g, GGML_TYPE_F32, "cls.weight", o->n_embd, o->n_embd, 0);
            add_tensor(ctx, g, GGML_TYPE_F32, "cls.bias", o->n_embd, 0, 0);
            add_tensor(ctx, g, GGML_TYPE_F32, "cls.output.weight", o->n_embd, 1, 0);
            add_tensor(ctx, g, GGML_TYPE_F32, "cls.output.bias", 1, 0, 0);
        }
    } else {
        add_tensor(ctx, g, GGML_TYPE_F32, "output_norm.weight", o->n_embd, 0, 1.0f);
        add_tensor(ctx, g, wtype, "output.weight", o->n_embd, n_vocab, 0);
    }
    for (int l = 0; l < o->n_layer; l++) {
        char name[64];
#define T(suffix, type, ne0, ne1, fill)                                                            \
    do {                                                                                           \
        snprintf(name, sizeof name, "blk.%d." suffix, l);                                          \
        add_tensor(ctx, g, type, name, ne0, ne1, fill);                                            \
    } while (0)
        if (bert) {
            T("attn_q.weight", wtype, o->n_embd, q_dim, 0);
            T("attn_q.bias", GGML_TYPE_F32, q_dim, 0, 0);
            T("attn_k.weight", wtype, o->n_embd, q_dim, 0);
            T("attn_k.bias", GGML_TYPE_F32, q_dim, 0, 0);
            T("attn_v.weight", wtype, o->n_embd, q_dim, 0);
            T("attn_v.bias", GGML_TYPE_F32, q_dim, 0, 0);
            T("attn_output.weight", wtype, q_dim, o->n_embd, 0);
            T("attn_output.bias", GGML_TYPE_F32, o->n_embd, 0, 0);
            T("attn_output_norm.weight", GGML_TYPE_F32, o->n_embd, 0, 1.0f);
            T("attn_output_norm.bias", GGML_TYPE_F32, o->n_embd, 0, 0);
            T("ffn_up.weight", wtype, o->n_embd, o->n_ff, 0);
            T("ffn_up.bias", GGML_TYPE_F32, o->n_ff, 0, 0);
            T("ffn_down.weight", wtype, o->n_ff, o->n_embd, 0);
            T("ffn_down.bias", GGML_TYPE_F32, o->n_embd, 0, 0);
            T("layer_output_norm.weight", GGML_TYPE_F32, o->n_embd, 0, 1.0f);
            T("layer_output_norm.bias", GGML_TYPE_F32, o->n_embd, 0, 0);
            continue;
        }
        T("attn_norm.weight", GGML_TYPE_F32, o->n_embd, 0, 1.0f);
        T("attn_q.weight", wtype, o->n_embd, q_dim, 0);
        T("attn_k.weight", wtype, o->n_embd, kv_dim, 0);
        T("attn_v.weight", wtype, o->n_embd, kv_dim, 0);
        T("attn_output.weight", wtype, q_dim, o->n_embd, 0);
        if (!strcmp(a, "qwen2")) {
            T("attn_q.bias", GGML_TYPE_F32, q_dim, 0, 0);
            T("attn_k.bias", GGML_TYPE_F32, kv_dim, 0, 0);
            T("attn_v.bias", GGML_TYPE_F32, kv_dim, 0, 0);
        }
        if (!strcmp(a, "qwen3")) {
            T("attn_q_norm.weight", GGML_TYPE_F32, head_dim, 0, 1.0f);
            T("attn_k_norm.weight", GGML_TYPE_F32, head_dim, 0, 1.0f);
        }
        T("ffn_norm.weight", GGML_TYPE_F32, o->n_embd, 0, 1.0f);
        T("ffn_gate.weight", wtype, o->n_embd, o->n_ff, 0);
        T("ffn_up.weight", wtype, o->n_embd, o->n_ff, 0);
        T("ffn_down.weight", wtype, o->n_ff, o->n_embd, 0);
#undef T
    }
    (void)is_qwen;
    int ok = gguf_write_to_file(g, path, false);
    ggml_free(ctx);
    gguf_free(g);
    return ok ? 0 : die("cannot write", path);
}

int main(int argc, char **argv)
{
    struct opts o = {NULL, "llama", NULL, "f32", NULL, NULL, 0,   0, 64,
                     2,    4,       2,    128,   2048, 1,    {0}, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(
                "usage: mkmodel --vocab VOCAB.gguf --out OUT.gguf [--arch llama|qwen2|qwen3|bert]\n"
                "  [--n-embd N] [--n-layer N] [--n-head N] [--n-head-kv N] [--n-ff N]\n"
                "  [--n-ctx N] [--type f32|f16|q8_0|q4_0|q4_k_m|...] [--seed N]\n"
                "  [--template FILE.jinja] [--fim PRE,SUF,MID token ids]\n"
                "  [--rank 1 (bert only: a reranker with a classification head)]\n"
                "  [--sampling NAME=VALUE (repeatable: general.sampling.NAME, e.g. temp=0.3)]\n"
                "  [--via f16 (quantized types: an F16 intermediate instead of F32, for big "
                "models)]\n");
            return 0;
        }
        if (!v)
            return die("missing value for", a);
        i++;
        if (!strcmp(a, "--vocab"))
            o.vocab = v;
        else if (!strcmp(a, "--arch"))
            o.arch = v;
        else if (!strcmp(a, "--out"))
            o.out = v;
        else if (!strcmp(a, "--type"))
            o.type = v;
        else if (!strcmp(a, "--template"))
            o.tmpl = v;
        else if (!strcmp(a, "--fim"))
            o.fim = v;
        else if (!strcmp(a, "--rank"))
            o.rank = atoi(v);
        else if (!strcmp(a, "--n-embd"))
            o.n_embd = atoi(v);
        else if (!strcmp(a, "--n-layer"))
            o.n_layer = atoi(v);
        else if (!strcmp(a, "--n-head"))
            o.n_head = atoi(v);
        else if (!strcmp(a, "--n-head-kv"))
            o.n_head_kv = atoi(v);
        else if (!strcmp(a, "--n-ff"))
            o.n_ff = atoi(v);
        else if (!strcmp(a, "--n-ctx"))
            o.n_ctx = atoi(v);
        else if (!strcmp(a, "--sampling") && o.n_sampling < 16)
            o.sampling[o.n_sampling++] = v;
        else if (!strcmp(a, "--via"))
            o.via_f16 = !strcmp(v, "f16");
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 10);
        else
            return die("unknown flag", a);
    }
    if (!o.vocab || !o.out)
        return die("--vocab and --out are required (see --help)", NULL);
    if (strcmp(o.arch, "llama") != 0 && strcmp(o.arch, "qwen2") != 0 &&
        strcmp(o.arch, "qwen3") != 0 && strcmp(o.arch, "bert") != 0)
        return die("unsupported --arch (llama, qwen2, qwen3, bert)", o.arch);
    if (!strcmp(o.arch, "bert"))
        o.n_head_kv = o.n_head;
    if (o.n_embd <= 0 || o.n_layer <= 0 || o.n_head <= 0 || o.n_head_kv <= 0 || o.n_ff <= 0 ||
        o.n_ctx <= 0 || o.n_embd % o.n_head || o.n_head % o.n_head_kv)
        return die("bad dimensions (n_embd must divide by n_head, n_head by n_head_kv)", NULL);
    rng_state = o.seed;

    if (!strcmp(o.type, "f32") || !strcmp(o.type, "f16"))
        return build(&o, o.out, !strcmp(o.type, "f16") ? GGML_TYPE_F16 : GGML_TYPE_F32);

    enum llama_ftype ft = LLAMA_FTYPE_ALL_F32;
    int found = 0;
    for (size_t i = 0; i < sizeof quant_types / sizeof quant_types[0]; i++)
        if (!strcmp(quant_types[i].name, o.type)) {
            ft = quant_types[i].ftype;
            found = 1;
        }
    if (!found)
        return die("unknown --type", o.type);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.%s.tmp", o.out, o.via_f16 ? "f16" : "f32");
    int rc = build(&o, tmp, o.via_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32);
    if (rc)
        return rc;
    llama_backend_init();
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = ft;
    qp.nthread = 0;
    uint32_t q = llama_model_quantize(tmp, o.out, &qp);
    unlink(tmp);
    llama_backend_free();
    return q == 0 ? 0 : die("llama_model_quantize failed for type", o.type);
}
