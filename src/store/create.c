#include "store/create.h"

#include "base/buf.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "engine/mfile.h"
#include "engine/quantize.h"
#include "store/layout.h"
#include "store/preset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_MODEL    "application/vnd.ollama.image.model"
#define MT_ADAPTER  "application/vnd.ollama.image.adapter"
#define MT_TEMPLATE "application/vnd.ollama.image.template"
#define MT_SYSTEM   "application/vnd.ollama.image.system"
#define MT_PARAMS   "application/vnd.ollama.image.params"
#define MT_LICENSE  "application/vnd.ollama.image.license"
#define MT_MESSAGES "application/vnd.ollama.image.messages"
#define MT_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

void create_presets_path(const struct store *s, char *out, size_t len)
{
    const char *p = s ? store_presets_path(s) : NULL;
    if (p && *p)
        snprintf(out, len, "%s", p);
    else
        preset_default_path(out, len);
}

int create_quant_type(const char *name)
{
    return quantize_type(name);
}

/* A number for temporary names that no other create in this process uses at the same time. */
static unsigned long unique_id(void)
{
    static unsigned long counter;
    return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

static void progress(const struct create_opts *o, const char *status, int64_t total, int64_t done)
{
    if (o->progress)
        o->progress(o->progress_ctx, status, total, done);
}

/* ---- finding the base ---- */

/* What FROM (or ADAPTER) resolved to. */
struct base {
    char path[LAYOUT_MAX_PATH];     /* the GGUF */
    char name[STORE_MAX_NAME + 16]; /* the base model's name when FROM named one, else "" */
    char digest[72];                /* "sha256:HEX" when already known */
    struct store_model model;       /* FROM a name: what the store knows of it */
    int have_model;
};

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Resolves a FROM or ADAPTER value: a digest (a blob in Ollama's store), a path (only when
 * o->allow_paths; relative to o->base_dir), or (FROM only) a model name. */
static int resolve(const struct store *s, const struct create_opts *o, const char *what,
                   const char *value, int names_ok, struct base *b, struct err *e)
{
    memset(b, 0, sizeof *b);
    /* Older Ollama clients upload the file and send "FROM @sha256:HEX". */
    if (value[0] == '@' && layout_digest_valid(value + 1))
        value++;
    if (layout_digest_valid(value)) {
        int rc = layout_ollama_blob(store_ollama_root(s), value, b->path, sizeof b->path, e);
        if (rc)
            return rc;
        if (!is_regular(b->path))
            return err_set(e, ERR_NOT_FOUND,
                           "%s %s: no such blob in Ollama's store (upload it with POST "
                           "/api/blobs/%s first)",
                           what, value, value);
        snprintf(b->digest, sizeof b->digest, "sha256:%s", value + 7);
        return 0;
    }
    struct model_ref ref;
    struct err re = {0};
    int parsed = model_ref_parse(value, &ref, &re) == 0;
    int looks_like_path = !parsed || ref.kind == REF_PATH;
    char full[LAYOUT_MAX_PATH * 2 + 2];
    if (o->allow_paths) {
        const char *p = parsed && ref.kind == REF_PATH ? ref.path : value;
        if (p[0] == '/' || !o->base_dir)
            snprintf(full, sizeof full, "%s", p);
        else
            snprintf(full, sizeof full, "%s/%s", o->base_dir, p);
        /* As Ollama does: a name that is also a file beside the Modelfile is the file. */
        if (looks_like_path || !names_ok || is_regular(full)) {
            struct stat st;
            if (stat(full, &st) != 0)
                return err_set(e, ERR_NOT_FOUND, "%s %s: %s", what, full, strerror(errno));
            if (!S_ISREG(st.st_mode))
                return err_set(e, ERR_BAD_REQUEST, "%s %s: not a regular file", what, full);
            if (!realpath(full, b->path))
                return err_set(e, ERR_IO, "%s %s: %s", what, full, strerror(errno));
            return 0;
        }
    } else if (looks_like_path) {
        return err_set(e, ERR_BAD_REQUEST,
                       "%s '%s': the network API does not read files on the server; upload "
                       "the file with POST /api/blobs/sha256:HEX and use its digest",
                       what, value);
    }
    if (!names_ok)
        return err_set(e, ERR_BAD_REQUEST, "%s '%s' must be a file or a sha256 digest", what,
                       value);
    int rc = store_find(s, value, &b->model, e);
    if (rc)
        return rc;
    b->have_model = 1;
    snprintf(b->path, sizeof b->path, "%s", b->model.path);
    snprintf(b->name, sizeof b->name, "%s", b->model.name);
    /* The store knows the content's sha256 for Ollama blobs and HF LFS files: no hashing. */
    if (layout_digest_valid(b->model.digest))
        snprintf(b->digest, sizeof b->digest, "sha256:%s", b->model.digest + 7);
    return 0;
}

/* ---- GGUF facts ---- */

struct gguf_facts {
    char arch[64];
    int ftype; /* llama_ftype, -1 when unknown */
    uint64_t n_params;
    int64_t size;
};

/* The llama_ftype a GGUF is "mostly", from general.file_type or its main tensor type. */
static int file_ftype(const struct mfile *f)
{
    int64_t v;
    if (mfile_get_int(f, "general.file_type", &v) == 0)
        return (int)v;
    switch (f->main_type) { /* ggml types: F32 0, F16 1, Q8_0 8, BF16 30 */
    case 0: return 0;
    case 1: return 1;
    case 8: return 7;
    case 30: return 32;
    default: return -1;
    }
}

static int read_facts(const char *path, struct gguf_facts *g, struct err *e)
{
    struct mfile f;
    int rc = mfile_open(path, &f, e);
    if (rc)
        return rc;
    char *arch = mfile_get_str(&f, "general.architecture");
    snprintf(g->arch, sizeof g->arch, "%s", arch ? arch : "");
    free(arch);
    g->ftype = file_ftype(&f);
    g->n_params = f.n_elements;
    g->size = (int64_t)f.size;
    mfile_close(&f);
    return 0;
}

/* An adapter must at least be a GGUF; whether it fits the model, libllama says at load. */
static int check_adapter(const char *path, struct err *e)
{
    struct mfile f;
    struct err me = {0};
    if (mfile_open(path, &f, &me))
        return err_set(e, me.code, "ADAPTER: %s", me.msg);
    mfile_close(&f);
    return 0;
}

/* ---- quantizing ---- */

struct quant_progress {
    const struct create_opts *o;
    char status[128];
};

static void on_quant_progress(void *ctx, int64_t done, int64_t total)
{
    struct quant_progress *q = ctx;
    progress(q->o, q->status, total, done);
}

/* Ollama's rule, widened to Q8_0 as llama-quantize allows: only full-precision or Q8_0
 * weights are quantized, never an already-quantized model again. */
static int quantizable(const struct gguf_facts *g, const char *type, struct err *e)
{
    const char *from = quantize_ftype_name(g->ftype);
    if (g->ftype != 0 && g->ftype != 1 && g->ftype != 32 && g->ftype != 7)
        return err_set(e, ERR_BAD_REQUEST,
                       "only an F32, F16, BF16 or Q8_0 model can be quantized; this one is %s",
                       from ? from : "of an unknown type");
    if (!strcmp(from, type))
        return err_set(e, ERR_BAD_REQUEST, "the model is already %s", type);
    return 0;
}

/* Quantizes src into dst (a new file). */
static int quantize(const struct create_opts *o, const char *src, const struct gguf_facts *g,
                    const char *dst, struct err *e)
{
    const char *type = quantize_type_name(o->quantize);
    if (!type)
        return err_set(e, ERR_BAD_REQUEST, "unknown quantization type '%s' (expected one of %s)",
                       o->quantize, quantize_type_list());
    int rc = quantizable(g, type, e);
    if (rc)
        return rc;
    const char *from = quantize_ftype_name(g->ftype);
    struct quant_progress q = {.o = o};
    snprintf(q.status, sizeof q.status, "quantizing %s model to %s", from, type);
    progress(o, q.status, 0, 0);
    return quantize_run(o->exe ? o->exe : "/proc/self/exe", src, dst, type, on_quant_progress, &q,
                        o->cancel, e);
}

/* ---- Ollama's store ---- */

/* ROOT/blobs, through the one digest-to-path function. */
static int blobs_path(const char *root, char *out, size_t len, struct err *e)
{
    char any[LAYOUT_MAX_PATH];
    int rc = layout_ollama_blob(
        root, "sha256:0000000000000000000000000000000000000000000000000000000000000000", any,
        sizeof any, e);
    if (!rc)
        snprintf(out, len, "%s", dirname(any));
    return rc;
}

/* The same, created when missing. */
static int blobs_dir(const char *root, char *out, size_t len, struct err *e)
{
    int rc = blobs_path(root, out, len, e);
    return rc ? rc : layout_mkdirs(out, e);
}

/* The blob path of digest in dir's store (creating blobs/), into blob. Returns 0 and 1 in
 * *have when the blob is there already (reported as an existing layer), or the error. */
static int blob_target(const char *root, const char *digest, char *dir, size_t dir_len, char *blob,
                       size_t blob_len, int *have, const struct create_opts *o, struct err *e)
{
    int rc = blobs_dir(root, dir, dir_len, e);
    if (!rc)
        rc = layout_ollama_blob(root, digest, blob, blob_len, e);
    if (rc)
        return rc;
    *have = is_regular(blob);
    if (*have) {
        char msg[128];
        snprintf(msg, sizeof msg, "using existing layer %s", digest);
        progress(o, msg, 0, 0);
    }
    return 0;
}

/* Stores data as a blob; digest receives "sha256:HEX". */
static int blob_from_mem(const char *root, const void *data, size_t len, char digest[72],
                         const struct create_opts *o, struct err *e)
{
    char hex[65], path[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH], msg[128];
    sha256_hex(data, len, hex);
    snprintf(digest, 72, "sha256:%s", hex);
    int have;
    int rc = blob_target(root, digest, dir, sizeof dir, path, sizeof path, &have, o, e);
    if (rc || have)
        return rc;
    snprintf(msg, sizeof msg, "creating new layer %s", digest);
    progress(o, msg, 0, 0);
    return layout_write_atomic(path, data, len, e);
}

struct hash_progress {
    const struct create_opts *o;
    int64_t total;
};

static void on_hash_progress(void *ctx, int64_t done)
{
    struct hash_progress *h = ctx;
    progress(h->o, "hashing model file", h->total, done);
}

static int copy_file(const char *from, const char *to, const struct create_opts *o, int64_t total,
                     const char *status)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    enum { CHUNK = 1 << 20 };
    char *buf = xmalloc(CHUNK);
    int64_t done = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc)
            break;
        done += n;
        progress(o, status, total, done);
    }
    free(buf);
    int saved = errno;
    if (!rc && fsync(out))
        rc = -1;
    close(out);
    close(in);
    errno = saved;
    return rc;
}

