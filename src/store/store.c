/* The store's front: names to sources, folders, listing, copy and delete. The Ollama store and
 * the Hugging Face cache live in store_ollama.c and store_hf.c. */
#include "store/store.h"

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/bundle.h"
#include "store/layout.h"
#include "store/preset.h"
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *store_source_name(enum store_source src)
{
    static const char *const names[] = {"path", "folder", "ollama", "hf", "preset", "remote"};
    return (unsigned)src < ARRAY_LEN(names) ? names[src] : "?";
}

struct store *store_init(const struct store_config *cfg)
{
    struct store *s = xcalloc(1, sizeof *s);
    int n_dirs = cfg->n_dirs;
    s->dirs = xcalloc((size_t)(n_dirs > 0 ? n_dirs : 1), sizeof(char *));
    for (int i = 0; i < n_dirs; i++) {
        /* Absolute paths, so what /api/show reports does not depend on our cwd. */
        char *abs = realpath(cfg->dirs[i], NULL);
        s->dirs[s->n_dirs++] = abs ? abs : xstrdup(cfg->dirs[i]);
    }
    char buf[LAYOUT_MAX_PATH];
    if (cfg->hf_hub)
        snprintf(buf, sizeof buf, "%s", cfg->hf_hub);
    else
        layout_hf_hub(buf, sizeof buf);
    s->hf_hub = xstrdup(buf);
    if (cfg->ollama_root)
        snprintf(buf, sizeof buf, "%s", cfg->ollama_root);
    else
        layout_ollama_root(buf, sizeof buf);
    s->ollama_root = xstrdup(buf);
    s->presets = cfg->presets ? xstrdup(cfg->presets) : NULL;
    struct err e = {0};
    if (s->presets && preset_live_open(s->presets, 0, &s->live, &e))
        log_error("msg=\"presets not loaded\" err=%s", log_q(e.msg));
    if (!s->presets && cfg->presets_text &&
        preset_parse("the bundle's preset", cfg->presets_text, strlen(cfg->presets_text), &s->fixed,
                     &e))
        log_error("msg=\"presets not loaded\" err=%s", log_q(e.msg));
    s->own_only = cfg->own_only;
    return s;
}

const char *store_hf_hub(const struct store *s)
{
    return s->hf_hub;
}

const char *store_ollama_root(const struct store *s)
{
    return s->ollama_root;
}

const char *store_presets_path(const struct store *s)
{
    return s->presets;
}

struct preset_set *store_presets(const struct store *s)
{
    if (s->fixed)
        return preset_retain(s->fixed);
    return s->live ? preset_live_get(s->live) : NULL;
}

void store_model_free(struct store_model *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->mmproj);
    free(m->adapter);
    free(m->template_text);
    free(m->system);
    free(m->tool_format);
    free(m->license);
    free(m->messages_json);
    strlist_free(&m->params);
    store_remote_free(m->remote);
    memset(m, 0, sizeof *m);
}

void store_remote_free(struct store_remote *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->model);
    free(r->key_env);
    free(r);
}

void store_free(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_dirs; i++)
        free(s->dirs[i]);
    free(s->dirs);
    free(s->hf_hub);
    free(s->ollama_root);
    free(s->presets);
    preset_live_free(s->live);
    preset_release(s->fixed);
    free(s);
}

int store_dirs(const struct store *s, const char *const **dirs)
{
    *dirs = (const char *const *)s->dirs;
    return s->n_dirs;
}

/* ---- helpers shared with the source files ---- */

struct store_model *model_list_add(struct model_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    struct store_model *m = &l->v[l->n++];
    memset(m, 0, sizeof *m);
    return m;
}

char *store_read_small(const char *path, size_t cap, size_t *len, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot read %s: %s", path,
                strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
        close(fd);
        err_set(e, ERR_BAD_MODEL, "%s is not a regular file of at most %zu bytes", path, cap);
        return NULL;
    }
    char *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    data[got] = '\0';
    if (len)
        *len = got;
    return data;
}

