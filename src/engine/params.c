#include "engine/params.h"

#include "base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GI(field) PARAM_GEN, PARAM_INT, offsetof(struct gen_params, field)
#define GF(field) PARAM_GEN, PARAM_FLOAT, offsetof(struct gen_params, field)
#define LI(field) PARAM_LOAD, PARAM_INT, offsetof(struct load_params, field)
#define LF(field) PARAM_LOAD, PARAM_FLOAT, offsetof(struct load_params, field)
#define LB(field) PARAM_LOAD, PARAM_BOOL, offsetof(struct load_params, field)

/* clang-format off */
/* The defaults are llama-server's, which are the engine's own; where Ollama differs
 * (top_p 0.9, repeat_penalty 1.1, min_p 0) a preset or request sets it. */
static const struct param_desc table[] = {
    {"num_predict", "n-predict", GI(num_predict), -1, 1e9, -1, NULL, 0, 0,
     "maximum tokens to generate; -1 until end of text or a full context"},
    {"temperature", "temp", GF(temperature), 0, 100, 0.8, NULL, 0, 0,
     "sampling temperature; 0 picks the most likely token (greedy)"},
    {"top_k", NULL, GI(top_k), 0, 1e9, 40, NULL, 0, 0, "keep the K most likely tokens; 0 disables"},
    {"top_p", NULL, GF(top_p), 0, 1, 0.95, NULL, 0, 0, "nucleus sampling threshold; 1 disables"},
    {"min_p", NULL, GF(min_p), 0, 1, 0.05, NULL, 0, 0,
     "drop tokens less likely than min_p times the best one; 0 disables"},
    {"typical_p", "typical", GF(typical_p), 0, 1, 1.0, NULL, 0, 0,
     "locally typical sampling; 1 disables"},
    {"repeat_penalty", NULL, GF(repeat_penalty), 0, 100, 1.0, NULL, 0, 0,
     "penalty for repeated tokens; 1 disables"},
    {"repeat_last_n", NULL, GI(repeat_last_n), -1, 1e9, 64, NULL, 0, 0,
     "how many recent tokens the penalties look at; -1 the whole context, 0 disables"},
    {"presence_penalty", NULL, GF(presence_penalty), -100, 100, 0, NULL, 0, 0,
     "penalty for any token already present; 0 disables"},
    {"frequency_penalty", NULL, GF(frequency_penalty), -100, 100, 0, NULL, 0, 0,
     "penalty growing with a token's count; 0 disables"},
    {"mirostat", NULL, GI(mirostat), 0, 2, 0, NULL, 0, 0, "Mirostat sampling: 0 off, 1 v1, 2 v2"},
    {"mirostat_tau", "mirostat-ent", GF(mirostat_tau), 0, 100, 5.0, NULL, 0, 0,
     "Mirostat target entropy"},
    {"mirostat_eta", "mirostat-lr", GF(mirostat_eta), 0, 10, 0.1, NULL, 0, 0,
     "Mirostat learning rate"},
    {"dry_multiplier", NULL, GF(dry_multiplier), 0, 100, 0, NULL, 0, 0,
     "DRY repetition penalty multiplier; 0 disables"},
    {"dry_base", NULL, GF(dry_base), 0, 100, 1.75, NULL, 0, 0, "DRY penalty base"},
    {"dry_allowed_length", NULL, GI(dry_allowed_length), 0, 1e6, 2, NULL, 0, 0,
     "DRY: repeats up to this length are free"},
    {"dry_penalty_last_n", NULL, GI(dry_penalty_last_n), -1, 1e9, -1, NULL, 0, 0,
     "DRY: how many recent tokens to scan; -1 the whole context, 0 disables"},
    {"dry_sequence_breakers", "dry-sequence-breaker", PARAM_GEN, PARAM_LIST,
     offsetof(struct gen_params, dry_sequence_breakers), 0, 0, 0, NULL, PARAMS_MAX_BREAKER_LEN,
     PARAMS_MAX_BREAKERS, "DRY sequence breaker (repeatable); default \\n : \" *"},
    {"xtc_probability", NULL, GF(xtc_probability), 0, 1, 0, NULL, 0, 0,
     "XTC: chance of removing the top choices; 0 disables"},
    {"xtc_threshold", NULL, GF(xtc_threshold), 0, 1, 0.1, NULL, 0, 0,
     "XTC: tokens above this probability are removable"},
    {"top_n_sigma", NULL, GF(top_n_sigma), -1, 100, -1, NULL, 0, 0,
     "keep tokens within N standard deviations of the best logit; -1 disables"},
    {"dynatemp_range", NULL, GF(dynatemp_range), 0, 100, 0, NULL, 0, 0,
     "dynamic temperature range; 0 disables"},
    {"dynatemp_exponent", NULL, GF(dynatemp_exponent), 0, 100, 1.0, NULL, 0, 0,
     "dynamic temperature exponent"},
    {"min_keep", NULL, GI(min_keep), 0, 1e6, 0, NULL, 0, 0,
     "minimum tokens every sampler keeps"},
    {"num_keep", "keep", GI(num_keep), 0, 1e9, 4, NULL, 0, 0,
     "prompt tokens kept at the start when a prompt is truncated to fit the context"},
    {"seed", NULL, PARAM_GEN, PARAM_I64, offsetof(struct gen_params, seed), -1, 4294967294.0, -1,
     NULL, 0, 0, "random seed; -1 picks one"},
    {"context_shift", "shift", PARAM_GEN, PARAM_BOOL, offsetof(struct gen_params, context_shift),
     0, 1, 0, NULL, 0, 0,
     "when the context is full, drop the oldest half after num_keep and go on (else stop)"},
    {"ignore_eos", NULL, PARAM_GEN, PARAM_BOOL, offsetof(struct gen_params, ignore_eos), 0, 1, 0,
     NULL, 0, 0, "keep generating past end-of-text tokens"},
    {"stop", NULL, PARAM_GEN, PARAM_LIST, offsetof(struct gen_params, stop), 0, 0, 0, NULL,
     PARAMS_MAX_STOP_LEN, PARAMS_MAX_STOPS,
     "stop when this text is generated; it is not printed (repeatable)"},
    {"grammar", NULL, PARAM_GEN, PARAM_STR, offsetof(struct gen_params, grammar), 0, 0, 0, NULL,
     PARAMS_MAX_GRAMMAR_LEN, 0, "GBNF grammar that constrains the output"},
    {"reasoning_budget", NULL, GI(reasoning_budget), -1, 1 << 24, -1, NULL, 0, 0,
     "tokens the model may think before its reasoning is closed for it; -1 no limit, 0 no "
     "thinking"},
    {"reasoning_end", NULL, PARAM_GEN, PARAM_STR, offsetof(struct gen_params, reasoning_end), 0,
     0, 0, NULL, 64, 0,
     "the text that closes reasoning, written when reasoning_budget runs out (the chat APIs set "
     "it from the template)"},
    {"logit_bias", NULL, PARAM_GEN, PARAM_BIAS, offsetof(struct gen_params, logit_bias), -1e9,
     1e9, 0, NULL, 0, PARAMS_MAX_LOGIT_BIAS,
     "TOKEN+BIAS or TOKEN-BIAS, e.g. 15043+1 or 2-inf to ban (repeatable)"},

    {"num_ctx", "ctx-size", LI(num_ctx), 0, 1 << 24, 0, NULL, 0, 0,
     "context size in tokens; 0 takes min(4096, the model's trained context)"},
    {"num_parallel", "parallel", LI(num_parallel), 0, 256, 0, NULL, 0, 0,
     "requests served at once, each in its own slot of num_ctx tokens; 0 takes the server's "
     "default (HEARTH_NUM_PARALLEL, 4) or 1 for `hearth run`"},
    {"num_batch", "batch-size", LI(num_batch), 1, 1 << 20, 2048, NULL, 0, 0,
     "logical batch size for prompt processing"},
    {"num_ubatch", "ubatch-size", LI(num_ubatch), 1, 1 << 20, 512, NULL, 0, 0,
     "physical batch size"},
    {"num_thread", "threads", LI(num_thread), 0, 1024, 0, NULL, 0, 0,
     "CPU threads; 0 uses every online CPU"},
    {"num_gpu", "n-gpu-layers", LI(num_gpu), -1, 100000, -1, NULL, 0, 0,
     "layers to offload to GPUs; -1: as many as fit in free VRAM (automatic)"},
    {"use_mmap", NULL, LB(use_mmap), 0, 1, 1, NULL, 0, 0, "map the model file instead of reading it"},
    {"use_mlock", NULL, LB(use_mlock), 0, 1, 0, NULL, 0, 0, "lock the model in RAM"},
    {"flash_attn", NULL, LI(flash_attn), -1, 1, -1, NULL, 0, 0,
     "flash attention: -1 auto, 0 off, 1 on"},
    {"cache_type_k", NULL, PARAM_LOAD, PARAM_STR, offsetof(struct load_params, cache_type_k), 0, 0,
     0, "f16", 16, 0, "KV cache type for K (f16, q8_0, q4_0, ...)"},
    {"cache_type_v", NULL, PARAM_LOAD, PARAM_STR, offsetof(struct load_params, cache_type_v), 0, 0,
     0, "f16", 16, 0, "KV cache type for V"},
    {"rope_freq_base", NULL, LF(rope_freq_base), 0, 1e12, 0, NULL, 0, 0,
     "RoPE base frequency; 0 from the model"},
    {"rope_freq_scale", NULL, LF(rope_freq_scale), 0, 1e6, 0, NULL, 0, 0,
     "RoPE frequency scale; 0 from the model"},
};
/* clang-format on */