/* Puts the file at path into Ollama's blobs (hard link, else copy). digest: "sha256:HEX" when
 * known, else computed. */
static int blob_from_file(const char *root, const char *path, char digest[72], int64_t size,
                          const struct create_opts *o, struct err *e)
{
    if (!digest[0]) {
        char hex[65];
        struct hash_progress h = {o, size};
        if (sha256_file_hex(path, hex, NULL, on_hash_progress, &h))
            return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
        snprintf(digest, 72, "sha256:%s", hex);
    }
    char blob[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH], msg[160];
    int have;
    int rc = blob_target(root, digest, dir, sizeof dir, blob, sizeof blob, &have, o, e);
    if (rc || have)
        return rc;
    snprintf(msg, sizeof msg, "copying file %s", digest);
    char tmp[LAYOUT_MAX_PATH + 64];
    snprintf(tmp, sizeof tmp, "%s/.hearth-create-%ld-%lu-%.12s", dir, (long)getpid(), unique_id(),
             digest + 7);
    unlink(tmp);
    if (link(path, tmp) != 0) {
        if (copy_file(path, tmp, o, size, msg) != 0) {
            int err = errno;
            unlink(tmp);
            return err_set(e, ERR_IO, "cannot copy %s into %s: %s", path, dir, strerror(err));
        }
    }
    progress(o, msg, size, size);
    if (rename(tmp, blob) != 0) {
        int err = errno;
        unlink(tmp);
        return err_set(e, ERR_IO, "cannot store %s: %s", blob, strerror(err));
    }
    return layout_fsync_dir_of(blob, e);
}

