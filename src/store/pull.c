/* Pulling models: see pull.h. The Hugging Face half lists the repository and chooses files the
 * way llama.cpp does, then writes huggingface_hub's cache layout; the Ollama half speaks the
 * Docker v2 registry protocol. Both fetch files through net/download.h and place every file
 * through store/layout.h. */
#include "store/pull.h"

#include "base/log.h"
#include "base/util.h"
#include "net/download.h"
#include "store/layout.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TREE_FILES 10000
#define MAX_PICK       64 /* files one pull may take: shards + mmproj */
#define MAX_LAYERS     256
#define MANIFEST_ACCEPT                                                                            \
    "application/vnd.docker.distribution.manifest.v2+json, "                                       \
    "application/vnd.oci.image.manifest.v1+json"

struct puller {
    pull_progress_fn fn;
    void *ud;
    volatile int *cancel;
    struct dl_session s;
    /* The file being fetched, for progress events. */
    char digest[80];
    const char *file;
};

static void emit(struct puller *p, const char *status)
{
    struct pull_event ev = {.status = status};
    if (p->fn)
        p->fn(p->ud, &ev);
}

static void on_bytes(void *ud, uint64_t done, uint64_t total)
{
    struct puller *p = ud;
    char status[32];
    snprintf(status, sizeof status, "pulling %.12s", p->digest + 7);
    struct pull_event ev = {
        .status = status, .digest = p->digest, .file = p->file, .total = total, .completed = done};
    if (p->fn)
        p->fn(p->ud, &ev);
}

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "on"));
}

/* A base URL from the environment, without its trailing slashes. */
static void env_url(const char *name, const char *def, char *out, size_t len)
{
    const char *v = getenv(name);
    snprintf(out, len, "%s", v && *v ? v : def);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}

/* A file of size bytes at path with the digest hex, fetched from url unless it is already there
 * (verified). */
static int fetch_blob(struct puller *p, const char *url, const char *path, const char *hex,
                      uint64_t size, struct err *e)
{
    snprintf(p->digest, sizeof p->digest, "sha256:%s", hex);
    struct stat st;
    if (!stat(path, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size) {
        char have[65];
        int rc = dl_sha256_file(path, have, p->cancel, NULL, NULL, e);
        if (rc)
            return rc;
        if (!strcmp(have, hex)) {
            on_bytes(p, size, size);
            return 0;
        }
        log_warn("msg=\"a stored file does not match its digest: fetching it again\" path=%s",
                 log_q(path));
        unlink(path);
    }
    on_bytes(p, 0, size);
    struct dl_file f = {
        .url = url, .dest = path, .sha256 = hex, .size = size, .progress = on_bytes, .ud = p};
    return dl_download(&p->s, &f, e);
}

/* The body of an error answer, short, for a message. */
static const char *answer_text(const struct dl_response *r)
{
    static __thread char out[200];
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    const char *msg = NULL;
    if (j && json_is_string(json_object_get(j, "error")))
        msg = json_string_value(json_object_get(j, "error"));
    else if (j && json_is_array(json_object_get(j, "errors")))
        msg = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message"));
    snprintf(out, sizeof out, "%s", msg ? msg : (r->body.data ? r->body.data : ""));
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    json_decref(j);
    return out;
}

static int status_error(const struct dl_response *r, const char *what, const char *url,
                        struct err *e)
{
    int code = r->status == 404                       ? ERR_NOT_FOUND
               : r->status == 401 || r->status == 403 ? ERR_NOT_FOUND
                                                      : ERR_UNAVAILABLE;
    return err_set(e, code, "%s: %.200s answered HTTP %ld%s%s", what, url, r->status,
                   answer_text(r)[0] ? ": " : "", answer_text(r));
}

/* ---- Hugging Face ---- */

struct hf_file {
    char *path;
    uint64_t size;
    char sha256[65]; /* "" when the file is not in LFS */
};

struct hf_tree {
    struct hf_file *v;
    int n;
};

static void hf_tree_free(struct hf_tree *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->v[i].path);
    free(t->v);
}

