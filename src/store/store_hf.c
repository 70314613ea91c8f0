/* The Hugging Face hub cache, as huggingface_hub writes it and llama-server reads it:
 * models--ORG--REPO/refs/main names a commit; snapshots/COMMIT/ holds the repository's files as
 * relative symlinks into blobs/. A repository with several GGUFs is several models, one per
 * quantization ("hf.co/ORG/REPO:Q4_K_M"); split shards and mmproj files belong to them. */
#include "base/log.h"
#include "base/util.h"
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_MAX_FILES 4096 /* files of one snapshot that a listing looks at */
#define HF_MAX_DEPTH 4

struct hf_files {
    char **v; /* paths relative to the snapshot */
    int n;
};

static void files_free(struct hf_files *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    memset(f, 0, sizeof *f);
}

static int has_suffix_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

static void collect(const char *root, const char *rel, int depth, struct hf_files *f)
{
    char dir[LAYOUT_MAX_PATH];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && f->n < HF_MAX_FILES) {
        if (de->d_name[0] == '.')
            continue;
        char r[LAYOUT_MAX_FILE], p[LAYOUT_MAX_PATH];
        if (snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >= (int)sizeof r)
            continue;
        snprintf(p, sizeof p, "%s/%s", root, r);
        struct stat st;
        if (stat(p, &st) != 0) /* a dangling link: the blob is not there (yet) */
            continue;
        if (S_ISDIR(st.st_mode) && depth < HF_MAX_DEPTH)
            collect(root, r, depth + 1, f);
        else if (S_ISREG(st.st_mode) && has_suffix_ci(de->d_name, ".gguf")) {
            f->v = xrealloc(f->v, (size_t)(f->n + 1) * sizeof *f->v);
            f->v[f->n++] = xstrdup(r);
        }
    }
    closedir(d);
}

/* The snapshot a repo's refs/main names, else its most recent snapshot. */
static int snapshot_dir(const char *repo_dir, char *out, size_t len)
{
    char commit[41];
    if (layout_hf_read_ref(repo_dir, "main", commit, NULL) == 0) {
        snprintf(out, len, "%s/snapshots/%s", repo_dir, commit);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
    }
    char snaps[LAYOUT_MAX_PATH];
    snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    DIR *d = opendir(snaps);
    if (!d)
        return ERR_NOT_FOUND;
    time_t best = 0;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[LAYOUT_MAX_PATH];
        if (snprintf(p, sizeof p, "%s/%s", snaps, de->d_name) >= (int)sizeof p)
            continue;
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (!found || st.st_mtime > best)) {
            best = st.st_mtime;
            snprintf(out, len, "%s", p);
            found = 1;
        }
    }
    closedir(d);
    return found ? 0 : ERR_NOT_FOUND;
}

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int is_candidate(const char *rel)
{
    const char *b = base_of(rel);
    if (!strncasecmp(b, "mmproj", 6))
        return 0;
    return !store_is_later_shard(rel);
}

/* Fills m from the snapshot file rel: path, shards' size, the blob's digest, an mmproj from the
 * same folder. */
static int fill(const char *snap, const char *rel, const struct hf_files *all,
                struct store_model *m)
{
    char p[LAYOUT_MAX_PATH];
    snprintf(p, sizeof p, "%s/%s", snap, rel);
    m->path = xstrdup(p);
    m->source = STORE_SRC_HF;
    if (store_stat_model(m) != 0)
        return ERR_NOT_FOUND;
    /* The blob's name is the LFS sha256 for large files. */
    char target[LAYOUT_MAX_PATH];
    ssize_t n = readlink(p, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        const char *b = base_of(target);
        if (strlen(b) == 64)
            snprintf(m->digest, sizeof m->digest, "sha256:%s", b);
    }
    /* A projector in the same folder; with several, the one sharing the model's quant, else
     * the first in name order. */
    const char *dir_end = strrchr(rel, '/');
    size_t dl = dir_end ? (size_t)(dir_end - rel) : 0;
    const char *best = NULL;
    for (int i = 0; i < all->n; i++) {
        const char *f = all->v[i];
        const char *fe = strrchr(f, '/');
        size_t fl = fe ? (size_t)(fe - f) : 0;
        if (fl != dl || strncmp(f, rel, dl) != 0 || strncasecmp(base_of(f), "mmproj", 6) != 0)
            continue;
        char q[32];
        layout_quant_of_file(f, q, sizeof q);
        if (!best || (q[0] && !strcmp(q, m->quant)) || (strcmp(f, best) < 0 && !m->quant[0]))
            best = f;
    }
    if (best) {
        snprintf(p, sizeof p, "%s/%s", snap, best);
        m->mmproj = xstrdup(p);
    }
    return 0;
}