static void add_layer(json_t *layers, json_t *diff_ids, const char *media, const char *digest,
                      int64_t size)
{
    json_t *l = json_object();
    json_object_set_new(l, "mediaType", json_string(media));
    json_object_set_new(l, "digest", json_string(digest));
    json_object_set_new(l, "size", json_integer(size));
    json_array_append_new(layers, l);
    json_array_append_new(diff_ids, json_string(digest));
}

static int text_layer(const char *root, json_t *layers, json_t *ids, const char *media,
                      const char *text, const struct create_opts *o, struct err *e)
{
    char digest[72];
    size_t len = strlen(text);
    int rc = blob_from_mem(root, text, len, digest, o, e);
    if (!rc)
        add_layer(layers, ids, media, digest, (int64_t)len);
    return rc;
}

/* Ollama's params layer: numbers as numbers, booleans as booleans, lists as arrays. */
static json_t *params_json(const struct strlist *params)
{
    json_t *o = json_object();
    for (int i = 0; i < params->n; i++) {
        const char *kv = params->v[i], *eq = strchr(kv, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
        const char *v = eq + 1;
        const struct param_desc *d = params_find(name);
        json_t *val;
        switch (d ? d->type : PARAM_STR) {
        case PARAM_INT:
        case PARAM_I64: val = json_integer(strtoll(v, NULL, 10)); break;
        case PARAM_FLOAT: val = json_real(strtod(v, NULL)); break;
        case PARAM_BOOL: val = json_boolean(!strcmp(v, "true") || !strcmp(v, "1")); break;
        case PARAM_LIST: {
            json_t *arr = json_object_get(o, name);
            if (!arr) {
                arr = json_array();
                json_object_set_new(o, name, arr);
            }
            json_array_append_new(arr, json_string(v));
            continue;
        }
        default: val = json_string(v); break;
        }
        json_object_set_new(o, name, val);
    }
    return o;
}

static json_t *messages_json(const struct modelfile *mf)
{
    json_t *arr = json_array();
    for (int i = 0; i < mf->n_messages; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "role", mf->messages[i].role, "content",
                                             mf->messages[i].content));
    return arr;
}

