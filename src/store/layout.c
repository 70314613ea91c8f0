#include "store/layout.h"

#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- roots ---- */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    return h && *h ? h : "/tmp";
}

void layout_hf_hub(char *out, size_t len)
{
    const char *cache = getenv("HF_HUB_CACHE"), *hf_home = getenv("HF_HOME");
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (cache && *cache)
        snprintf(out, len, "%s", cache);
    else if (hf_home && *hf_home)
        snprintf(out, len, "%s/hub", hf_home);
    else if (xdg && *xdg) /* huggingface_hub honours XDG_CACHE_HOME for HF_HOME's default */
        snprintf(out, len, "%s/huggingface/hub", xdg);
    else
        snprintf(out, len, "%s/.cache/huggingface/hub", home_dir());
}

void layout_ollama_root(char *out, size_t len)
{
    const char *m = getenv("OLLAMA_MODELS");
    if (m && *m)
        snprintf(out, len, "%s", m);
    else
        snprintf(out, len, "%s/.ollama/models", home_dir());
}

/* ---- names ---- */

/* An org, repo, namespace, model or tag: [A-Za-z0-9._-], not "." or "..", not starting with
 * '-' (it would read as an option to other tools). */
static int part_ok(const char *s, size_t n)
{
    if (n == 0 || n >= LAYOUT_MAX_PART || s[0] == '-')
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}

/* A registry host: a part with a dot, or "host:port", or "localhost[:port]". */
static int host_like(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == ':')
            return 1;
    return n == 9 && !strncmp(s, "localhost", 9);
}

static int host_ok(const char *s, size_t n)
{
    if (n == 0 || n >= LAYOUT_MAX_PART)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != ':')
            return 0;
    }
    return s[0] != '.' && s[0] != '-' && !strstr(s, "..");
}

static int is_hf_host(const char *s, size_t n)
{
    return (n == 5 && !strncmp(s, "hf.co", 5)) || (n == 14 && !strncmp(s, "huggingface.co", 14));
}