/* How many candidates of the repo carry quant q. */
static int quant_count(const struct hf_files *f, const char *q)
{
    int c = 0;
    for (int i = 0; i < f->n; i++) {
        char fq[32];
        if (!is_candidate(f->v[i]))
            continue;
        layout_quant_of_file(f->v[i], fq, sizeof fq);
        c += !strcasecmp(fq, q);
    }
    return c;
}

static void name_for(const struct model_ref *repo, const struct hf_files *f, const char *rel,
                     char *out, size_t len)
{
    char q[32];
    int rc;
    layout_quant_of_file(rel, q, sizeof q);
    if (q[0] && quant_count(f, q) == 1)
        rc = snprintf(out, len, "hf.co/%s/%s:%s", repo->ns, repo->name, q);
    else
        rc = snprintf(out, len, "hf.co/%s/%s/%s", repo->ns, repo->name, rel);
    if (rc >= (int)len && len > 0)
        out[len - 1] = '\0'; /* names are under 255 characters by model_ref_parse's rules */
}

int store_hf_find(const struct store *s, const struct model_ref *r, struct store_model *out,
                  struct err *e)
{
    char repo_dir[LAYOUT_MAX_PATH], snap[LAYOUT_MAX_PATH];
    int rc = layout_hf_repo_dir(s->hf_hub, r, repo_dir, sizeof repo_dir, e);
    if (rc)
        return rc;
    if (snapshot_dir(repo_dir, snap, sizeof snap))
        return err_set(e, ERR_NOT_FOUND, "hf.co/%s/%s is not in the Hugging Face cache (%s)", r->ns,
                       r->name, s->hf_hub);
    struct hf_files f = {0};
    collect(snap, "", 0, &f);
    const char *pick = NULL;
    if (r->kind == REF_HF_FILE) {
        for (int i = 0; i < f.n && !pick; i++)
            if (!strcmp(f.v[i], r->file))
                pick = f.v[i];
        if (!pick)
            rc = err_set(e, ERR_NOT_FOUND, "hf.co/%s/%s has no file %s in the cache", r->ns,
                         r->name, r->file);
    } else {
        /* The quant asked for; else Q4_K_M, as llama-server picks; else the only GGUF. */
        int n_cand = 0, n_match = 0;
        const char *only = NULL, *match = NULL;
        char want[LAYOUT_MAX_PART];
        snprintf(want, sizeof want, "%s", r->tag[0] ? r->tag : HF_DEFAULT_QUANT);
        for (int i = 0; i < f.n; i++) {
            if (!is_candidate(f.v[i]))
                continue;
            n_cand++;
            only = f.v[i];
            char q[32];
            layout_quant_of_file(f.v[i], q, sizeof q);
            if (!strcasecmp(q, want)) {
                n_match++;
                match = f.v[i];
            }
        }
        if (n_match == 1)
            pick = match;
        else if (!r->tag[0] && n_cand == 1)
            pick = only;
        if (!pick) {
            char list[360] = "";
            size_t at = 0;
            for (int i = 0; i < f.n && at < sizeof list; i++)
                if (is_candidate(f.v[i]))
                    at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", at ? ", " : "",
                                           f.v[i]);
            if (n_cand == 0)
                rc = err_set(e, ERR_NOT_FOUND, "hf.co/%s/%s holds no GGUF in the cache", r->ns,
                             r->name);
            else if (n_match > 1)
                rc = err_set(e, ERR_BAD_REQUEST,
                             "hf.co/%s/%s:%s is ambiguous: several files carry %s (%s); name "
                             "one as hf.co/%s/%s/FILE",
                             r->ns, r->name, want, want, list, r->ns, r->name);
            else
                rc = err_set(e, r->tag[0] ? ERR_NOT_FOUND : ERR_BAD_REQUEST,
                             "hf.co/%s/%s has no %s file in the cache; pick one of: %s", r->ns,
                             r->name, want, list);
        }
    }
    if (!rc && !pick)
        rc = ERR_NOT_FOUND;
    if (!rc) {
        memset(out, 0, sizeof *out);
        name_for(r, &f, pick, out->name, sizeof out->name);
        if (fill(snap, pick, &f, out) != 0) {
            store_model_free(out);
            rc = err_set(e, ERR_NOT_FOUND, "a shard of %s is missing from the cache", pick);
        }
    }
    files_free(&f);
    return rc;
}