/* The machine as Go's GOARCH names it, which is what Ollama's config blob records. */
static const char *goarch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#else
    return "unknown";
#endif
}

/* "260K", "1.2B": the parameter count as Ollama's model_type shows it. */
static void param_size(uint64_t n, char *out, size_t len)
{
    if (n >= 1000000000ull)
        snprintf(out, len, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(out, len, "%.1fM", (double)n / 1e6);
    else
        snprintf(out, len, "%.0fK", (double)n / 1e3);
}

static int write_manifest(const struct store *s, const struct model_ref *ref,
                          const struct modelfile *mf, const struct base *base, const char *model,
                          char model_digest[72], const struct gguf_facts *g, const char *adapter,
                          const struct create_opts *o, struct err *e)
{
    const char *root = store_ollama_root(s);
    json_t *layers = json_array(), *ids = json_array();
    char *text = NULL;
    int rc = blob_from_file(root, model, model_digest, g->size, o, e);
    if (!rc)
        add_layer(layers, ids, MT_MODEL, model_digest, g->size);
    if (!rc && adapter) {
        char ad[72] = "";
        struct stat st;
        rc = stat(adapter, &st) ? err_set(e, ERR_IO, "%s: %s", adapter, strerror(errno)) : 0;
        if (!rc)
            rc = blob_from_file(root, adapter, ad, st.st_size, o, e);
        if (!rc)
            add_layer(layers, ids, MT_ADAPTER, ad, st.st_size);
    }
    /* What the Modelfile leaves out comes from the base model, as in Ollama. */
    const struct store_model *bm = base->have_model ? &base->model : NULL;
    const char *tmpl = mf->template_text, *sys = mf->system;
    int tmpl_go = mf->template_is_go;
    if (!tmpl && bm && bm->template_text) {
        tmpl = bm->template_text;
        tmpl_go = bm->template_is_go;
    }
    if (!sys && bm)
        sys = bm->system;
    if (!rc && tmpl && tmpl_go)
        rc = text_layer(root, layers, ids, MT_TEMPLATE, tmpl, o, e);
    else if (tmpl && !tmpl_go)
        log_warn("msg=\"a Jinja TEMPLATE is kept in the preset only: Ollama runs Go templates\" "
                 "model=%s",
                 log_q(o->name));
    if (!rc && sys)
        rc = text_layer(root, layers, ids, MT_SYSTEM, sys, o, e);
    for (int i = 0; !rc && i < mf->licenses.n; i++)
        rc = text_layer(root, layers, ids, MT_LICENSE, mf->licenses.v[i], o, e);
    if (!rc && !mf->licenses.n && bm && bm->license)
        rc = text_layer(root, layers, ids, MT_LICENSE, bm->license, o, e);
    struct strlist params = {0};
    if (bm) /* the base's parameters that the Modelfile does not set */
        for (int i = 0; i < bm->params.n; i++) {
            const char *eq = strchr(bm->params.v[i], '=');
            size_t nl = eq ? (size_t)(eq - bm->params.v[i]) : 0;
            int overridden = 0;
            for (int j = 0; eq && j < mf->params.n; j++)
                overridden |= !strncmp(mf->params.v[j], bm->params.v[i], nl + 1);
            if (eq && !overridden)
                strlist_add(&params, bm->params.v[i]);
        }
    for (int i = 0; i < mf->params.n; i++)
        strlist_add(&params, mf->params.v[i]);
    if (!rc && params.n) {
        json_t *pj = params_json(&params);
        text = json_dumps(pj, JSON_COMPACT);
        json_decref(pj);
        rc = text_layer(root, layers, ids, MT_PARAMS, text, o, e);
        free(text);
    }
    strlist_free(&params);
    if (!rc && mf->n_messages) {
        json_t *mj = messages_json(mf);
        text = json_dumps(mj, JSON_COMPACT);
        json_decref(mj);
        rc = text_layer(root, layers, ids, MT_MESSAGES, text, o, e);
        free(text);
    } else if (!rc && bm && bm->messages_json) {
        rc = text_layer(root, layers, ids, MT_MESSAGES, bm->messages_json, o, e);
    }
    char config_digest[72] = "";
    json_t *config = NULL, *manifest = NULL;
    size_t config_len = 0;
    if (!rc) {
        char ptype[16];
        param_size(g->n_params, ptype, sizeof ptype);
        const char *ft = quantize_ftype_name(g->ftype);
        config = json_pack("{s:s,s:s,s:[s],s:s,s:s,s:s,s:s,s:{s:s,s:O}}", "model_format", "gguf",
                           "model_family", g->arch, "model_families", g->arch, "model_type", ptype,
                           "file_type", ft ? ft : "unknown", "architecture", goarch(), "os",
                           "linux", "rootfs", "type", "layers", "diff_ids", ids);
        if (mf->requires) /* the Ollama version the model needs, where Ollama keeps it */
            json_object_set_new(config, "requires", json_string(mf->requires));
        text = json_dumps(config, JSON_COMPACT);
        config_len = strlen(text);
        rc = blob_from_mem(root, text, config_len, config_digest, o, e);
        free(text);
    }
    if (!rc) {
        manifest = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType",
                             MT_MANIFEST, "config", "mediaType", MT_CONFIG, "digest", config_digest,
                             "size", (json_int_t)config_len, "layers", layers);
        char path[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH];
        rc = layout_ollama_manifest(root, ref, path, sizeof path, e);
        if (!rc) {
            snprintf(dir, sizeof dir, "%s", path);
            rc = layout_mkdirs(dirname(dir), e);
        }
        if (!rc) {
            progress(o, "writing manifest", 0, 0);
            text = json_dumps(manifest, JSON_COMPACT);
            rc = layout_write_atomic(path, text, strlen(text), e);
            free(text);
        }
    }
    json_decref(config);
    json_decref(manifest);
    json_decref(layers);
    json_decref(ids);
    return rc;
}