static int hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* "-00001-of-00003" before ".gguf": *idx and *count, else 0. */
static int split_info(const char *path, int *idx, int *count)
{
    size_t n = strlen(path);
    if (n < 5 + 15 || !ends_with(path, ".gguf"))
        return 0;
    const char *s = path + n - 5 - 15;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4) != 0)
        return 0;
    for (int i = 1; i < 6; i++)
        if (!isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 9]))
            return 0;
    *idx = atoi(s + 1);
    *count = atoi(s + 10);
    return *count > 1;
}

/* A GGUF holding a model (not a projector, imatrix or draft head). */
static int is_model_gguf(const char *path)
{
    const char *b = base_name(path);
    return ends_with(b, ".gguf") && !strstr(b, "mmproj") && !strstr(b, "imatrix") &&
           !strstr(b, "mtp-") && !strstr(b, "eagle3-") && !strstr(b, "dflash-") &&
           !strstr(b, "dspark-");
}

static int quant_bits(const char *path)
{
    char q[32];
    layout_quant_of_file(base_name(path), q, sizeof q);
    for (const char *c = q; *c; c++)
        if (isdigit((unsigned char)*c))
            return atoi(c);
    return 0;
}

static int hf_get_json(struct puller *p, const char *url, const char *what, json_t **out,
                       struct err *e)
{
    struct dl_response r;
    int rc = dl_get(&p->s, url, "application/json", DL_MAX_JSON, &r, e);
    if (!rc && r.status != 200)
        rc = status_error(&r, what, url, e);
    if (!rc) {
        json_error_t je;
        *out = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
        if (!*out)
            rc = err_set(e, ERR_UNAVAILABLE, "%s: %.200s is not JSON: %s", what, url, je.text);
    }
    dl_response_free(&r);
    return rc;
}

static int hf_list(struct puller *p, const char *ep, const char *repo, char commit[41],
                   struct hf_tree *t, struct err *e)
{
    char url[2048];
    json_t *j = NULL;
    snprintf(url, sizeof url, "%s/api/models/%s/refs", ep, repo);
    int rc = hf_get_json(p, url, "listing the repository's branches", &j, e);
    if (rc)
        return rc;
    commit[0] = '\0';
    json_t *br = json_object_get(j, "branches"), *b;
    size_t i;
    json_array_foreach(br, i, b)
    {
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *c = json_string_value(json_object_get(b, "targetCommit"));
        if (name && c && !strcmp(name, "main") && hex_ok(c, 40))
            snprintf(commit, 41, "%s", c);
    }
    json_decref(j);
    if (!commit[0])
        return err_set(e, ERR_NOT_FOUND, "hf.co/%s has no main branch with a valid commit", repo);

    snprintf(url, sizeof url, "%s/api/models/%s/tree/%s?recursive=true", ep, repo, commit);
    rc = hf_get_json(p, url, "listing the repository's files", &j, e);
    if (rc)
        return rc;
    if (!json_is_array(j) || json_array_size(j) > MAX_TREE_FILES) {
        json_decref(j);
        return err_set(e, ERR_UNAVAILABLE, "the file list of hf.co/%s is not a list of at most %d",
                       repo, MAX_TREE_FILES);
    }
    json_t *it;
    t->v = xcalloc(json_array_size(j) + 1, sizeof *t->v);
    json_array_foreach(j, i, it)
    {
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *path = json_string_value(json_object_get(it, "path"));
        if (!type || strcmp(type, "file") != 0 || !path || strlen(path) >= LAYOUT_MAX_FILE)
            continue;
        struct hf_file *f = &t->v[t->n];
        json_t *lfs = json_object_get(it, "lfs");
        const char *oid = json_string_value(json_object_get(lfs, "oid"));
        json_t *size = json_object_get(lfs ? lfs : it, "size");
        if (oid && hex_ok(oid, 64))
            snprintf(f->sha256, sizeof f->sha256, "%s", oid);
        f->size = json_is_integer(size) && json_integer_value(size) > 0
                      ? (uint64_t)json_integer_value(size)
                      : 0;
        f->path = xstrdup(path);
        t->n++;
    }
    json_decref(j);
    return 0;
}