int store_hf_list(const struct store *s, struct model_list *l)
{
    DIR *d = opendir(s->hf_hub);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && l->n < STORE_MAX_MODELS) {
        /* models--ORG--REPO; ORG and REPO cannot hold "--" at their ends, but REPO may hold
         * "--" inside: the first "--" after the prefix splits. */
        if (strncmp(de->d_name, "models--", 8) != 0)
            continue;
        const char *rest = de->d_name + 8, *sep = strstr(rest, "--");
        if (!sep)
            continue;
        struct model_ref r = {.kind = REF_HF};
        snprintf(r.host, sizeof r.host, "hf.co");
        snprintf(r.ns, sizeof r.ns, "%.*s", (int)(sep - rest), rest);
        snprintf(r.name, sizeof r.name, "%s", sep + 2);
        char repo_dir[LAYOUT_MAX_PATH], snap[LAYOUT_MAX_PATH];
        if (layout_hf_repo_dir(s->hf_hub, &r, repo_dir, sizeof repo_dir, NULL) ||
            snapshot_dir(repo_dir, snap, sizeof snap))
            continue;
        struct hf_files f = {0};
        collect(snap, "", 0, &f);
        for (int i = 0; i < f.n; i++) {
            if (!is_candidate(f.v[i]))
                continue;
            struct store_model m = {0};
            name_for(&r, &f, f.v[i], m.name, sizeof m.name);
            if (fill(snap, f.v[i], &f, &m) == 0)
                *model_list_add(l) = m;
            else
                store_model_free(&m);
        }
        files_free(&f);
    }
    closedir(d);
    return 0;
}

/* Whether another snapshot entry of the repo links to blob (its base name). */
static int blob_used(const char *repo_dir, const char *blob_name, const char *skip_dir,
                     const char *skip_rel)
{
    char snaps[LAYOUT_MAX_PATH];
    snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    DIR *d = opendir(snaps);
    if (!d)
        return 0;
    int used = 0;
    struct dirent *de;
    while (!used && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char snap[LAYOUT_MAX_PATH];
        if (snprintf(snap, sizeof snap, "%s/%s", snaps, de->d_name) >= (int)sizeof snap)
            continue;
        struct hf_files f = {0};
        collect(snap, "", 0, &f);
        for (int i = 0; i < f.n && !used; i++) {
            if (!strcmp(snap, skip_dir) && !strcmp(f.v[i], skip_rel))
                continue;
            char p[LAYOUT_MAX_PATH], t[LAYOUT_MAX_PATH];
            if (snprintf(p, sizeof p, "%s/%s", snap, f.v[i]) >= (int)sizeof p)
                continue;
            ssize_t n = readlink(p, t, sizeof t - 1);
            if (n > 0) {
                t[n] = '\0';
                used = !strcmp(base_of(t), blob_name);
            }
        }
        files_free(&f);
    }
    closedir(d);
    return used;
}

/* Removes one snapshot entry, then its blob when nothing else links to it. */
static int remove_entry(const char *repo_dir, const char *snap, const char *rel, struct err *e)
{
    char p[LAYOUT_MAX_PATH], t[LAYOUT_MAX_PATH];
    snprintf(p, sizeof p, "%s/%s", snap, rel);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (unlink(p) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "cannot delete %s: %s", p, strerror(errno));
    if (n <= 0)
        return 0; /* a plain file, not a link: it was the data */
    t[n] = '\0';
    const char *blob = base_of(t);
    char bp[LAYOUT_MAX_PATH];
    if (layout_hf_blob(repo_dir, blob, bp, sizeof bp, NULL) == 0 &&
        !blob_used(repo_dir, blob, snap, rel) && unlink(bp) != 0 && errno != ENOENT)
        log_warn("blob=%s msg=\"cannot delete: %s\"", bp, strerror(errno));
    return 0;
}

int store_hf_delete(const struct store *s, const struct model_ref *r, struct err *e)
{
    struct store_model m = {0};
    int rc = store_hf_find(s, r, &m, e);
    if (rc)
        return rc;
    char repo_dir[LAYOUT_MAX_PATH], snap[LAYOUT_MAX_PATH];
    layout_hf_repo_dir(s->hf_hub, r, repo_dir, sizeof repo_dir, NULL);
    snapshot_dir(repo_dir, snap, sizeof snap);
    const char *rel = m.path + strlen(snap) + 1;
    int count = store_shard_count(rel);
    for (int k = 1; k <= count && !rc; k++) {
        char shard[LAYOUT_MAX_PATH];
        store_shard_path(rel, k, shard, sizeof shard);
        rc = remove_entry(repo_dir, snap, shard, e);
    }
    /* The projector goes with the model unless another model of the repo still uses it. */
    if (!rc && m.mmproj) {
        struct hf_files f = {0};
        collect(snap, "", 0, &f);
        int others = 0;
        for (int i = 0; i < f.n; i++)
            others += is_candidate(f.v[i]);
        files_free(&f);
        if (others == 0)
            rc = remove_entry(repo_dir, snap, m.mmproj + strlen(snap) + 1, e);
    }
    store_model_free(&m);
    return rc;
}