/* ---- the preset ---- */

/* A preset line: preset_write_section quotes and escapes the values that need it. */
static void kv_add(struct strlist *kv, const char *key, const char *value)
{
    size_t len = strlen(key) + strlen(value) + 2;
    char *line = xmalloc(len);
    snprintf(line, len, "%s=%s", key, value);
    strlist_add(kv, line);
    free(line);
}

/* The section that defines the model: `model` and everything the Modelfile said. */
static int write_model_section(const char *presets, const char *canon, const struct modelfile *mf,
                               const char *model, const char *adapter, const struct create_opts *o,
                               struct err *e)
{
    struct strlist kv = {0};
    kv_add(&kv, "model", model);
    for (int i = 0; i < mf->params.n; i++) {
        const char *eq = strchr(mf->params.v[i], '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - mf->params.v[i]), mf->params.v[i]);
        kv_add(&kv, key, eq + 1);
    }
    if (mf->template_text)
        kv_add(&kv, mf->template_is_go ? "ollama-template" : "chat-template", mf->template_text);
    if (mf->system)
        kv_add(&kv, "system", mf->system);
    if (mf->n_messages) {
        json_t *mj = messages_json(mf);
        char *t = json_dumps(mj, JSON_COMPACT);
        kv_add(&kv, "messages", t);
        free(t);
        json_decref(mj);
    }
    if (mf->licenses.n) {
        struct buf lb;
        buf_init(&lb, 0);
        for (int i = 0; i < mf->licenses.n; i++)
            buf_printf(&lb, "%s%s", i ? "\n\n" : "", mf->licenses.v[i]);
        kv_add(&kv, "license", lb.data);
        buf_free(&lb);
    }
    if (adapter)
        kv_add(&kv, "adapter", adapter);
    progress(o, "writing preset", 0, 0);
    int rc = preset_write_section(presets, canon, &kv, e);
    strlist_free(&kv);
    return rc;
}

/* Beside an Ollama manifest, which defines the model and holds its Go template, system,
 * params, messages and license, the presets file holds only what Ollama cannot: a Jinja
 * template, in a section without `model` (settings for the model of that name). A name defined
 * twice would be listed twice and need two deletes. An older section of the name goes. */
static int write_settings_section(const char *presets, const char *canon,
                                  const struct modelfile *mf, const struct base *base,
                                  struct err *e)
{
    const char *jinja = NULL;
    if (mf->template_text)
        jinja = mf->template_is_go ? NULL : mf->template_text;
    else if (base->have_model && base->model.template_text && !base->model.template_is_go)
        jinja = base->model.template_text;
    if (jinja) {
        struct strlist kv = {0};
        kv_add(&kv, "chat-template", jinja);
        int rc = preset_write_section(presets, canon, &kv, e);
        strlist_free(&kv);
        return rc;
    }
    if (!is_regular(presets))
        return 0;
    struct preset_set *p = NULL;
    struct err le = {0};
    int had = 0;
    if (preset_load(presets, &p, &le) == 0) {
        int n = 0;
        const char *const *names = preset_sections(p, &n);
        for (int i = 0; i < n; i++)
            had |= !strcmp(names[i], canon);
        preset_release(p);
    }
    return had ? preset_write_section(presets, canon, NULL, e) : 0;
}

int create_check(const struct store *s, const struct modelfile *mf, const struct create_opts *o,
                 struct err *e)
{
    struct model_ref ref;
    int rc = model_ref_parse(o->name, &ref, e);
    if (rc)
        return rc;
    if (ref.kind != REF_PLAIN && ref.kind != REF_OLLAMA)
        return err_set(e, ERR_BAD_REQUEST,
                       "'%s' cannot be a new model's name (expected NAME[:TAG])", o->name);
    const char *type = NULL;
    if (o->quantize && !(type = quantize_type_name(o->quantize)))
        return err_set(e, ERR_BAD_REQUEST, "unknown quantization type '%s' (expected one of %s)",
                       o->quantize, quantize_type_list());
    struct base base, adapter;
    memset(&adapter, 0, sizeof adapter);
    if ((rc = resolve(s, o, "FROM", mf->from, 1, &base, e)))
        return rc;
    struct gguf_facts g = {.ftype = -1};
    if (mf->adapter)
        rc = resolve(s, o, "ADAPTER", mf->adapter, 0, &adapter, e);
    if (!rc && mf->adapter)
        rc = check_adapter(adapter.path, e);
    if (!rc)
        rc = read_facts(base.path, &g, e);
    if (!rc && type)
        rc = quantizable(&g, type, e);
    if (base.have_model)
        store_model_free(&base.model);
    return rc;
}

/* Removes dir's temporary files named .hearth-create-PID-* or .hearth-quantize-PID-* whose
 * process is gone (kill -9 during a create; the name carries the creating process's pid). */
static void sweep_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name, *p = NULL;
        if (strncmp(n, ".hearth-create-", 15) == 0)
            p = n + 15;
        else if (strncmp(n, ".hearth-quantize-", 17) == 0)
            p = n + 17;
        if (!p)
            continue;
        char *end;
        long pid = strtol(p, &end, 10);
        if (pid <= 0 || *end != '-' || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* not ours, or its process still runs */
        char path[LAYOUT_MAX_PATH + 256];
        snprintf(path, sizeof path, "%s/%s", dir, n);
        if (unlink(path) == 0)
            log_info("msg=\"removed a temporary file of an interrupted create\" file=%s",
                     log_q(path));
    }
    closedir(d);
}