/* "NAME-00001-of-00003.gguf": the position of "-00001-of-" and the count, or 0. */
static int shard_parts(const char *path, size_t *at)
{
    size_t n = strlen(path);
    /* -KKKKK-of-NNNNN.gguf is 20 characters */
    if (n < 20 || strcmp(path + n - 5, ".gguf") != 0)
        return 0;
    const char *p = path + n - 20;
    if (p[0] != '-' || strncmp(p + 6, "-of-", 4) != 0)
        return 0;
    int k = 0, count = 0;
    for (int i = 1; i <= 5; i++) {
        if (p[i] < '0' || p[i] > '9' || p[i + 9] < '0' || p[i + 9] > '9')
            return 0;
        k = k * 10 + (p[i] - '0');
        count = count * 10 + (p[i + 9] - '0');
    }
    if (k < 1 || count < 1 || k > count)
        return 0;
    *at = (size_t)(p - path);
    return k == 1 ? count : -k;
}

int store_shard_count(const char *path)
{
    size_t at;
    int c = shard_parts(path, &at);
    return c > 0 ? c : 1;
}

void store_shard_path(const char *first, int k, char *out, size_t len)
{
    size_t at;
    int count = shard_parts(first, &at);
    if (count <= 0) {
        snprintf(out, len, "%s", first);
        return;
    }
    snprintf(out, len, "%.*s-%05d-of-%05d.gguf", (int)at, first, k, count);
}

/* A later shard ("-00002-of-00003.gguf"), which is not a model of its own. */
int store_is_later_shard(const char *file)
{
    size_t at;
    return shard_parts(file, &at) < 0;
}

static int is_mmproj(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    return !strncasecmp(base, "mmproj", 6);
}

int store_stat_model(struct store_model *m)
{
    struct stat st;
    if (stat(m->path, &st) != 0 || !S_ISREG(st.st_mode))
        return ERR_NOT_FOUND;
    m->size = st.st_size;
    m->mtime = st.st_mtime;
    /* A bundle (a preset's model = ./bundle, as a bundle's own server has it): its model's
     * size, not the executable's. */
    size_t pl = strlen(m->path);
    int fd;
    struct bundle b;
    if ((pl < 5 || strcasecmp(m->path + pl - 5, ".gguf") != 0) &&
        bundle_open(m->path, &fd, &b, NULL) == 0) {
        m->size = (int64_t)b.gguf_size;
        close(fd);
    }
    int count = store_shard_count(m->path);
    for (int k = 2; k <= count; k++) {
        char p[LAYOUT_MAX_PATH];
        store_shard_path(m->path, k, p, sizeof p);
        if (stat(p, &st) != 0)
            return ERR_NOT_FOUND; /* a split model with a shard missing cannot load */
        m->size += st.st_size;
    }
    if (!m->quant[0])
        layout_quant_of_file(m->path, m->quant, sizeof m->quant);
    return 0;
}

static int is_gguf_name(const char *f, size_t *stem_len)
{
    size_t n = strlen(f);
    if (n <= 5 || strcmp(f + n - 5, ".gguf") != 0 || f[0] == '.')
        return 0;
    *stem_len = n - 5;
    return 1;
}

/* ---- folders ---- */

/* A subfolder holding one model: its only GGUF that is neither a projector nor a later shard,
 * and an mmproj*.gguf beside it. Returns 0 with the paths set (free them). */
static int folder_dir_model(const char *dir, char **path, char **mmproj)
{
    DIR *d = opendir(dir);
    if (!d)
        return ERR_NOT_FOUND;
    char *model = NULL, *proj = NULL;
    int n_models = 0, seen = 0;
    struct dirent *de;
    while ((de = readdir(d)) && seen++ < 1000) {
        size_t sl;
        if (!is_gguf_name(de->d_name, &sl) || store_is_later_shard(de->d_name))
            continue;
        char p[LAYOUT_MAX_PATH];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (is_mmproj(de->d_name)) {
            if (!proj)
                proj = xstrdup(p);
        } else if (n_models++ == 0) {
            model = xstrdup(p);
        }
    }
    closedir(d);
    if (n_models != 1) {
        free(model);
        free(proj);
        return ERR_NOT_FOUND;
    }
    *path = model;
    *mmproj = proj;
    return 0;
}