/* Adds the shards of a split GGUF (or the file alone) to pick[]. */
static int add_with_shards(const struct hf_tree *t, const struct hf_file *f,
                           const struct hf_file **pick, int *n, struct err *e)
{
    int idx, count;
    if (!split_info(f->path, &idx, &count)) {
        pick[(*n)++] = f;
        return 0;
    }
    size_t stem = strlen(f->path) - 5 - 15;
    for (int k = 1; k <= count; k++) {
        const struct hf_file *found = NULL;
        for (int i = 0; i < t->n && !found; i++) {
            int ii, cc;
            if (!strncmp(t->v[i].path, f->path, stem) && strlen(t->v[i].path) == strlen(f->path) &&
                split_info(t->v[i].path, &ii, &cc) && ii == k && cc == count)
                found = &t->v[i];
        }
        if (!found)
            return err_set(e, ERR_NOT_FOUND, "shard %d of %d of %s is missing from the repository",
                           k, count, f->path);
        if (*n >= MAX_PICK - 1)
            return err_set(e, ERR_TOO_LARGE, "%s has more than %d shards", f->path, MAX_PICK - 2);
        pick[(*n)++] = found;
    }
    return 0;
}

/* The model file for a quant (or the default choice), as llama.cpp's find_best_model. */
static const struct hf_file *hf_choose(const struct hf_tree *t, const char *quant, const char *repo,
                                       struct err *e)
{
    const char *defaults[] = {HF_DEFAULT_QUANT, "Q8_0"};
    int n_try = quant[0] ? 1 : 2;
    for (int k = 0; k < n_try; k++) {
        const char *want = quant[0] ? quant : defaults[k];
        for (int i = 0; i < t->n; i++) {
            int idx, count;
            char q[32];
            if (!is_model_gguf(t->v[i].path) ||
                (split_info(t->v[i].path, &idx, &count) && idx != 1))
                continue;
            layout_quant_of_file(base_name(t->v[i].path), q, sizeof q);
            if (!strcasecmp(q, want))
                return &t->v[i];
        }
    }
    /* The candidates, for the message (and the only one, when there is one). */
    char list[400] = "";
    const struct hf_file *only = NULL;
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        int idx, count;
        if (!is_model_gguf(t->v[i].path) || (split_info(t->v[i].path, &idx, &count) && idx != 1))
            continue;
        only = &t->v[i];
        size_t l = strlen(list);
        if (l < sizeof list - 8)
            snprintf(list + l, sizeof list - l, "%s%s", n ? ", " : "", t->v[i].path);
        n++;
    }
    if (n == 1 && !quant[0])
        return only;
    if (n == 0)
        err_set(e, ERR_NOT_FOUND, "hf.co/%s has no GGUF model file", repo);
    else if (quant[0])
        err_set(e, ERR_NOT_FOUND, "hf.co/%s has no GGUF file for quant %s; it has: %s", repo, quant,
                list);
    else
        err_set(e, ERR_BAD_REQUEST,
                "hf.co/%s has several GGUF files and none is %s or Q8_0: name one with "
                "hf.co/%s:QUANT; it has: %s",
                repo, HF_DEFAULT_QUANT, repo, list);
    return NULL;
}

/* The mmproj*.gguf in the model's directory closest to its quant, as llama.cpp's
 * find_best_mmproj; NULL when there is none. */