void create_sweep(const struct store *s)
{
    char dir[LAYOUT_MAX_PATH], presets[LAYOUT_MAX_PATH];
    struct err e = {0};
    if (store_ollama_root(s) && blobs_path(store_ollama_root(s), dir, sizeof dir, &e) == 0)
        sweep_dir(dir);
    create_presets_path(s, presets, sizeof presets);
    snprintf(dir, sizeof dir, "%s/models", dirname(presets));
    sweep_dir(dir);
}

int create_model(const struct store *s, const struct modelfile *mf, const struct create_opts *o,
                 struct err *e)
{
    struct model_ref ref;
    int rc = model_ref_parse(o->name, &ref, e);
    if (rc)
        return rc;
    if (ref.kind != REF_PLAIN && ref.kind != REF_OLLAMA)
        return err_set(e, ERR_BAD_REQUEST,
                       "'%s' cannot be a new model's name (expected NAME[:TAG])", o->name);
    create_sweep(s);
    char canon[STORE_MAX_NAME + 16];
    model_ref_format(&ref, canon, sizeof canon);
    if (o->quantize && !quantize_type_name(o->quantize))
        return err_set(e, ERR_BAD_REQUEST, "unknown quantization type '%s' (expected one of %s)",
                       o->quantize, quantize_type_list());