static int folder_find(const struct store *s, const struct model_ref *r, struct store_model *out)
{
    /* "x:latest" is x.gguf or x:latest.gguf; "x:q4" is x:q4.gguf; or a folder x/ (latest). */
    char stems[2][2 * LAYOUT_MAX_PART + 2];
    int n_stems = 0;
    if (!strcmp(r->tag, "latest"))
        snprintf(stems[n_stems++], sizeof stems[0], "%s", r->name);
    snprintf(stems[n_stems++], sizeof stems[0], "%s:%s", r->name, r->tag);
    for (int i = 0; i < s->n_dirs; i++) {
        for (int k = 0; k < n_stems; k++) {
            char path[LAYOUT_MAX_PATH];
            snprintf(path, sizeof path, "%s/%s.gguf", s->dirs[i], stems[k]);
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                out->path = xstrdup(path);
                break;
            }
        }
        if (!out->path && !strcmp(r->tag, "latest")) {
            char dir[LAYOUT_MAX_PATH];
            snprintf(dir, sizeof dir, "%s/%s", s->dirs[i], r->name);
            folder_dir_model(dir, &out->path, &out->mmproj);
        }
        if (out->path) {
            out->source = STORE_SRC_FOLDER;
            snprintf(out->name, sizeof out->name, "%s:%s", r->name, r->tag);
            if (store_stat_model(out) == 0)
                return 0;
            store_model_free(out);
        }
    }
    return ERR_NOT_FOUND;
}

static void folder_list(const struct store *s, struct model_list *l)
{
    for (int i = 0; i < s->n_dirs; i++) {
        DIR *d = opendir(s->dirs[i]);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) && l->n < STORE_MAX_MODELS) {
            if (de->d_name[0] == '.')
                continue;
            size_t sl;
            char stem[LAYOUT_MAX_FILE], path[LAYOUT_MAX_PATH];
            snprintf(path, sizeof path, "%s/%s", s->dirs[i], de->d_name);
            struct stat st;
            if (stat(path, &st) != 0)
                continue;
            struct model_ref r;
            struct store_model m = {0};
            if (S_ISDIR(st.st_mode)) {
                if (model_ref_parse(de->d_name, &r, NULL) || r.kind != REF_PLAIN ||
                    strchr(de->d_name, ':') || folder_dir_model(path, &m.path, &m.mmproj))
                    continue;
            } else if (S_ISREG(st.st_mode) && is_gguf_name(de->d_name, &sl) && sl < sizeof stem &&
                       !store_is_later_shard(de->d_name) && !is_mmproj(de->d_name)) {
                snprintf(stem, sizeof stem, "%.*s", (int)sl, de->d_name);
                if (model_ref_parse(stem, &r, NULL) || r.kind != REF_PLAIN)
                    continue; /* a file name no model name can reach */
                m.path = xstrdup(path);
            } else {
                continue;
            }
            m.source = STORE_SRC_FOLDER;
            snprintf(m.name, sizeof m.name, "%s:%s", r.name, r.tag);
            if (store_stat_model(&m) != 0) {
                store_model_free(&m);
                continue;
            }
            *model_list_add(l) = m;
        }
        closedir(d);
    }
}

/* ---- finding ---- */

static int path_find(const struct model_ref *r, struct store_model *out, struct err *e)
{
    struct stat st;
    if (stat(r->path, &st) != 0)
        return err_set(e, ERR_NOT_FOUND, "model file '%s' not found", r->path);
    if (!S_ISREG(st.st_mode))
        return err_set(e, ERR_BAD_REQUEST, "'%s' is not a file", r->path);
    char *abs = realpath(r->path, NULL);
    out->path = abs ? abs : xstrdup(r->path);
    out->source = STORE_SRC_PATH;
    snprintf(out->name, sizeof out->name, "%.*s", (int)sizeof out->name - 1, r->path);
    if (store_stat_model(out) != 0) {
        store_model_free(out);
        return err_set(e, ERR_NOT_FOUND, "a shard of split model '%s' is missing", r->path);
    }
    return 0;
}