const struct param_desc *params_table(int *n)
{
    *n = (int)ARRAY_LEN(table);
    return table;
}

static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

const struct param_desc *params_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(table); i++)
        if (name_eq(table[i].name, name) || (table[i].alias && name_eq(table[i].alias, name)))
            return &table[i];
    return NULL;
}

static void set_defaults(void *s, enum param_group g)
{
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        const struct param_desc *d = &table[i];
        if (d->group != g)
            continue;
        void *f = (char *)s + d->offset;
        switch (d->type) {
        case PARAM_INT: *(int32_t *)f = (int32_t)d->def; break;
        case PARAM_I64: *(int64_t *)f = (int64_t)d->def; break;
        case PARAM_FLOAT: *(float *)f = (float)d->def; break;
        case PARAM_BOOL: *(bool *)f = d->def != 0; break;
        case PARAM_STR: *(char **)f = d->sdef ? xstrdup(d->sdef) : NULL; break;
        case PARAM_LIST:
        case PARAM_BIAS: break; /* zeroed by the caller */
        }
    }
}

void gen_params_init(struct gen_params *p)
{
    memset(p, 0, sizeof *p);
    set_defaults(p, PARAM_GEN);
}

void load_params_init(struct load_params *p)
{
    memset(p, 0, sizeof *p);
    set_defaults(p, PARAM_LOAD);
}

