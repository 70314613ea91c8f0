/* Ollama's store: manifests/HOST/NS/MODEL/TAG (Docker v2 manifest JSON) naming layers in
 * blobs/sha256-HEX. A model is its `model` layer (a plain GGUF) plus what the other layers say:
 * projector, adapter, template (a Go template), system, license, params (JSON), messages. */
#include "base/log.h"
#include "base/util.h"
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEDIA_PREFIX "application/vnd.ollama.image."

static char *layer_text(const struct store *s, const char *digest, struct err *e)
{
    char path[LAYOUT_MAX_PATH];
    if (layout_ollama_blob(s->ollama_root, digest, path, sizeof path, e))
        return NULL;
    return store_read_small(path, STORE_MAX_LAYER_TEXT, NULL, e);
}

/* Ollama's params layer: {"stop": ["<|im_end|>"], "temperature": 0.7, ...} as "name=value"
 * lines in the params table's names. Unknown names are kept out with a warning. */
static void params_from_json(const char *model, const char *text, struct strlist *out)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!json_is_object(j)) {
        log_warn("model=%s msg=\"params layer is not a JSON object; ignored\"", model);
        json_decref(j);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (!params_find(key)) {
            log_warn("model=%s param=%s msg=\"unknown parameter in the params layer; ignored\"",
                     model, key);
            continue;
        }
        json_t *items = json_is_array(v) ? v : NULL;
        size_t n = items ? json_array_size(items) : 1;
        for (size_t i = 0; i < n && i < 64; i++) {
            json_t *x = items ? json_array_get(items, i) : v;
            char line[PARAMS_MAX_STR_LEN + 128];
            if (json_is_string(x))
                snprintf(line, sizeof line, "%s=%s", key, json_string_value(x));
            else if (json_is_integer(x))
                snprintf(line, sizeof line, "%s=%lld", key, (long long)json_integer_value(x));
            else if (json_is_real(x))
                snprintf(line, sizeof line, "%s=%.9g", key, json_real_value(x));
            else if (json_is_boolean(x))
                snprintf(line, sizeof line, "%s=%s", key, json_is_true(x) ? "true" : "false");
            else
                continue;
            strlist_add(out, line);
        }
    }
    json_decref(j);
}

static void append_text(char **dst, const char *add)
{
    if (!*dst) {
        *dst = xstrdup(add);
        return;
    }
    size_t a = strlen(*dst), b = strlen(add);
    *dst = xrealloc(*dst, a + b + 2);
    (*dst)[a] = '\n';
    memcpy(*dst + a + 1, add, b + 1);
}

