/* The precedence of settings (DESIGN.md principle 3), for every API:
 *
 *   request > the model's preset section > the model's own params (Ollama's params layer,
 *   Modelfile PARAMETERs) > the [*] section > the GGUF's general.sampling.* > built-in defaults
 *
 * Handlers apply request fields and resolve the model in whatever order suits them. Every
 * request field that names a parameter is recorded in req->req_set (api_apply_options does it,
 * native_mark for fields a protocol sets itself, like OpenAI's max_tokens), and native_resolve
 * fills every parameter the request did not set from the layers beneath it. So a preset's
 * value is never overwritten by an API-level default, and a request always wins. A list (stop)
 * is replaced, not merged, by each layer that sets it, as Ollama does. */
#include "api/api.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/mfile.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PARAMS 64 /* bits of req_set */

static int param_index(const char *name)
{
    int n;
    const struct param_desc *t = params_table(&n);
    const struct param_desc *d = params_find(name);
    return d ? (int)(d - t) : -1;
}

void native_mark(struct native_req *r, const char *param)
{
    int i = param_index(param);
    if (i >= 0 && i < MAX_PARAMS)
        r->req_set |= (uint64_t)1 << i;
}

/* ---- the GGUF's recommendations ---- */

/* llama.cpp's LLM_KV_GENERAL_SAMPLING_* (src/llama-arch.cpp) and the parameters they set, as
 * common/common.cpp applies them. general.sampling.sequence orders the samplers; hearth's
 * sampler chain has a fixed order, so it is not used. */
static const struct {
    const char *key, *param;
} gguf_keys[] = {
    {"general.sampling.top_k", "top_k"},
    {"general.sampling.top_p", "top_p"},
    {"general.sampling.min_p", "min_p"},
    {"general.sampling.xtc_probability", "xtc_probability"},
    {"general.sampling.xtc_threshold", "xtc_threshold"},
    {"general.sampling.temp", "temperature"},
    {"general.sampling.penalty_last_n", "repeat_last_n"},
    {"general.sampling.penalty_repeat", "repeat_penalty"},
    {"general.sampling.mirostat", "mirostat"},
    {"general.sampling.mirostat_tau", "mirostat_tau"},
    {"general.sampling.mirostat_eta", "mirostat_eta"},
};
#define N_GGUF_KEYS ARRAY_LEN(gguf_keys)

struct gguf_rec {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    unsigned have; /* bit k: gguf_keys[k] is present */
    char text[N_GGUF_KEYS][32];
};

/* Reading a GGUF walks its whole header; the answer is kept per file version. */
#define GGUF_CACHE 32
static struct gguf_rec gguf_cache[GGUF_CACHE];
static int gguf_next;
static pthread_mutex_t gguf_mu = PTHREAD_MUTEX_INITIALIZER;

static int kv_text(const struct mfile_kv *kv, char *out, size_t len)
{
    int64_t i;
    float f;
    double d;
    switch (kv->type) {
    case MFILE_F32:
        memcpy(&f, kv->val, sizeof f);
        snprintf(out, len, "%.9g", (double)f);
        return 0;
    case MFILE_F64:
        memcpy(&d, kv->val, sizeof d);
        snprintf(out, len, "%.17g", d);
        return 0;
    case MFILE_U8: i = *kv->val; break;
    case MFILE_I8: i = kv->val[0] < 128 ? kv->val[0] : (int64_t)kv->val[0] - 256; break;
    case MFILE_U16: {
        uint16_t v;
        memcpy(&v, kv->val, sizeof v);
        i = v;
        break;
    }
    case MFILE_I16: {
        int16_t v;
        memcpy(&v, kv->val, sizeof v);
        i = v;
        break;
    }
    case MFILE_U32: {
        uint32_t v;
        memcpy(&v, kv->val, sizeof v);
        i = v;
        break;
    }
    case MFILE_I32: {
        int32_t v;
        memcpy(&v, kv->val, sizeof v);
        i = v;
        break;
    }
    case MFILE_I64:
    case MFILE_U64: memcpy(&i, kv->val, sizeof i); break;
    default: return -1;
    }
    snprintf(out, len, "%lld", (long long)i);
    return 0;
}