static void copy_part(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Splits "x:tag" at the last ':' of the last path part into tag (default def). */
static int split_tag(const char *last, size_t n, size_t *name_len, char *tag, const char *def)
{
    const char *colon = memchr(last, ':', n);
    if (!colon) {
        *name_len = n;
        snprintf(tag, LAYOUT_MAX_PART, "%s", def);
        return 0;
    }
    size_t tl = n - (size_t)(colon - last) - 1;
    if (!part_ok(colon + 1, tl))
        return -1;
    copy_part(tag, colon + 1, tl);
    *name_len = (size_t)(colon - last);
    return 0;
}

static int file_part_ok(const char *f)
{
    size_t n = strlen(f);
    if (n == 0 || n >= LAYOUT_MAX_FILE || f[0] == '/')
        return 0;
    for (const char *p = f; *p;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (!part_ok(p, l))
            return 0;
        p += l + (slash ? 1 : 0);
        if (slash && !*p)
            return 0;
    }
    return 1;
}

int model_ref_parse(const char *name, struct model_ref *r, struct err *e)
{
    memset(r, 0, sizeof *r);
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return err_set(e, ERR_BAD_REQUEST, "model name is empty");
    if (n >= LAYOUT_MAX_PATH)
        return err_set(e, ERR_BAD_REQUEST, "model name is longer than %d characters",
                       LAYOUT_MAX_PATH - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%.200s'", name);
    }
    /* A path: it says so by its first characters. */
    if (name[0] == '/' || !strncmp(name, "./", 2) || !strncmp(name, "../", 3) ||
        !strncmp(name, "~/", 2)) {
        r->kind = REF_PATH;
        if (name[0] == '~')
            snprintf(r->path, sizeof r->path, "%s%s", home_dir(), name + 1);
        else
            snprintf(r->path, sizeof r->path, "%s", name);
        return 0;
    }
    if (n > 255)
        return err_set(e, ERR_BAD_REQUEST, "model name is longer than 255 characters");
    /* Split on '/'. */
    const char *parts[8];
    size_t lens[8];
    int np = 0;
    for (const char *p = name;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (np == 8)
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s' (too many parts)", name);
        parts[np] = p;
        lens[np++] = l;
        if (!slash)
            break;
        p = slash + 1;
    }
    for (int i = 0; i < np; i++)
        if (lens[i] == 0)
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s' (empty part)", name);

    int hf = np >= 3 && is_hf_host(parts[0], lens[0]);
    if (hf && np >= 4) {
        /* hf.co/ORG/REPO/FILE... */
        r->kind = REF_HF_FILE;
        snprintf(r->file, sizeof r->file, "%s", parts[3]);
        if (!part_ok(parts[1], lens[1]) || !part_ok(parts[2], lens[2]) || !file_part_ok(r->file))
            return err_set(e, ERR_BAD_REQUEST, "invalid Hugging Face file name '%s'", name);
        snprintf(r->host, sizeof r->host, "hf.co");
        copy_part(r->ns, parts[1], lens[1]);
        copy_part(r->name, parts[2], lens[2]);
        return 0;
    }
    if (hf || np == 2) {
        /* [hf.co/]ORG/REPO[:QUANT] */
        int o = hf ? 1 : 0;
        if (np != o + 2)
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
        size_t rl;
        if (!part_ok(parts[o], lens[o]) || split_tag(parts[o + 1], lens[o + 1], &rl, r->tag, "") ||
            !part_ok(parts[o + 1], rl))
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
        r->kind = REF_HF;
        snprintf(r->host, sizeof r->host, "hf.co");
        copy_part(r->ns, parts[o], lens[o]);
        copy_part(r->name, parts[o + 1], rl);
        return 0;
    }
    if (np == 1) {
        size_t nl;
        if (split_tag(parts[0], lens[0], &nl, r->tag, "latest") || !part_ok(parts[0], nl))
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
        r->kind = REF_PLAIN;
        copy_part(r->name, parts[0], nl);
        return 0;
    }
    if (np == 3 && host_like(parts[0], lens[0])) {
        size_t nl;
        /* The host may carry a port: only the last part's colon is a tag. */
        if (!host_ok(parts[0], lens[0]) || !part_ok(parts[1], lens[1]) ||
            split_tag(parts[2], lens[2], &nl, r->tag, "latest") || !part_ok(parts[2], nl))
            return err_set(e, ERR_BAD_REQUEST, "invalid model name '%s'", name);
        r->kind = REF_OLLAMA;
        copy_part(r->host, parts[0], lens[0]);
        copy_part(r->ns, parts[1], lens[1]);
        copy_part(r->name, parts[2], nl);
        return 0;
    }
    return err_set(e, ERR_BAD_REQUEST,
                   "invalid model name '%s' (expected NAME[:TAG], ORG/REPO[:QUANT], "
                   "hf.co/ORG/REPO[:QUANT], HOST/NAMESPACE/MODEL[:TAG] or a path)",
                   name);
}

void model_ref_format(const struct model_ref *r, char *out, size_t len)
{
    switch (r->kind) {
    case REF_PATH: snprintf(out, len, "%s", r->path); break;
    case REF_PLAIN: snprintf(out, len, "%s:%s", r->name, r->tag); break;
    case REF_HF:
        snprintf(out, len, "hf.co/%s/%s%s%s", r->ns, r->name, r->tag[0] ? ":" : "", r->tag);
        break;
    case REF_HF_FILE: snprintf(out, len, "hf.co/%s/%s/%s", r->ns, r->name, r->file); break;
    case REF_OLLAMA:
        if (!strcmp(r->host, OLLAMA_DEFAULT_HOST) && !strcmp(r->ns, OLLAMA_DEFAULT_NS))
            snprintf(out, len, "%s:%s", r->name, r->tag);
        else if (!strcmp(r->host, OLLAMA_DEFAULT_HOST))
            snprintf(out, len, "%s/%s:%s", r->ns, r->name, r->tag);
        else
            snprintf(out, len, "%s/%s/%s:%s", r->host, r->ns, r->name, r->tag);
        break;
    }
}

/* The quant types llama.cpp writes, longest first so "Q4_K_M" wins over "Q4_K". */
static const char *const quants[] = {
    "IQ1_S",   "IQ1_M",   "IQ2_XXS", "IQ2_XS",   "IQ2_S",    "IQ2_M",    "IQ3_XXS", "IQ3_XS",
    "IQ3_S",   "IQ3_M",   "IQ4_NL",  "IQ4_XS",   "TQ1_0",    "TQ2_0",    "Q2_K_S",  "Q2_K_L",
    "Q2_K",    "Q3_K_XL", "Q3_K_S",  "Q3_K_M",   "Q3_K_L",   "Q3_K",     "Q4_K_XL", "Q4_K_S",
    "Q4_K_M",  "Q4_K_L",  "Q4_K",    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_0",    "Q4_1",
    "Q5_K_XL", "Q5_K_S",  "Q5_K_M",  "Q5_K_L",   "Q5_K",     "Q5_0",     "Q5_1",    "Q6_K_XL",
    "Q6_K_L",  "Q6_K",    "Q8_K_XL", "Q8_0",     "Q8_K",     "MXFP4",    "BF16",    "F16",
    "F32",     "FP16",    "FP32",
};

void layout_quant_of_file(const char *file, char *out, size_t len)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char up[LAYOUT_MAX_FILE];
    size_t n = 0;
    for (; base[n] && n + 1 < sizeof up; n++)
        up[n] = (char)toupper((unsigned char)base[n]);
    up[n] = '\0';
    if (n > 5 && !strcmp(up + n - 5, ".GGUF"))
        up[n - 5] = '\0';
    /* The longest match that stands as a whole token (bounded by '-', '.', '_' or the ends). */
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < ARRAY_LEN(quants); i++) {
        size_t ql = strlen(quants[i]);
        for (const char *p = up; (p = strstr(p, quants[i])); p++) {
            char before = p == up ? '-' : p[-1], after = p[ql];
            int b = before == '-' || before == '.' || before == '_';
            int a = after == '\0' || after == '-' || after == '.' || after == '_';
            if (b && a && ql > best_len) {
                best = quants[i];
                best_len = ql;
            }
        }
    }
    if (best && (!strcmp(best, "FP16") || !strcmp(best, "FP32")))
        snprintf(out, len, "F%s", best + 2);
    else
        snprintf(out, len, "%s", best ? best : "");
}