/* Two finds of the same name that reach the same file are one model. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int ambiguous(const char *name, struct store_model *c, int n, struct err *e)
{
    char list[400] = "";
    size_t at = 0;
    for (int i = 0; i < n && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s (%s: %s)", i ? ", " : "",
                               c[i].name, store_source_name(c[i].source), c[i].path);
    return err_set(e, ERR_BAD_REQUEST, "model name '%s' is ambiguous: it matches %s", name, list);
}

/* ---- presets ---- */

#define PRESET_MAX_DEPTH 4 /* [a] model = b, [b] model = c...: how deep a name may point */

static int find(const struct store *s, const char *name, int paths, int depth,
                struct store_model *out, struct err *e);
static int find_source(const struct store *s, const char *name, const struct model_ref *rr,
                       int paths, int depth, const struct preset_set *p, struct store_model *out,
                       struct err *e);

static void set_text(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

/* The keys of section [name] that describe the model itself (the parameters are settings.c's):
 * a preset's word wins over what the model's own source says. */
static void apply_section(const struct preset_set *p, const char *name, struct store_model *m)
{
    const char *v;
    if ((v = preset_get(p, name, "mmproj")))
        set_text(&m->mmproj, v);
    if ((v = preset_get(p, name, "adapter")))
        set_text(&m->adapter, v);
    if ((v = preset_get(p, name, "system")))
        set_text(&m->system, v);
    if ((v = preset_get(p, name, "license")))
        set_text(&m->license, v);
    if ((v = preset_get(p, name, "tool-call-format")))
        set_text(&m->tool_format, v);
    if ((v = preset_get(p, name, "messages")))
        set_text(&m->messages_json, v);
    if ((v = preset_get(p, name, "ollama-template"))) {
        set_text(&m->template_text, v);
        m->template_is_go = 1;
    }
    if ((v = preset_get(p, name, "chat-template-file"))) {
        struct err fe = {0};
        char *t = store_read_small(v, STORE_MAX_LAYER_TEXT, NULL, &fe);
        if (t) {
            free(m->template_text);
            m->template_text = t;
            m->template_is_go = 0;
        } else {
            log_warn("model=%s msg=\"chat-template-file: %s\"", name, fe.msg);
        }
    }
    if ((v = preset_get(p, name, "chat-template"))) {
        set_text(&m->template_text, v);
        m->template_is_go = 0;
    }
}

static void canon_section(const char *name, char *canon, size_t len)
{
    struct model_ref r;
    if (model_ref_parse(name, &r, NULL) == 0)
        model_ref_format(&r, canon, len);
    else
        snprintf(canon, len, "%s", name);
}

static int section_seconds(const struct preset_set *p, const char *name, const char *key, int def)
{
    const char *v = preset_get(p, name, key);
    long n = v ? strtol(v, NULL, 10) : 0; /* checked by the parser: 1 to 86400 */
    return n > 0 ? (int)n : def;
}

/* A section [name] with a `remote` key (the parser made sure it has remote-model and no
 * model): a name with no file behind it. */
static void remote_model(const struct preset_set *p, const char *name, struct store_model *out)
{
    memset(out, 0, sizeof *out);
    canon_section(name, out->name, sizeof out->name);
    out->source = STORE_SRC_REMOTE;
    struct store_remote *r = xcalloc(1, sizeof *r);
    const char *url = preset_get(p, name, "remote");
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    r->url = xstrndup(url, n);
    const char *model = preset_get(p, name, "remote-model");
    r->model = xstrdup(model ? model : "");
    const char *env = preset_get(p, name, "remote-api-key-env");
    r->key_env = env ? xstrdup(env) : NULL;
    r->timeout_s = section_seconds(p, name, "remote-timeout", STORE_REMOTE_TIMEOUT_S);
    r->connect_timeout_s =
        section_seconds(p, name, "remote-connect-timeout", STORE_REMOTE_CONNECT_TIMEOUT_S);
    out->remote = r;
}

/* A section [name] with a `model` key: that model under this name; with a `remote` key: a
 * remote model. Returns 0, 1 when there is no such section, or an error. */
static int preset_model(const struct store *s, const struct preset_set *p, const char *name,
                        int depth, struct store_model *out, struct err *e)
{
    if (p && preset_get(p, name, "remote")) {
        remote_model(p, name, out);
        return 0;
    }
    const char *target = p ? preset_get(p, name, "model") : NULL;
    if (!target)
        return 1;
    if (depth >= PRESET_MAX_DEPTH)
        return err_set(e, ERR_BAD_REQUEST,
                       "preset [%s]: model = %s points through more than %d presets (a loop?)",
                       name, target, PRESET_MAX_DEPTH);
    struct err te = {0};
    /* The presets file is the local user's: its paths are trusted. */
    int rc = find(s, target, 1, depth + 1, out, &te);
    if (rc)
        return err_set(e, rc == ERR_NOT_FOUND ? ERR_NOT_FOUND : rc, "preset [%s]: %s", name,
                       te.msg);
    canon_section(name, out->name, sizeof out->name);
    out->source = STORE_SRC_PRESET;
    return 0;
}

static int find(const struct store *s, const char *name, int paths, int depth,
                struct store_model *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct model_ref r;
    int rc = model_ref_parse(name, &r, e);
    if (rc)
        return rc;
    struct preset_set *p = store_presets(s);
    rc = find_source(s, name, &r, paths, depth, p, out, e);
    if (!rc && p)
        apply_section(p, out->name, out);
    preset_release(p);
    return rc;
}

static int find_source(const struct store *s, const char *name, const struct model_ref *rr,
                       int paths, int depth, const struct preset_set *p, struct store_model *out,
                       struct err *e)
{
    struct model_ref r = *rr;
    int rc;
    /* A preset section that says what the name is wins over every source. */
    if (r.kind != REF_PATH) {
        char canon[STORE_MAX_NAME + 16];
        model_ref_format(&r, canon, sizeof canon);
        rc = preset_model(s, p, canon, depth, out, e);
        if (rc <= 0)
            return rc;
    }
    if (r.kind == REF_PATH && !paths)
        return err_set(e, ERR_BAD_REQUEST,
                       "model '%.200s' is a file path: the API takes model names (put the file "
                       "in a --models-dir folder)",
                       name);
    if (r.kind == REF_PATH)
        return path_find(&r, out, e);
    if (s->own_only && r.kind != REF_PLAIN)
        return err_set(e, ERR_NOT_FOUND,
                       "model '%s' not found (this server has no Hugging Face or Ollama store)",
                       name);
    /* Candidates from every source the name can mean. */
    struct store_model c[3];
    int n = 0;
    memset(c, 0, sizeof c);
    struct err ce = {0};
    if (r.kind == REF_PLAIN) {
        if (folder_find(s, &r, &c[n]) == 0)
            n++;
        rc = s->own_only ? ERR_NOT_FOUND : store_ollama_find(s, &r, &c[n], &ce);
        if (rc == 0)
            n++;
        else if (rc != ERR_NOT_FOUND)
            log_warn("model=%s msg=\"%s\"", name, ce.msg);
        else
            ce.code = 0;
    } else if (r.kind == REF_OLLAMA) {
        rc = store_ollama_find(s, &r, &c[n], e);
        if (rc && rc != ERR_NOT_FOUND)
            return rc;
        n += rc == 0;
    } else { /* REF_HF, REF_HF_FILE */
        rc = store_hf_find(s, &r, &c[n], &ce);
        if (rc && rc != ERR_NOT_FOUND) {
            if (e)
                *e = ce;
            return rc;
        }
        n += rc == 0;
        struct err hf_err = ce;
        /* "ORG/REPO:TAG" written without a host may also be an Ollama user's model. */
        if (r.kind == REF_HF && strncmp(name, "hf.co/", 6) != 0 &&
            strncmp(name, "huggingface.co/", 15) != 0) {
            struct model_ref o = r;
            o.kind = REF_OLLAMA;
            snprintf(o.host, sizeof o.host, "%s", OLLAMA_DEFAULT_HOST);
            if (!o.tag[0])
                snprintf(o.tag, sizeof o.tag, "latest");
            if (store_ollama_find(s, &o, &c[n], &ce) == 0)
                n++;
        }
        if (n == 0) { /* what the cache has instead */
            if (e)
                *e = hf_err;
            return ERR_NOT_FOUND;
        }
    }
    /* The same file through two sources is one model: keep the first. */
    for (int i = 1; i < n; i++)
        if (same_file(c[0].path, c[i].path)) {
            store_model_free(&c[i]);
            c[i--] = c[--n];
        }
    if (n == 0 && ce.code && ce.code != ERR_NOT_FOUND) {
        /* No model by that name, but a manifest for it that is broken: say what is wrong. */
        if (e)
            *e = ce;
        return ce.code;
    }
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "model '%s' not found, try pulling it first", name);
    if (n > 1) {
        rc = ambiguous(name, c, n, e);
        for (int i = 0; i < n; i++)
            store_model_free(&c[i]);
        return rc;
    }
    *out = c[0];
    return 0;
}