    struct base base, adapter;
    memset(&adapter, 0, sizeof adapter);
    progress(o, "gathering model components", 0, 0);
    rc = resolve(s, o, "FROM", mf->from, 1, &base, e);
    if (rc)
        return rc;
    if (mf->adapter && ((rc = resolve(s, o, "ADAPTER", mf->adapter, 0, &adapter, e)) ||
                        (rc = check_adapter(adapter.path, e))))
        goto out;
    struct gguf_facts g = {.ftype = -1};
    progress(o, "parsing GGUF", 0, 0);
    if ((rc = read_facts(base.path, &g, e)))
        goto out;

    /* The weights the new model uses: the base's, or a quantized copy. */
    char model[LAYOUT_MAX_PATH + 512], digest[72];
    snprintf(model, sizeof model, "%s", base.path);
    snprintf(digest, sizeof digest, "%s", base.digest);
    char presets[LAYOUT_MAX_PATH];
    create_presets_path(s, presets, sizeof presets);
    int quantized = 0;
    if (o->quantize) {
        char dir[LAYOUT_MAX_PATH], tmp[LAYOUT_MAX_PATH + 64];
        if (o->ollama) {
            rc = blobs_dir(store_ollama_root(s), dir, sizeof dir, e);
        } else {
            char pd[LAYOUT_MAX_PATH];
            snprintf(pd, sizeof pd, "%s", presets);
            snprintf(dir, sizeof dir, "%s/models", dirname(pd));
            rc = layout_mkdirs(dir, e);
        }
        if (rc)
            goto out;
        snprintf(tmp, sizeof tmp, "%s/.hearth-quantize-%ld-%lu.gguf", dir, (long)getpid(),
                 unique_id());
        if ((rc = quantize(o, base.path, &g, tmp, e)))
            goto out;
        if (o->ollama) {
            snprintf(model, sizeof model, "%s", tmp); /* moved into blobs/ below */
        } else {
            char file[LAYOUT_MAX_PATH + 512];
            snprintf(file, sizeof file, "%s/%s-%s.gguf", dir, ref.name, ref.tag);
            if (rename(tmp, file) != 0) {
                rc = err_set(e, ERR_IO, "cannot write %s: %s", file, strerror(errno));
                unlink(tmp);
                goto out;
            }
            snprintf(model, sizeof model, "%s", file);
        }
        digest[0] = '\0';
        quantized = 1;
        if ((rc = read_facts(model, &g, e))) {
            unlink(model);
            goto out;
        }
    }

    if (o->ollama) {
        rc = write_manifest(s, &ref, mf, &base, model, digest, &g,
                            mf->adapter ? adapter.path : NULL, o, e);
        if (quantized && strstr(model, "/.hearth-quantize-"))
            unlink(model); /* the blob is a link to it, or a copy */
        if (rc)
            goto out;
        if (quantized) /* the preset points at the blob */
            rc = layout_ollama_blob(store_ollama_root(s), digest, model, sizeof model, e);
        if (rc)
            goto out;
    }

    if (o->ollama)
        rc = write_settings_section(presets, canon, mf, &base, e);
    else
        rc = write_model_section(presets, canon, mf, base.name[0] && !quantized ? base.name : model,
                                 mf->adapter ? adapter.path : NULL, o, e);
    if (!rc)
        log_info("msg=\"model created\" model=%s presets=%s ollama=%d quantize=%s", log_q(canon),
                 log_q(presets), o->ollama, o->quantize ? o->quantize : "none");
out:
    if (base.have_model)
        store_model_free(&base.model);
    if (adapter.have_model)
        store_model_free(&adapter.model);
    return rc;
}