/* The general.sampling.* values of path as text, into rec. */
static void gguf_read(const char *path, struct gguf_rec *rec)
{
    struct stat st;
    memset(rec, 0, sizeof *rec);
    if (!path || stat(path, &st) != 0)
        return;
    pthread_mutex_lock(&gguf_mu);
    for (int i = 0; i < GGUF_CACHE; i++) {
        struct gguf_rec *c = &gguf_cache[i];
        if (c->path && !strcmp(c->path, path) && c->dev == st.st_dev && c->ino == st.st_ino &&
            c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
            c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            *rec = *c;
            rec->path = NULL;
            pthread_mutex_unlock(&gguf_mu);
            return;
        }
    }
    pthread_mutex_unlock(&gguf_mu);
    struct mfile mf;
    if (mfile_open(path, &mf, NULL) == 0) {
        for (size_t k = 0; k < N_GGUF_KEYS; k++) {
            const struct mfile_kv *kv = mfile_find(&mf, gguf_keys[k].key);
            if (kv && kv_text(kv, rec->text[k], sizeof rec->text[k]) == 0)
                rec->have |= 1u << k;
        }
        mfile_close(&mf);
    }
    rec->dev = st.st_dev;
    rec->ino = st.st_ino;
    rec->size = st.st_size;
    rec->mtime = st.st_mtim;
    pthread_mutex_lock(&gguf_mu);
    struct gguf_rec *slot = &gguf_cache[gguf_next];
    gguf_next = (gguf_next + 1) % GGUF_CACHE;
    free(slot->path);
    *slot = *rec;
    slot->path = xstrdup(path);
    pthread_mutex_unlock(&gguf_mu);
}

/* ---- the layers ---- */

struct layering {
    struct gen_params *gen;
    struct load_params *load;
    enum preset_origin *origin;        /* per table entry, or NULL */
    unsigned char cleared[MAX_PARAMS]; /* a list already replaced by the current layer */
};

static void set_one(struct layering *L, const char *name, const char *value, enum preset_origin o,
                    const char *from)
{
    int n;
    const struct param_desc *t = params_table(&n);
    const struct param_desc *d = params_find(name);
    if (!d)
        return; /* a model-describing key, used by the store */
    int i = (int)(d - t);
    void *target = d->group == PARAM_GEN ? (void *)L->gen : (void *)L->load;
    if ((d->type == PARAM_LIST || d->type == PARAM_BIAS) && i < MAX_PARAMS && !L->cleared[i]) {
        /* A layer that sets a list replaces what the layers beneath it set. */
        L->cleared[i] = 1;
        if (d->type == PARAM_LIST) {
            strlist_free((struct strlist *)(void *)((char *)target + d->offset));
        } else {
            free(L->gen->logit_bias);
            L->gen->logit_bias = NULL;
            L->gen->n_logit_bias = 0;
        }
    }
    struct err e = {0};
    if (params_set_text(target, d, value, &e)) {
        log_warn("msg=\"a %s value was ignored\" param=%s err=%s", from, d->name, log_q(e.msg));
        return;
    }
    if (L->origin)
        L->origin[i] = o;
}

static void apply_entries(struct layering *L, const struct preset_set *p, const char *section,
                          enum preset_origin o)
{
    int n;
    const struct preset_kv *kv = preset_entries(p, section, &n);
    memset(L->cleared, 0, sizeof L->cleared);
    for (int i = 0; i < n; i++)
        set_one(L, kv[i].key, kv[i].value, o, "preset");
}

int settings_layers(const struct store_model *m, struct gen_params *gen, struct load_params *load,
                    enum preset_origin *origin)
{
    int n;
    params_table(&n);
    if (n > MAX_PARAMS)
        abort(); /* req_set would need more bits */
    gen_params_init(gen);
    load_params_init(load);
    struct layering L = {.gen = gen, .load = load, .origin = origin};
    if (origin)
        for (int i = 0; i < n; i++)
            origin[i] = PRESET_ORIGIN_DEFAULT;

    struct gguf_rec rec;
    gguf_read(m->path, &rec);
    for (size_t k = 0; k < N_GGUF_KEYS; k++)
        if (rec.have & (1u << k))
            set_one(&L, gguf_keys[k].param, rec.text[k], PRESET_ORIGIN_GGUF, "GGUF");

    struct preset_set *p = api && api->store ? store_presets(api->store) : NULL;
    apply_entries(&L, p, "*", PRESET_ORIGIN_GLOBAL);

    memset(L.cleared, 0, sizeof L.cleared);
    for (int i = 0; i < m->params.n; i++) {
        const char *eq = strchr(m->params.v[i], '=');
        if (!eq)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - m->params.v[i]), m->params.v[i]);
        set_one(&L, name, eq + 1, PRESET_ORIGIN_MODEL, "model parameter");
    }

    apply_entries(&L, p, m->name, PRESET_ORIGIN_SECTION);
    preset_release(p);
    return 0;
}