static const struct hf_file *hf_mmproj(const struct hf_tree *t, const char *model)
{
    size_t dir = (size_t)(base_name(model) - model);
    int bits = quant_bits(model), best_diff = 1 << 30;
    const struct hf_file *best = NULL;
    for (int i = 0; i < t->n; i++) {
        const char *path = t->v[i].path;
        if (!ends_with(path, ".gguf") || !strstr(base_name(path), "mmproj") ||
            (size_t)(base_name(path) - path) != dir || strncmp(path, model, dir) != 0)
            continue;
        int diff = abs(quant_bits(path) - bits);
        if (!best || diff < best_diff) {
            best = &t->v[i];
            best_diff = diff;
        }
    }
    return best;
}

/* snapshots/COMMIT/FILE -> ../../blobs/SHA (one more ../ per directory in FILE), replaced
 * atomically when it exists. */
static int hf_link(const char *repo_dir, const char *commit, const struct hf_file *f, struct err *e)
{
    char path[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH], target[LAYOUT_MAX_PATH] = "",
                                                      tmp[LAYOUT_MAX_PATH + 16];
    int rc = layout_hf_snapshot_file(repo_dir, commit, f->path, path, sizeof path, e);
    if (rc)
        return rc;
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    rc = layout_mkdirs(dir, e);
    if (rc)
        return rc;
    size_t depth = 2, o = 0;
    for (const char *c = f->path; *c; c++)
        depth += *c == '/';
    for (size_t i = 0; i < depth; i++)
        o += (size_t)snprintf(target + o, sizeof target - o, "../");
    snprintf(target + o, sizeof target - o, "blobs/%s", f->sha256);
    snprintf(tmp, sizeof tmp, "%s.tmp-link", path);
    unlink(tmp);
    if (symlink(target, tmp) || rename(tmp, path)) {
        rc = err_set(e, ERR_IO, "cannot link %s: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return layout_fsync_dir_of(path, e);
}

/* A file path inside a repository, escaped for a URL ('/' kept). */
static void url_path(const char *path, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = path; *c && o + 4 < len; c++) {
        unsigned char ch = (unsigned char)*c;
        if (isalnum(ch) || strchr("/-._~", ch))
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", ch);
    }
    out[o] = '\0';
}

static int pull_hf(const struct model_ref *r, struct puller *p, struct err *e)
{
    char ep[1024], repo[2 * LAYOUT_MAX_PART + 2], hub[LAYOUT_MAX_PATH], repo_dir[LAYOUT_MAX_PATH];
    snprintf(repo, sizeof repo, "%s/%s", r->ns, r->name);
    if (env_true("HF_HUB_OFFLINE"))
        return err_set(e, ERR_UNAVAILABLE,
                       "HF_HUB_OFFLINE is set: not pulling hf.co/%s from the network", repo);
    env_url("HF_ENDPOINT", "https://huggingface.co", ep, sizeof ep);
    int rc = dl_session_init(&p->s, ep, p->cancel, e);
    if (rc)
        return rc;
    const char *tok = getenv("HF_TOKEN");
    if (tok && *tok && strlen(tok) < sizeof p->s.bearer && !strpbrk(tok, "\r\n"))
        snprintf(p->s.bearer, sizeof p->s.bearer, "%s", tok);
    layout_hf_hub(hub, sizeof hub);
    rc = layout_hf_repo_dir(hub, r, repo_dir, sizeof repo_dir, e);
    if (rc)
        return rc;

    emit(p, "pulling manifest");
    char commit[41];
    struct hf_tree t = {0};
    rc = hf_list(p, ep, repo, commit, &t, e);
    const struct hf_file *pick[MAX_PICK];
    int n = 0;
    if (!rc && r->kind == REF_HF_FILE) {
        const struct hf_file *f = NULL;
        for (int i = 0; i < t.n && !f; i++)
            if (!strcmp(t.v[i].path, r->file))
                f = &t.v[i];
        if (!f)
            rc = err_set(e, ERR_NOT_FOUND, "hf.co/%s has no file %s", repo, r->file);
        else
            rc = add_with_shards(&t, f, pick, &n, e);
    } else if (!rc) {
        const struct hf_file *f = hf_choose(&t, r->tag, repo, e);
        if (!f) {
            rc = e ? e->code : ERR_NOT_FOUND;
        } else {
            rc = add_with_shards(&t, f, pick, &n, e);
            const struct hf_file *mm = rc ? NULL : hf_mmproj(&t, f->path);
            if (mm)
                pick[n++] = mm;
        }
    }
    for (int i = 0; i < n && !rc; i++) {
        if (!pick[i]->sha256[0] || !pick[i]->size || pick[i]->size > DL_MAX_FILE)
            rc = err_set(e, ERR_UNAVAILABLE,
                         "%s in hf.co/%s has no LFS sha256 and size to check it against",
                         pick[i]->path, repo);
    }
    for (int i = 0; i < n && !rc; i++) {
        char blob[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH], url[4096], esc[3 * LAYOUT_MAX_FILE];
        rc = layout_hf_blob(repo_dir, pick[i]->sha256, blob, sizeof blob, e);
        if (rc)
            break;
        snprintf(dir, sizeof dir, "%s", blob);
        *strrchr(dir, '/') = '\0';
        rc = layout_mkdirs(dir, e);
        if (rc)
            break;
        url_path(pick[i]->path, esc, sizeof esc);
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", ep, repo, commit, esc);
        p->file = pick[i]->path;
        rc = fetch_blob(p, url, blob, pick[i]->sha256, pick[i]->size, e);
        p->file = NULL;
        if (!rc)
            rc = hf_link(repo_dir, commit, pick[i], e);
    }
    if (!rc) {
        emit(p, "verifying sha256 digest");
        emit(p, "writing manifest");
        char ref[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH];
        rc = layout_hf_ref_path(repo_dir, "main", ref, sizeof ref, e);
        if (!rc) {
            snprintf(dir, sizeof dir, "%s", ref);
            *strrchr(dir, '/') = '\0';
            rc = layout_mkdirs(dir, e);
        }
        if (!rc)
            rc = layout_write_atomic(ref, commit, 40, e);
    }
    hf_tree_free(&t);
    return rc;
}

/* ---- Ollama (Docker registry v2) ---- */

/* One parameter of a WWW-Authenticate challenge: key="value". */
static int auth_param(const char *h, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    for (const char *c = h; (c = strcasestr(c, key)); c += kl) {
        if ((c != h && c[-1] != ' ' && c[-1] != ',') || c[kl] != '=')
            continue;
        const char *v = c + kl + 1;
        size_t n;
        if (*v == '"') {
            v++;
            const char *end = strchr(v, '"');
            if (!end)
                return 0;
            n = (size_t)(end - v);
        } else {
            n = strcspn(v, ", ");
        }
        if (n >= len)
            return 0;
        memcpy(out, v, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* Answers a Bearer challenge: a token from the realm, which must be on the registry's host. */
static int ollama_token(struct puller *p, const char *challenge, struct err *e)
{
    char realm[1024], service[256] = "", scope[512] = "", host[256];
    if (strncasecmp(challenge, "Bearer ", 7) != 0 ||
        !auth_param(challenge + 7, "realm", realm, sizeof realm))
        return err_set(e, ERR_NOT_FOUND, "the registry asked for credentials hearth does not have");
    int rc = dl_url_host(realm, host, sizeof host, e);
    if (rc)
        return err_set(e, ERR_BAD_REQUEST, "the registry's auth realm is not an http(s) URL");
    if (strcmp(host, p->s.endpoint_host) != 0)
        return err_set(e, ERR_BAD_REQUEST,
                       "refused the registry's auth realm on another host (%s, registry %s)", host,
                       p->s.endpoint_host);
    auth_param(challenge + 7, "service", service, sizeof service);
    auth_param(challenge + 7, "scope", scope, sizeof scope);
    CURL *h = curl_easy_init();
    char *es = curl_easy_escape(h, service, 0), *sc = curl_easy_escape(h, scope, 0);
    char url[2048];
    snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
             es ? es : "", sc ? sc : "");
    curl_free(es);
    curl_free(sc);
    curl_easy_cleanup(h);
    struct dl_response r;
    rc = dl_get(&p->s, url, "application/json", DL_MAX_SMALL, &r, e);
    if (!rc && r.status != 200)
        rc = status_error(&r, "getting a registry token", realm, e);
    if (!rc) {
        json_t *j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (!tok)
            tok = json_string_value(json_object_get(j, "access_token"));
        if (!tok || !*tok || strlen(tok) >= sizeof p->s.bearer || strpbrk(tok, "\r\n"))
            rc = err_set(e, ERR_UNAVAILABLE, "the registry's token answer holds no usable token");
        else
            snprintf(p->s.bearer, sizeof p->s.bearer, "%s", tok);
        json_decref(j);
    }
    dl_response_free(&r);
    return rc;
}

struct layer {
    const char *digest;
    uint64_t size;
};

/* Checks a manifest and lists its blobs (config first). */
static int manifest_check(json_t *m, const char *root, struct layer *out, int *n, struct err *e)
{
    json_t *cfg = json_object_get(m, "config"), *layers = json_object_get(m, "layers");
    if (!json_is_object(m) || json_integer_value(json_object_get(m, "schemaVersion")) != 2)
        return err_set(e, ERR_BAD_REQUEST, "the manifest is not a schemaVersion 2 manifest");
    if (!json_is_object(cfg))
        return err_set(e, ERR_BAD_REQUEST, "the manifest has no config");
    if (!json_is_array(layers) || json_array_size(layers) == 0 ||
        json_array_size(layers) > MAX_LAYERS)
        return err_set(e, ERR_BAD_REQUEST, "the manifest has no layers or more than %d",
                       MAX_LAYERS);
    *n = 0;
    uint64_t total = 0;
    for (size_t i = 0; i <= json_array_size(layers); i++) {
        json_t *l = i == 0 ? cfg : json_array_get(layers, i - 1);
        const char *d = json_string_value(json_object_get(l, "digest"));
        json_t *sz = json_object_get(l, "size");
        char path[LAYOUT_MAX_PATH];
        if (!d || !layout_digest_valid(d) || layout_ollama_blob(root, d, path, sizeof path, NULL))
            return err_set(e, ERR_BAD_REQUEST, "the manifest has an invalid digest '%.80s'",
                           d ? d : "");
        if (!json_is_integer(sz) || json_integer_value(sz) <= 0 ||
            (uint64_t)json_integer_value(sz) > DL_MAX_FILE)
            return err_set(e, ERR_BAD_REQUEST, "the manifest has a layer with a bad size");
        total += (uint64_t)json_integer_value(sz);
        int dup = 0;
        for (int k = 0; k < *n; k++)
            dup |= !strcmp(out[k].digest + 7, d + 7);
        if (!dup)
            out[(*n)++] = (struct layer){d, (uint64_t)json_integer_value(sz)};
    }
    if (total > 4 * DL_MAX_FILE)
        return err_set(e, ERR_BAD_REQUEST, "the manifest's layers are too large");
    return 0;
}

static int pull_ollama(const struct model_ref *r, const struct pull_options *o, struct puller *p,
                       struct err *e)
{
    const char *host = r->kind == REF_OLLAMA ? r->host : OLLAMA_DEFAULT_HOST;
    const char *ns = r->kind == REF_OLLAMA ? r->ns : OLLAMA_DEFAULT_NS;
    char base[1024], root[LAYOUT_MAX_PATH], mpath[LAYOUT_MAX_PATH];
    if (!strcmp(host, OLLAMA_DEFAULT_HOST))
        env_url("HEARTH_OLLAMA_REGISTRY", "https://" OLLAMA_DEFAULT_HOST, base, sizeof base);
    else
        snprintf(base, sizeof base, "%s://%s", o && o->insecure ? "http" : "https", host);
    int rc = dl_session_init(&p->s, base, p->cancel, e);
    if (rc)
        return rc;
    p->s.insecure = o && o->insecure;
    layout_ollama_root(root, sizeof root);
    rc = layout_ollama_manifest(root, r, mpath, sizeof mpath, e);
    if (rc)
        return rc;

    emit(p, "pulling manifest");
    char url[2048];
    snprintf(url, sizeof url, "%s/v2/%s/%s/manifests/%s", base, ns, r->name, r->tag);
    struct dl_response resp;
    rc = dl_get(&p->s, url, MANIFEST_ACCEPT, DL_MAX_JSON, &resp, e);
    if (!rc && resp.status == 401) {
        char challenge[sizeof resp.www_authenticate];
        snprintf(challenge, sizeof challenge, "%s", resp.www_authenticate);
        dl_response_free(&resp);
        rc = ollama_token(p, challenge, e);
        if (rc)
            return rc;
        rc = dl_get(&p->s, url, MANIFEST_ACCEPT, DL_MAX_JSON, &resp, e);
    }
    if (!rc && resp.status == 404)
        rc = err_set(e, ERR_NOT_FOUND, "pull model manifest: %s/%s/%s:%s does not exist", host, ns,
                     r->name, r->tag);
    else if (!rc && resp.status != 200)
        rc = status_error(&resp, "pull model manifest", url, e);
    json_t *m = NULL;
    struct layer layers[MAX_LAYERS + 1];
    int n = 0;
    if (!rc) {
        json_error_t je;
        m = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &je);
        rc = m ? manifest_check(m, root, layers, &n, e)
               : err_set(e, ERR_BAD_REQUEST, "the manifest is not JSON: %s", je.text);
    }
    for (int i = 0; i < n && !rc; i++) {
        char blob[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH];
        rc = layout_ollama_blob(root, layers[i].digest, blob, sizeof blob, e);
        if (rc)
            break;
        snprintf(dir, sizeof dir, "%s", blob);
        *strrchr(dir, '/') = '\0';
        rc = layout_mkdirs(dir, e);
        if (rc)
            break;
        const char *hex = layers[i].digest + 7;
        snprintf(url, sizeof url, "%s/v2/%s/%s/blobs/sha256:%s", base, ns, r->name, hex);
        rc = fetch_blob(p, url, blob, hex, layers[i].size, e);
    }
    if (!rc) {
        emit(p, "verifying sha256 digest");
        emit(p, "writing manifest");
        char dir[LAYOUT_MAX_PATH];
        snprintf(dir, sizeof dir, "%s", mpath);
        *strrchr(dir, '/') = '\0';
        rc = layout_mkdirs(dir, e);
        if (!rc)
            rc = layout_write_atomic(mpath, resp.body.data, resp.body.len, e);
    }
    json_decref(m);
    dl_response_free(&resp);
    return rc;
}

int pull_model(const char *name, const struct pull_options *o, pull_progress_fn fn, void *ud,
               volatile int *cancel, struct err *e)
{
    struct model_ref r;
    int rc = model_ref_parse(name, &r, e);
    if (rc)
        return rc;
    struct puller *p = xcalloc(1, sizeof *p);
    p->fn = fn;
    p->ud = ud;
    p->cancel = cancel;
    int64_t t0 = now_us();
    switch (r.kind) {
    case REF_PATH:
        rc =
            err_set(e, ERR_BAD_REQUEST, "'%s' is a path: only registry models can be pulled", name);
        break;
    case REF_HF:
    case REF_HF_FILE: rc = pull_hf(&r, p, e); break;
    case REF_PLAIN:
    case REF_OLLAMA: rc = pull_ollama(&r, o, p, e); break;
    }
    if (!rc) {
        emit(p, "success");
        log_info("msg=\"pulled\" model=%s ms=%lld", log_q(name), (long long)(now_us() - t0) / 1000);
    } else {
        log_warn("msg=\"pull failed\" model=%s err=%s", log_q(name), log_q(e ? e->msg : ""));
    }
    memset(p->s.bearer, 0, sizeof p->s.bearer);
    free(p);
    return rc;
}