void strlist_add(struct strlist *l, const char *s)
{
    l->v = xrealloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
    l->v[l->n++] = xstrdup(s);
}

void strlist_free(struct strlist *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void gen_params_free(struct gen_params *p)
{
    if (!p)
        return;
    free(p->grammar);
    free(p->reasoning_end);
    strlist_free(&p->stop);
    strlist_free(&p->dry_sequence_breakers);
    free(p->logit_bias);
    memset(p, 0, sizeof *p);
}

void load_params_free(struct load_params *p)
{
    if (!p)
        return;
    free(p->cache_type_k);
    free(p->cache_type_v);
    memset(p, 0, sizeof *p);
}

static int range_err(const struct param_desc *d, struct err *e, const char *value)
{
    if (d->type == PARAM_INT || d->type == PARAM_I64)
        return err_set(e, ERR_BAD_REQUEST, "%s must be an integer from %.0f to %.0f, not '%s'",
                       d->name, d->min, d->max, value);
    return err_set(e, ERR_BAD_REQUEST, "%s must be a number from %g to %g, not '%s'", d->name,
                   d->min, d->max, value);
}

static int parse_bias(const char *value, struct logit_bias_entry *out)
{
    /* TOKEN(+|-)BIAS, the llama.cpp CLI form; "-inf" bans the token. */
    const char *sep = value;
    if (*sep == '-' || *sep == '+')
        return ERR_BAD_REQUEST;
    while (*sep && *sep != '+' && *sep != '-')
        sep++;
    if (!*sep)
        return ERR_BAD_REQUEST;
    char tok[32];
    size_t n = (size_t)(sep - value);
    if (n == 0 || n >= sizeof tok)
        return ERR_BAD_REQUEST;
    memcpy(tok, value, n);
    tok[n] = '\0';
    int64_t t;
    if (parse_i64(tok, &t) || t < 0 || t > INT32_MAX)
        return ERR_BAD_REQUEST;
    double b;
    if (strcasecmp(sep + 1, "inf") == 0)
        b = INFINITY;
    else if (parse_double(sep + 1, &b) || fabs(b) > 1e9)
        return ERR_BAD_REQUEST;
    out->token = (int32_t)t;
    out->bias = (float)(*sep == '-' ? -b : b);
    return 0;
}

int params_set_text(void *s, const struct param_desc *d, const char *value, struct err *e)
{
    void *f = (char *)s + d->offset;
    switch (d->type) {
    case PARAM_INT:
    case PARAM_I64: {
        int64_t v;
        if (parse_i64(value, &v) || v < (int64_t)d->min || v > (int64_t)d->max)
            return range_err(d, e, value);
        if (d->type == PARAM_INT)
            *(int32_t *)f = (int32_t)v;
        else
            *(int64_t *)f = v;
        return 0;
    }
    case PARAM_FLOAT: {
        double v;
        if (parse_double(value, &v) || v < d->min || v > d->max)
            return range_err(d, e, value);
        *(float *)f = (float)v;
        return 0;
    }
    case PARAM_BOOL:
        if (!strcmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "on"))
            *(bool *)f = true;
        else if (!strcmp(value, "0") || !strcasecmp(value, "false") || !strcasecmp(value, "off"))
            *(bool *)f = false;
        else
            return err_set(e, ERR_BAD_REQUEST, "%s must be true or false, not '%s'", d->name,
                           value);
        return 0;
    case PARAM_STR: {
        if (strlen(value) > d->max_len)
            return err_set(e, ERR_TOO_LARGE, "%s is longer than %zu bytes", d->name, d->max_len);
        char **sp = (char **)f;
        free(*sp);
        *sp = xstrdup(value);
        return 0;
    }
    case PARAM_LIST: {
        struct strlist *l = (struct strlist *)f;
        if (l->n >= d->max_count)
            return err_set(e, ERR_TOO_LARGE, "at most %d values of %s", d->max_count, d->name);
        if (strlen(value) > d->max_len)
            return err_set(e, ERR_TOO_LARGE, "a %s value is longer than %zu bytes", d->name,
                           d->max_len);
        if (!*value)
            return err_set(e, ERR_BAD_REQUEST, "%s values must not be empty", d->name);
        strlist_add(l, value);
        return 0;
    }
    case PARAM_BIAS: {
        struct gen_params *g = s;
        if (g->n_logit_bias >= d->max_count)
            return err_set(e, ERR_TOO_LARGE, "at most %d logit_bias entries", d->max_count);
        struct logit_bias_entry ent;
        if (parse_bias(value, &ent))
            return err_set(e, ERR_BAD_REQUEST,
                           "logit_bias must look like TOKEN+BIAS or TOKEN-BIAS (2-inf bans "
                           "token 2), not '%s'",
                           value);
        g->logit_bias = xrealloc(g->logit_bias, sizeof ent * (size_t)(g->n_logit_bias + 1));
        g->logit_bias[g->n_logit_bias++] = ent;
        return 0;
    }
    }
    return ERR_INTERNAL;
}