/* Parses the manifest at path into out. */
static int read_manifest(const struct store *s, const char *path, struct store_model *out,
                         struct err *e)
{
    char *text = store_read_small(path, STORE_MAX_MANIFEST, NULL, e);
    if (!text)
        return e && e->code == ERR_NOT_FOUND ? ERR_NOT_FOUND : ERR_BAD_MODEL;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    json_t *layers = json_object_get(j, "layers");
    int rc = 0;
    if (!json_is_array(layers) || json_array_size(layers) == 0 || json_array_size(layers) > 1024) {
        rc = err_set(e, ERR_BAD_MODEL, "manifest %s has no layers", path);
        goto out;
    }
    size_t i;
    json_t *l;
    int64_t total = 0;
    json_array_foreach(layers, i, l)
    {
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        const char *digest = json_string_value(json_object_get(l, "digest"));
        json_t *size = json_object_get(l, "size");
        char blob[LAYOUT_MAX_PATH];
        if (!mt || !digest || !json_is_integer(size) || json_integer_value(size) < 0) {
            rc = err_set(e, ERR_BAD_MODEL, "manifest %s: layer %zu lacks mediaType, digest or size",
                         path, i);
            goto out;
        }
        if ((rc = layout_ollama_blob(s->ollama_root, digest, blob, sizeof blob, e)))
            goto out;
        total += json_integer_value(size);
        if (strncmp(mt, MEDIA_PREFIX, strlen(MEDIA_PREFIX)) != 0)
            continue;
        const char *kind = mt + strlen(MEDIA_PREFIX);
        if (!strcmp(kind, "model")) {
            free(out->path);
            out->path = xstrdup(blob);
            snprintf(out->digest, sizeof out->digest, "sha256:%s", digest + 7);
        } else if (!strcmp(kind, "projector") && !out->mmproj) {
            out->mmproj = xstrdup(blob);
        } else if (!strcmp(kind, "adapter") && !out->adapter) {
            out->adapter = xstrdup(blob);
        } else if (!strcmp(kind, "template") || !strcmp(kind, "system") ||
                   !strcmp(kind, "license") || !strcmp(kind, "params") ||
                   !strcmp(kind, "messages")) {
            struct err le = {0};
            char *t = layer_text(s, digest, &le);
            if (!t) {
                log_warn("model=%s layer=%s msg=\"%s\"", out->name, kind, le.msg);
                continue;
            }
            if (!strcmp(kind, "template")) {
                free(out->template_text);
                out->template_text = t;
                out->template_is_go = 1;
            } else if (!strcmp(kind, "system")) {
                free(out->system);
                out->system = t;
            } else if (!strcmp(kind, "license")) {
                append_text(&out->license, t);
                free(t);
            } else if (!strcmp(kind, "params")) {
                params_from_json(out->name, t, &out->params);
                free(t);
            } else {
                free(out->messages_json);
                out->messages_json = t;
            }
        }
    }
    if (!out->path) {
        rc = err_set(e, ERR_BAD_MODEL, "manifest %s has no model layer", path);
        goto out;
    }
    struct stat st;
    if (stat(out->path, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_set(e, ERR_BAD_MODEL, "the model blob of %s is missing (%s)", path, out->path);
        goto out;
    }
    if (stat(path, &st) == 0)
        out->mtime = st.st_mtime;
    out->size = total;
    out->source = STORE_SRC_OLLAMA;
out:
    json_decref(j);
    if (rc) {
        char name[sizeof out->name];
        memcpy(name, out->name, sizeof name);
        store_model_free(out);
        memcpy(out->name, name, sizeof name);
    }
    return rc;
}

static void as_ollama(const struct model_ref *r, struct model_ref *o)
{
    *o = *r;
    if (o->kind == REF_PLAIN) {
        o->kind = REF_OLLAMA;
        snprintf(o->host, sizeof o->host, "%s", OLLAMA_DEFAULT_HOST);
        snprintf(o->ns, sizeof o->ns, "%s", OLLAMA_DEFAULT_NS);
    }
}

int store_ollama_find(const struct store *s, const struct model_ref *r, struct store_model *out,
                      struct err *e)
{
    char path[LAYOUT_MAX_PATH];
    struct model_ref o;
    as_ollama(r, &o);
    int rc = layout_ollama_manifest(s->ollama_root, &o, path, sizeof path, e);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, ERR_NOT_FOUND, "no manifest %s", path);
    memset(out, 0, sizeof *out);
    model_ref_format(&o, out->name, sizeof out->name);
    return read_manifest(s, path, out, e);
}

/* Calls fn for every manifest: manifests/HOST/NS/MODEL/TAG. */
static void each_manifest(const struct store *s,
                          void (*fn)(const struct store *, const struct model_ref *, const char *,
                                     void *),
                          void *ud)
{
    char root[LAYOUT_MAX_PATH];
    snprintf(root, sizeof root, "%s/manifests", s->ollama_root);
    DIR *d[4] = {0};
    char dirs[4][LAYOUT_MAX_PATH];
    snprintf(dirs[0], sizeof dirs[0], "%s", root);
    d[0] = opendir(dirs[0]);
    int depth = d[0] ? 0 : -1, visited = 0;
    while (depth >= 0 && visited < STORE_MAX_MODELS) {
        struct dirent *de = readdir(d[depth]);
        if (!de) {
            closedir(d[depth--]);
            continue;
        }
        if (de->d_name[0] == '.')
            continue;
        char p[LAYOUT_MAX_PATH];
        if (snprintf(p, sizeof p, "%s/%s", dirs[depth], de->d_name) >= (int)sizeof p)
            continue;
        if (depth < 3) {
            DIR *sub = opendir(p);
            if (!sub)
                continue;
            depth++;
            d[depth] = sub;
            snprintf(dirs[depth], sizeof dirs[depth], "%s", p);
            /* readdir's entry stays valid only until the next readdir on the same stream;
             * keep the names in dirs[] instead. */
            continue;
        }
        visited++;
        struct model_ref r = {.kind = REF_OLLAMA};
        const char *parts[3];
        for (int k = 0; k < 3; k++) {
            parts[k] = strrchr(dirs[k + 1], '/');
            parts[k] = parts[k] ? parts[k] + 1 : dirs[k + 1];
        }
        if (strlen(parts[0]) >= sizeof r.host || strlen(parts[1]) >= sizeof r.ns ||
            strlen(parts[2]) >= sizeof r.name || strlen(de->d_name) >= sizeof r.tag)
            continue;
        memcpy(r.host, parts[0], strlen(parts[0]) + 1);
        memcpy(r.ns, parts[1], strlen(parts[1]) + 1);
        memcpy(r.name, parts[2], strlen(parts[2]) + 1);
        memcpy(r.tag, de->d_name, strlen(de->d_name) + 1);
        char check[LAYOUT_MAX_PATH];
        if (layout_ollama_manifest(s->ollama_root, &r, check, sizeof check, NULL) == 0)
            fn(s, &r, p, ud);
    }
    while (depth >= 0)
        closedir(d[depth--]);
}