static int hex_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

int layout_digest_valid(const char *d)
{
    return d && !strncmp(d, "sha256", 6) && (d[6] == ':' || d[6] == '-') && strlen(d) == 71 &&
           hex_ok(d + 7, 64);
}

/* ---- Ollama ---- */

int layout_ollama_blob(const char *root, const char *digest, char *out, size_t len, struct err *e)
{
    if (!layout_digest_valid(digest))
        return err_set(e, ERR_BAD_REQUEST, "invalid digest '%.80s' (expected sha256:<64 hex>)",
                       digest ? digest : "");
    if (snprintf(out, len, "%s/blobs/sha256-%s", root, digest + 7) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

int layout_ollama_manifest(const char *root, const struct model_ref *r, char *out, size_t len,
                           struct err *e)
{
    const char *host = r->kind == REF_OLLAMA ? r->host : OLLAMA_DEFAULT_HOST;
    const char *ns = r->kind == REF_OLLAMA ? r->ns : OLLAMA_DEFAULT_NS;
    if ((r->kind != REF_OLLAMA && r->kind != REF_PLAIN) || !host_ok(host, strlen(host)) ||
        !part_ok(ns, strlen(ns)) || !part_ok(r->name, strlen(r->name)) ||
        !part_ok(r->tag, strlen(r->tag)))
        return err_set(e, ERR_BAD_REQUEST, "not an Ollama model name");
    if (snprintf(out, len, "%s/manifests/%s/%s/%s/%s", root, host, ns, r->name, r->tag) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

/* ---- Hugging Face ---- */

int layout_hf_repo_dir(const char *hub, const struct model_ref *r, char *out, size_t len,
                       struct err *e)
{
    if ((r->kind != REF_HF && r->kind != REF_HF_FILE) || !part_ok(r->ns, strlen(r->ns)) ||
        !part_ok(r->name, strlen(r->name)))
        return err_set(e, ERR_BAD_REQUEST, "not a Hugging Face repository name");
    if (snprintf(out, len, "%s/models--%s--%s", hub, r->ns, r->name) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

int layout_hf_blob(const char *repo_dir, const char *etag, char *out, size_t len, struct err *e)
{
    size_t n = etag ? strlen(etag) : 0;
    if ((n != 64 && n != 40) || !hex_ok(etag, n))
        return err_set(e, ERR_BAD_REQUEST, "invalid blob etag '%.80s'", etag ? etag : "");
    if (snprintf(out, len, "%s/blobs/%s", repo_dir, etag) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

int layout_hf_snapshot_file(const char *repo_dir, const char *commit, const char *file, char *out,
                            size_t len, struct err *e)
{
    if (!commit || strlen(commit) != 40 || !hex_ok(commit, 40))
        return err_set(e, ERR_BAD_REQUEST, "invalid commit '%.80s'", commit ? commit : "");
    if (!file || !file_part_ok(file))
        return err_set(e, ERR_BAD_REQUEST, "invalid file name '%.200s'", file ? file : "");
    if (snprintf(out, len, "%s/snapshots/%s/%s", repo_dir, commit, file) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

int layout_hf_ref_path(const char *repo_dir, const char *revision, char *out, size_t len,
                       struct err *e)
{
    if (!revision || !part_ok(revision, strlen(revision)))
        return err_set(e, ERR_BAD_REQUEST, "invalid revision '%.80s'", revision ? revision : "");
    if (snprintf(out, len, "%s/refs/%s", repo_dir, revision) >= (int)len)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    return 0;
}

int layout_hf_read_ref(const char *repo_dir, const char *revision, char commit[41], struct err *e)
{
    if (!revision || !part_ok(revision, strlen(revision)))
        return err_set(e, ERR_BAD_REQUEST, "invalid revision '%.80s'", revision ? revision : "");
    char path[LAYOUT_MAX_PATH];
    snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision);
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(e, ERR_NOT_FOUND, "no ref '%s' in %s", revision, repo_dir);
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n != 40 || !hex_ok(buf, 40))
        return err_set(e, ERR_BAD_MODEL, "ref %s does not hold a commit", path);
    memcpy(commit, buf, 41);
    return 0;
}

/* ---- files ---- */

int layout_mkdirs(const char *dir, struct err *e)
{
    char p[LAYOUT_MAX_PATH];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return err_set(e, ERR_BAD_REQUEST, "path too long");
    for (char *c = p + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return err_set(e, ERR_IO, "cannot create %s: %s", p, strerror(errno));
            *c = '/';
        }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", p, strerror(errno));
    return 0;
}

int layout_fsync_dir_of(const char *path, struct err *e)
{
    char d[LAYOUT_MAX_PATH];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (slash == d)
        d[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(d, sizeof d, ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", d, strerror(errno));
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    close(fd);
    return rc ? err_set(e, ERR_IO, "cannot sync %s: %s", d, strerror(errno)) : 0;
}

int layout_write_atomic(const char *path, const void *data, size_t len, struct err *e)
{
    char tmp[LAYOUT_MAX_PATH + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    return layout_fsync_dir_of(path, e);
}