static int validate(const void *s, enum param_group g, struct err *e)
{
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        const struct param_desc *d = &table[i];
        if (d->group != g)
            continue;
        const void *f = (const char *)s + d->offset;
        double v = 0;
        switch (d->type) {
        case PARAM_INT: v = *(const int32_t *)f; break;
        case PARAM_I64: v = (double)*(const int64_t *)f; break;
        case PARAM_FLOAT: v = *(const float *)f; break;
        case PARAM_BOOL: continue;
        case PARAM_STR: {
            const char *str = *(char *const *)f;
            if (str && strlen(str) > d->max_len)
                return err_set(e, ERR_TOO_LARGE, "%s is longer than %zu bytes", d->name,
                               d->max_len);
            continue;
        }
        case PARAM_LIST: {
            const struct strlist *l = (const struct strlist *)f;
            if (l->n > d->max_count)
                return err_set(e, ERR_TOO_LARGE, "at most %d values of %s", d->max_count, d->name);
            for (int k = 0; k < l->n; k++)
                if (!l->v[k][0] || strlen(l->v[k]) > d->max_len)
                    return err_set(e, ERR_BAD_REQUEST, "%s values must be 1 to %zu bytes long",
                                   d->name, d->max_len);
            continue;
        }
        case PARAM_BIAS: {
            const struct gen_params *gp = s;
            if (gp->n_logit_bias > d->max_count)
                return err_set(e, ERR_TOO_LARGE, "at most %d logit_bias entries", d->max_count);
            for (int k = 0; k < gp->n_logit_bias; k++)
                if (gp->logit_bias[k].token < 0 || isnan(gp->logit_bias[k].bias))
                    return err_set(e, ERR_BAD_REQUEST, "logit_bias entry %d is invalid", k);
            continue;
        }
        }
        if (isnan(v) || v < d->min || v > d->max)
            return err_set(e, ERR_BAD_REQUEST, "%s must be from %g to %g, not %g", d->name, d->min,
                           d->max, v);
    }
    return 0;
}

int gen_params_validate(const struct gen_params *p, struct err *e)
{
    return validate(p, PARAM_GEN, e);
}

int load_params_validate(const struct load_params *p, struct err *e)
{
    return validate(p, PARAM_LOAD, e);
}

/* Options Ollama or llama.cpp once had and no longer do: accepted with a warning so that old
 * clients keep working. */
static const char *const retired_options[] = {
    "tfs_z",
    "penalize_newline",
    "low_vram",
    "vocab_only",
    "f16_kv",
    "logits_all",
    "numa",
    "num_gqa",
    "rope_frequency_base",
    "rope_frequency_scale",
    "embedding_only",
    "mirostat_m",
    "main_gpu",
    "draft_num_predict",
};

int params_is_retired(const char *name)
{
    for (size_t i = 0; i < sizeof retired_options / sizeof retired_options[0]; i++)
        if (!strcmp(name, retired_options[i]))
            return 1;
    return 0;
}