int store_find(const struct store *s, const char *name, struct store_model *out, struct err *e)
{
    return find(s, name, 0, 0, out, e);
}

int store_find_local(const struct store *s, const char *name, struct store_model *out,
                     struct err *e)
{
    return find(s, name, 1, 0, out, e);
}

/* ---- listing ---- */

static int cmp_models(const void *a, const void *b)
{
    return strcmp(((const struct store_model *)a)->name, ((const struct store_model *)b)->name);
}

static int is_symlink(const char *path)
{
    struct stat st;
    return path && lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

int store_list(const struct store *s, struct store_model **out, int *n)
{
    struct model_list l = {0};
    folder_list(s, &l);
    if (!s->own_only) {
        store_ollama_list(s, &l);
        store_hf_list(s, &l);
    }
    /* Names a preset section gives (model = ...). */
    struct preset_set *p = store_presets(s);
    int n_sec;
    const char *const *secs = preset_sections(p, &n_sec);
    for (int i = 0; i < n_sec && l.n < STORE_MAX_MODELS; i++) {
        struct store_model m;
        struct err pe = {0};
        int rc = preset_model(s, p, secs[i], 0, &m, &pe);
        if (rc == 0 && (m.path || m.remote))
            *model_list_add(&l) = m;
        else if (rc < 0)
            log_warn("msg=\"%s\"", pe.msg);
    }
    preset_release(p);
    /* Each file once: the first source that lists it keeps it (folders, Ollama, HF). Then the
     * same name from two sources (a folder and Ollama's library): the first keeps the short
     * name, the other is listed by its full one. */
    struct stat *ids = xcalloc((size_t)(l.n ? l.n : 1), sizeof *ids);
    for (int i = 0; i < l.n; i++)
        if (!l.v[i].path || stat(l.v[i].path, &ids[i]) != 0)
            ids[i].st_ino = 0;
    int k = 0;
    for (int i = 0; i < l.n; i++) {
        int dup = 0;
        /* A link from one source into another (a folder's symlink into the Hugging Face
         * cache) is one model. Hard links are names someone gave on purpose (cp, create into
         * Ollama's blobs), and so are presets: those stay. */
        for (int j = 0; j < k && !dup; j++)
            dup = ids[i].st_ino && ids[j].st_ino == ids[i].st_ino &&
                  ids[j].st_dev == ids[i].st_dev && l.v[j].source != l.v[i].source &&
                  l.v[i].source != STORE_SRC_PRESET &&
                  (is_symlink(l.v[i].path) || is_symlink(l.v[j].path));
        if (dup) {
            store_model_free(&l.v[i]);
            continue;
        }
        ids[k] = ids[i];
        l.v[k++] = l.v[i];
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(l.v[i].name, l.v[j].name) && l.v[i].source == STORE_SRC_OLLAMA) {
                char full[sizeof l.v[i].name];
                snprintf(full, sizeof full, "%s/%s/%.200s", OLLAMA_DEFAULT_HOST, OLLAMA_DEFAULT_NS,
                         l.v[i].name);
                snprintf(l.v[i].name, sizeof l.v[i].name, "%s", full);
                break;
            }
    free(ids);
    if (k > 1)
        qsort(l.v, (size_t)k, sizeof *l.v, cmp_models);
    *out = l.v;
    *n = k;
    return 0;
}

void store_list_free(struct store_model *list, int n)
{
    for (int i = 0; i < n; i++)
        store_model_free(&list[i]);
    free(list);
}

/* ---- copy and delete ---- */

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[1 << 16];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r) {
            rc = -1;
            break;
        }
    if (r < 0)
        rc = -1;
    close(in);
    if (close(out) < 0)
        rc = -1;
    return rc;
}