/* Moves table entry d from src into dst. */
static void move_field(const struct param_desc *d, void *dst, void *src)
{
    char *a = (char *)dst + d->offset, *b = (char *)src + d->offset;
    switch (d->type) {
    case PARAM_INT: memcpy(a, b, sizeof(int32_t)); break;
    case PARAM_I64: memcpy(a, b, sizeof(int64_t)); break;
    case PARAM_FLOAT: memcpy(a, b, sizeof(float)); break;
    case PARAM_BOOL: memcpy(a, b, sizeof(bool)); break;
    case PARAM_STR:
        free(*(char **)(void *)a);
        *(char **)(void *)a = *(char **)(void *)b;
        *(char **)(void *)b = NULL;
        break;
    case PARAM_LIST:
        strlist_free((struct strlist *)(void *)a);
        *(struct strlist *)(void *)a = *(struct strlist *)(void *)b;
        memset(b, 0, sizeof(struct strlist));
        break;
    case PARAM_BIAS: {
        struct gen_params *x = dst, *y = src;
        free(x->logit_bias);
        x->logit_bias = y->logit_bias;
        x->n_logit_bias = y->n_logit_bias;
        y->logit_bias = NULL;
        y->n_logit_bias = 0;
        break;
    }
    }
}

int settings_apply(struct native_req *req, const struct store_model *m)
{
    struct gen_params gen;
    struct load_params load;
    settings_layers(m, &gen, &load, NULL);
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n; i++) {
        if (req->req_set & ((uint64_t)1 << i))
            continue;
        if (t[i].group == PARAM_GEN)
            move_field(&t[i], &req->gen, &gen);
        else
            move_field(&t[i], &req->load, &load);
    }
    gen_params_free(&gen);
    load_params_free(&load);
    return 0;
}

/* ---- showing them ---- */

static void quote(struct buf *b, const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    buf_puts(b, q ? q : "\"\"");
    free(q);
    json_decref(j);
}

static void bias_text(const struct logit_bias_entry *b, char *out, size_t len)
{
    if (b->bias == -INFINITY)
        snprintf(out, len, "%d-inf", b->token);
    else
        snprintf(out, len, "%d%+g", b->token, (double)b->bias);
}

void settings_show(const struct store_model *m, json_t *show)
{
    struct gen_params gen;
    struct load_params load;
    enum preset_origin origin[MAX_PARAMS];
    settings_layers(m, &gen, &load, origin);
    int n;
    const struct param_desc *t = params_table(&n);
    json_t *list = json_array();
    struct buf text;
    buf_init(&text, 8u << 20);
    for (int i = 0; i < n; i++) {
        const struct param_desc *d = &t[i];
        const void *f =
            (const char *)(d->group == PARAM_GEN ? (const void *)&gen : (const void *)&load) +
            d->offset;
        json_t *v = NULL;
        char num[64];
        const char *str = NULL;
        switch (d->type) {
        case PARAM_INT:
            v = json_integer(*(const int32_t *)f);
            snprintf(num, sizeof num, "%d", *(const int32_t *)f);
            break;
        case PARAM_I64:
            v = json_integer((json_int_t) * (const int64_t *)f);
            snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)f);
            break;
        case PARAM_FLOAT:
            snprintf(num, sizeof num, "%g", (double)*(const float *)f);
            v = json_real(strtod(num, NULL)); /* 0.95, not 0.949999988 */
            break;
        case PARAM_BOOL:
            v = json_boolean(*(const bool *)f);
            snprintf(num, sizeof num, "%s", *(const bool *)f ? "true" : "false");
            break;
        case PARAM_STR:
            str = *(char *const *)f;
            v = str ? json_string(str) : json_null();
            break;
        case PARAM_LIST: {
            const struct strlist *l = f;
            v = json_array();
            for (int k = 0; k < l->n; k++)
                json_array_append_new(v, json_string(l->v[k]));
            break;
        }
        case PARAM_BIAS:
            v = json_array();
            for (int k = 0; k < gen.n_logit_bias; k++) {
                bias_text(&gen.logit_bias[k], num, sizeof num);
                json_array_append_new(v, json_string(num));
            }
            break;
        }
        json_array_append_new(list, json_pack("{s:s, s:o, s:s}", "name", d->name, "value", v,
                                              "source", preset_origin_name(origin[i])));
        if (origin[i] == PRESET_ORIGIN_DEFAULT)
            continue;
        /* Ollama's `parameters`: the values that are not defaults, in Modelfile form. */
        if (d->type == PARAM_LIST || d->type == PARAM_BIAS) {
            size_t k;
            json_t *x;
            json_array_foreach(v, k, x)
            {
                buf_printf(&text, "%-30s ", d->name);
                quote(&text, json_string_value(x));
                buf_puts(&text, "\n");
            }
        } else if (d->type == PARAM_STR) {
            buf_printf(&text, "%-30s ", d->name);
            quote(&text, str ? str : "");
            buf_puts(&text, "\n");
        } else {
            buf_printf(&text, "%-30s %s\n", d->name, num);
        }
    }
    json_object_set_new(show, "parameters", json_string(text.data ? text.data : ""));
    json_object_set_new(show, "hearth_parameters", list);
    buf_free(&text);
    gen_params_free(&gen);
    load_params_free(&load);
}
