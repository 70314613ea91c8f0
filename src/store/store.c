#include "store/store.h"

#include "base/log.h"
#include "base/util.h"
#include "store/layout.h"
#include "store/preset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
    char **dirs;
    int n_dirs;
    char *hf_hub;
    char *ollama_root;
    char *presets;
    struct preset_live *live; /* the presets file, re-read when it changes */
};

const char *store_source_name(enum store_source src)
{
    static const char *const names[] = {"path", "folder", "ollama", "hf", "preset"};
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
    free(m->license);
    free(m->messages_json);
    strlist_free(&m->params);
    memset(m, 0, sizeof *m);
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
    free(s);
}

int store_dirs(const struct store *s, const char *const **dirs)
{
    *dirs = (const char *const *)s->dirs;
    return s->n_dirs;
}

static int store_canonical(const char *name, char *out, size_t out_len, struct err *e)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return err_set(e, ERR_BAD_REQUEST, "model name is empty");
    if (n > STORE_MAX_NAME)
        return err_set(e, ERR_BAD_REQUEST, "model name is longer than %d characters",
                       STORE_MAX_NAME);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
    }
    if (name[0] == '.' || strstr(name, ".."))
        return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
    const char *colon = strrchr(name, ':');
    if (colon && colon[1] == '\0')
        return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s' (empty tag)", name);
    if (colon == name)
        return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
    snprintf(out, out_len, "%s%s", name, colon ? "" : ":latest");
    return 0;
}

/* "x:latest" -> "x", "x:q4" -> "x:q4": the file stem for a canonical name. */
static void stem_of(const char *canon, char *stem, size_t len)
{
    size_t n = strlen(canon);
    if (n > 7 && strcmp(canon + n - 7, ":latest") == 0)
        n -= 7;
    snprintf(stem, len, "%.*s", (int)n, canon);
}

static void name_of_stem(const char *stem, char *name, size_t len)
{
    snprintf(name, len, "%.255s%s", stem, strchr(stem, ':') ? "" : ":latest");
}

static int is_gguf_name(const char *f, size_t *stem_len)
{
    size_t n = strlen(f);
    if (n <= 5 || strcmp(f + n - 5, ".gguf") != 0 || f[0] == '.')
        return 0;
    *stem_len = n - 5;
    return 1;
}

int store_find(const struct store *s, const char *name, struct store_model *out, struct err *e)
{
    char canon[STORE_MAX_NAME + 16], stem[STORE_MAX_NAME + 16];
    int rc = store_canonical(name, canon, sizeof canon, e);
    if (rc)
        return rc;
    stem_of(canon, stem, sizeof stem);
    for (int i = 0; i < s->n_dirs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.gguf", s->dirs[i], stem);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            memset(out, 0, sizeof *out);
            out->source = STORE_SRC_FOLDER;
            snprintf(out->name, sizeof out->name, "%s", canon);
            out->path = xstrdup(path);
            out->size = st.st_size;
            out->mtime = st.st_mtime;
            return 0;
        }
    }
    return err_set(e, ERR_NOT_FOUND, "model '%s' not found", name);
}

static int cmp_models(const void *a, const void *b)
{
    return strcmp(((const struct store_model *)a)->name, ((const struct store_model *)b)->name);
}

int store_list(const struct store *s, struct store_model **out, int *n)
{
    struct store_model *v = NULL;
    int count = 0, cap = 0;
    for (int i = 0; i < s->n_dirs; i++) {
        DIR *d = opendir(s->dirs[i]);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t sl;
            if (!is_gguf_name(de->d_name, &sl) || sl > STORE_MAX_NAME)
                continue;
            char stem[STORE_MAX_NAME + 16], name[STORE_MAX_NAME + 16], path[4096];
            snprintf(stem, sizeof stem, "%.*s", (int)sl, de->d_name);
            name_of_stem(stem, name, sizeof name);
            if (store_canonical(stem, stem, sizeof stem, NULL)) /* skip unnameable files */
                continue;
            int dup = 0;
            for (int k = 0; k < count && !dup; k++)
                dup = strcmp(v[k].name, name) == 0;
            snprintf(path, sizeof path, "%s/%s", s->dirs[i], de->d_name);
            struct stat st;
            if (dup || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                v = xrealloc(v, (size_t)cap * sizeof *v);
            }
            memset(&v[count], 0, sizeof v[count]);
            v[count].source = STORE_SRC_FOLDER;
            snprintf(v[count].name, sizeof v[count].name, "%s", name);
            v[count].path = xstrdup(path);
            v[count].size = st.st_size;
            v[count].mtime = st.st_mtime;
            count++;
        }
        closedir(d);
    }
    if (count > 1)
        qsort(v, (size_t)count, sizeof *v, cmp_models);
    *out = v;
    *n = count;
    return 0;
}

void store_list_free(struct store_model *list, int n)
{
    for (int i = 0; i < n; i++)
        store_model_free(&list[i]);
    free(list);
}

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

int store_copy(const struct store *s, const char *src, const char *dst, struct err *e)
{
    char canon[STORE_MAX_NAME + 16], stem[STORE_MAX_NAME + 16];
    int rc = store_canonical(dst, canon, sizeof canon, e);
    if (rc)
        return rc;
    struct store_model m = {0};
    rc = store_find(s, src, &m, e);
    if (rc)
        return rc;
    stem_of(canon, stem, sizeof stem);
    /* The new name lives next to the source. */
    char to[4096], tmp[4200];
    const char *slash = strrchr(m.path, '/');
    int dir_len = slash ? (int)(slash - m.path) : 1;
    snprintf(to, sizeof to, "%.*s/%s.gguf", dir_len, slash ? m.path : ".", stem);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", to, (int)getpid());
    if (strcmp(m.path, to) == 0) {
        store_model_free(&m);
        return 0; /* copying a model onto itself */
    }
    if (link(m.path, tmp) != 0 && copy_file(m.path, tmp) != 0)
        rc = err_set(e, ERR_IO, "cannot copy to %s: %s", to, strerror(errno));
    else if (rename(tmp, to) != 0)
        rc = err_set(e, ERR_IO, "cannot copy to %s: %s", to, strerror(errno));
    if (rc)
        unlink(tmp);
    store_model_free(&m);
    return rc;
}

int store_delete(const struct store *s, const char *name, struct err *e)
{
    struct store_model m = {0};
    int rc = store_find(s, name, &m, e);
    if (rc || !m.path)
        return rc ? rc : ERR_NOT_FOUND;
    if (unlink(m.path) != 0) {
        int err = errno;
        rc = err_set(e, ERR_IO, "cannot delete %s: %s", m.path, strerror(err));
    }
    store_model_free(&m);
    return rc;
}