/* A folder model gets its new name beside it: FILE.gguf for :latest, FILE:TAG.gguf else. */
static int folder_copy(const struct store_model *m, const struct model_ref *dst, struct err *e)
{
    if (m->mmproj || store_shard_count(m->path) > 1)
        return err_set(e, ERR_BAD_REQUEST,
                       "'%s' is a folder of files (split or with a projector); copy the folder",
                       m->name);
    char to[LAYOUT_MAX_PATH], tmp[LAYOUT_MAX_PATH + 32];
    const char *slash = strrchr(m->path, '/');
    int dir_len = slash ? (int)(slash - m->path) : 1;
    if (!strcmp(dst->tag, "latest"))
        snprintf(to, sizeof to, "%.*s/%s.gguf", dir_len, slash ? m->path : ".", dst->name);
    else
        snprintf(to, sizeof to, "%.*s/%s:%s.gguf", dir_len, slash ? m->path : ".", dst->name,
                 dst->tag);
    if (!strcmp(m->path, to))
        return 0; /* copying a model onto itself */
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", to, (int)getpid());
    int rc = 0;
    if (link(m->path, tmp) != 0 && copy_file(m->path, tmp) != 0)
        rc = err_set(e, ERR_IO, "cannot copy to %s: %s", to, strerror(errno));
    else if (rename(tmp, to) != 0)
        rc = err_set(e, ERR_IO, "cannot copy to %s: %s", to, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* A preset model's copy is a copy of its section; a Hugging Face model gets a section that
 * names it (its files stay where huggingface_hub put them). */
static int preset_copy(const struct store *s, const struct store_model *m, const char *dst,
                       struct err *e)
{
    if (s->fixed)
        return err_set(e, ERR_BAD_REQUEST, "cannot copy '%s': a bundle's models are fixed",
                       m->name);
    if (!s->presets)
        return err_set(e, ERR_BAD_REQUEST,
                       "cannot copy '%s': a Hugging Face model gets another name through a "
                       "presets file, and the server has none",
                       m->name);
    struct strlist kv = {0};
    char line[PARAMS_MAX_STR_LEN + 300];
    if (m->source == STORE_SRC_HF) {
        snprintf(line, sizeof line, "model=%s", m->name);
        strlist_add(&kv, line);
    } else {
        struct preset_set *p = store_presets(s);
        int n;
        const struct preset_kv *entries = preset_entries(p, m->name, &n);
        for (int i = 0; i < n; i++) {
            struct buf b;
            buf_init(&b, PRESET_MAX_FILE);
            buf_printf(&b, "%s=%s", entries[i].key, entries[i].value);
            strlist_add(&kv, b.data ? b.data : "");
            buf_free(&b);
        }
        preset_release(p);
    }
    int rc = preset_write_section(s->presets, dst, &kv, e);
    strlist_free(&kv);
    return rc;
}

int store_copy(const struct store *s, const char *src, const char *dst, struct err *e)
{
    struct model_ref d;
    int rc = model_ref_parse(dst, &d, e);
    if (rc)
        return rc;
    if (d.kind != REF_PLAIN && d.kind != REF_OLLAMA)
        return err_set(e, ERR_BAD_REQUEST,
                       "invalid model name '%s' for a copy (expected NAME[:TAG] or "
                       "HOST/NAMESPACE/MODEL[:TAG])",
                       dst);
    struct store_model m = {0};
    rc = store_find(s, src, &m, e);
    if (rc)
        return rc;
    if (m.source == STORE_SRC_FOLDER && d.kind == REF_PLAIN) {
        rc = folder_copy(&m, &d, e);
    } else if (m.source == STORE_SRC_OLLAMA) {
        struct model_ref from;
        model_ref_parse(m.name, &from, NULL);
        if (from.kind == REF_PLAIN) {
            from.kind = REF_OLLAMA;
            snprintf(from.host, sizeof from.host, "%s", OLLAMA_DEFAULT_HOST);
            snprintf(from.ns, sizeof from.ns, "%s", OLLAMA_DEFAULT_NS);
        }
        rc = store_ollama_copy(s, &from, &d, e);
    } else if (m.source == STORE_SRC_PRESET || m.source == STORE_SRC_REMOTE ||
               m.source == STORE_SRC_HF) {
        rc = preset_copy(s, &m, dst, e);
    } else {
        rc = err_set(e, ERR_BAD_REQUEST, "cannot copy '%s' (%s) to '%s'", m.name,
                     store_source_name(m.source), dst);
    }
    store_model_free(&m);
    return rc;
}

int store_delete(const struct store *s, const char *name, struct err *e)
{
    struct store_model m = {0};
    int rc = store_find(s, name, &m, e);
    if (rc)
        return rc;
    struct model_ref r;
    model_ref_parse(m.name, &r, NULL);
    switch (m.source) {
    case STORE_SRC_FOLDER: {
        int count = store_shard_count(m.path);
        for (int k = 1; k <= count && !rc; k++) {
            char p[LAYOUT_MAX_PATH];
            store_shard_path(m.path, k, p, sizeof p);
            if (unlink(p) != 0)
                rc = err_set(e, ERR_IO, "cannot delete %s: %s", p, strerror(errno));
        }
        break;
    }
    case STORE_SRC_OLLAMA:
        if (r.kind == REF_PLAIN) {
            r.kind = REF_OLLAMA;
            snprintf(r.host, sizeof r.host, "%s", OLLAMA_DEFAULT_HOST);
            snprintf(r.ns, sizeof r.ns, "%s", OLLAMA_DEFAULT_NS);
        }
        rc = store_ollama_delete(s, &r, e);
        break;
    case STORE_SRC_HF: rc = store_hf_delete(s, &r, e); break;
    case STORE_SRC_PRESET:
    case STORE_SRC_REMOTE:
        /* The name goes; the model it pointed at stays. */
        if (s->presets)
            rc = preset_write_section(s->presets, m.name, NULL, e);
        else if (s->fixed)
            rc = err_set(e, ERR_BAD_REQUEST, "cannot delete '%s': a bundle's models are fixed",
                         m.name);
        else
            rc = err_set(e, ERR_INTERNAL, "no presets file");
        break;
    default: rc = err_set(e, ERR_BAD_REQUEST, "'%s' is a file path; delete the file itself", name);
    }
    /* A section that only described the model (its template, system prompt, parameters) goes
     * with it, so that a later model of that name does not inherit it. */
    if (!rc && m.source != STORE_SRC_PRESET && m.source != STORE_SRC_REMOTE && s->presets) {
        struct preset_set *p = store_presets(s);
        int n = 0;
        const struct preset_kv *kv = preset_entries(p, m.name, &n);
        preset_release(p);
        if (kv)
            rc = preset_write_section(s->presets, m.name, NULL, e);
    }
    store_model_free(&m);
    return rc;
}