static void list_one(const struct store *s, const struct model_ref *r, const char *path, void *ud)
{
    struct model_list *l = ud;
    struct store_model m = {0};
    model_ref_format(r, m.name, sizeof m.name);
    struct err e = {0};
    if (read_manifest(s, path, &m, &e) != 0) {
        log_warn("manifest=%s msg=\"%s\"", path, e.msg);
        return;
    }
    *model_list_add(l) = m;
}

int store_ollama_list(const struct store *s, struct model_list *l)
{
    each_manifest(s, list_one, l);
    return 0;
}

int store_ollama_copy(const struct store *s, const struct model_ref *src,
                      const struct model_ref *dst, struct err *e)
{
    char from[LAYOUT_MAX_PATH], to[LAYOUT_MAX_PATH];
    struct model_ref d;
    as_ollama(dst, &d);
    int rc = layout_ollama_manifest(s->ollama_root, src, from, sizeof from, e);
    if (!rc)
        rc = layout_ollama_manifest(s->ollama_root, &d, to, sizeof to, e);
    if (rc)
        return rc;
    if (!strcmp(from, to))
        return 0;
    size_t len;
    char *text = store_read_small(from, STORE_MAX_MANIFEST, &len, e);
    if (!text)
        return ERR_IO;
    char dir[LAYOUT_MAX_PATH];
    snprintf(dir, sizeof dir, "%s", to);
    *strrchr(dir, '/') = '\0';
    rc = layout_mkdirs(dir, e);
    if (!rc)
        rc = layout_write_atomic(to, text, len, e);
    free(text);
    return rc;
}

/* Whether any manifest other than `skip` names digest. */
struct blob_use {
    const char *digest; /* "sha256:HEX" */
    const char *skip;
    int used;
};

static void check_use(const struct store *s, const struct model_ref *r, const char *path, void *ud)
{
    (void)r;
    (void)s;
    struct blob_use *u = ud;
    if (u->used || !strcmp(path, u->skip))
        return;
    char *text = store_read_small(path, STORE_MAX_MANIFEST, NULL, NULL);
    /* The digest is 71 characters of [a-z0-9:]: a plain substring test cannot match by
     * accident, and a manifest that mentions a blob anywhere keeps it. */
    if (text && strstr(text, u->digest))
        u->used = 1;
    free(text);
}

int store_ollama_delete(const struct store *s, const struct model_ref *r, struct err *e)
{
    char path[LAYOUT_MAX_PATH];
    int rc = layout_ollama_manifest(s->ollama_root, r, path, sizeof path, e);
    if (rc)
        return rc;
    char *text = store_read_small(path, STORE_MAX_MANIFEST, NULL, e);
    if (!text)
        return ERR_NOT_FOUND;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (unlink(path) != 0) {
        json_decref(j);
        return err_set(e, ERR_IO, "cannot delete %s: %s", path, strerror(errno));
    }
    layout_fsync_dir_of(path, NULL);
    /* Then every blob of it that no other manifest uses. */
    json_t *all = json_array();
    json_array_extend(all, json_object_get(j, "layers"));
    json_t *config = json_object_get(j, "config");
    if (json_is_object(config))
        json_array_append(all, config);
    size_t i;
    json_t *l;
    json_array_foreach(all, i, l)
    {
        const char *digest = json_string_value(json_object_get(l, "digest"));
        char blob[LAYOUT_MAX_PATH];
        if (!digest || layout_ollama_blob(s->ollama_root, digest, blob, sizeof blob, NULL))
            continue;
        char colon[72];
        snprintf(colon, sizeof colon, "sha256:%s", digest + 7);
        struct blob_use u = {.digest = colon, .skip = path};
        each_manifest(s, check_use, &u);
        if (!u.used && unlink(blob) != 0 && errno != ENOENT)
            log_warn("blob=%s msg=\"cannot delete: %s\"", blob, strerror(errno));
    }
    json_decref(all);
    json_decref(j);
    /* Empty MODEL/ and NS/ folders go too, as Ollama leaves none behind. */
    char dir[LAYOUT_MAX_PATH];
    snprintf(dir, sizeof dir, "%s", path);
    for (int k = 0; k < 2; k++) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (rmdir(dir) != 0)
            break;
    }
    return 0;
}
