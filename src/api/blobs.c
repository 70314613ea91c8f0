/* Ollama's blob routes: HEAD /api/blobs/:digest (is the blob in Ollama's store?) and
 * POST /api/blobs/:digest (upload it, streamed to disk while hashed; see http.h's sinks).
 *
 * An upload lands in a temporary file in the store's blobs folder and becomes
 * blobs/sha256-HEX only when its sha256 matches the URL (rename, then fsync of the folder); a
 * mismatch, a client that goes away, or a failed write leaves no file behind. The digest is
 * checked before anything is written (layout_ollama_blob is the only digest-to-path function). */
#include "api/api.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "store/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_DEFAULT_MAX_GB 512

/* The cap on one upload: HEARTH_MAX_BLOB_GB (a whole number of GB), else 512 GB. */
static int64_t max_blob_bytes(void)
{
    const char *v = getenv("HEARTH_MAX_BLOB_GB");
    int64_t gb = BLOB_DEFAULT_MAX_GB;
    if (v && *v && (parse_i64(v, &gb) || gb < 0)) {
        log_warn("msg=\"HEARTH_MAX_BLOB_GB is not a number of GB; using the default\" value=%s",
                 log_q(v));
        gb = BLOB_DEFAULT_MAX_GB;
    }
    if (gb > (INT64_MAX >> 30))
        gb = INT64_MAX >> 30;
    return gb << 30;
}

/* The digest in /api/blobs/DIGEST, checked: "sha256:" and 64 lowercase hex digits. */
static int blob_path(const char *path, char *out, size_t len, struct err *e)
{
    const char *digest = path + strlen("/api/blobs/");
    if (strncmp(digest, "sha256:", 7) != 0 || !layout_digest_valid(digest))
        return err_set(e, ERR_BAD_REQUEST,
                       "invalid digest '%.80s' (expected sha256: and 64 lowercase hex digits)",
                       digest);
    return layout_ollama_blob(store_ollama_root(api->store), digest, out, len, e);
}

static void blob_head(const struct http_request *req, struct http_reply *rep)
{
    char path[LAYOUT_MAX_PATH];
    struct err e = {0};
    if (blob_path(req->path, path, sizeof path, &e)) {
        api_error(rep, e.code, e.msg);
        return;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        http_reply_text(rep, 200, "");
    else
        api_errorf(rep, ERR_NOT_FOUND, "blob %s not found", req->path + strlen("/api/blobs/"));
}

struct upload {
    int fd;
    char tmp[LAYOUT_MAX_PATH + 64];
    char final[LAYOUT_MAX_PATH];
    char hex[65]; /* the digest the URL names */
    struct sha256_state *sha;
    int64_t done, max;
    int failed; /* errno of a failed write, or -1 for the cap */
};

static void *upload_open(const struct http_request *req, struct http_reply *rep)
{
    char path[LAYOUT_MAX_PATH];
    struct err e = {0};
    if (blob_path(req->path, path, sizeof path, &e)) {
        api_error(rep, e.code, e.msg);
        return NULL;
    }
    int64_t max = max_blob_bytes();
    const char *cl = http_header(req, "Content-Length");
    int64_t declared;
    if (cl && !parse_i64(cl, &declared) && declared > max) {
        api_errorf(rep, ERR_TOO_LARGE,
                   "the blob is larger than %lld bytes (HEARTH_MAX_BLOB_GB raises the cap)",
                   (long long)max);
        return NULL;
    }
    struct upload *u = xcalloc(1, sizeof *u);
    u->max = max;
    snprintf(u->final, sizeof u->final, "%s", path);
    snprintf(u->hex, sizeof u->hex, "%s", req->path + strlen("/api/blobs/sha256:"));
    char tmpd[LAYOUT_MAX_PATH], dir[LAYOUT_MAX_PATH];
    snprintf(tmpd, sizeof tmpd, "%s", path);
    snprintf(dir, sizeof dir, "%s", dirname(tmpd));
    if (layout_mkdirs(dir, &e)) {
        api_error(rep, e.code, e.msg);
        free(u);
        return NULL;
    }
    snprintf(u->tmp, sizeof u->tmp, "%s/.hearth-upload-%.12s-XXXXXX", dir, u->hex);
    u->fd = mkostemp(u->tmp, O_CLOEXEC);
    if (u->fd < 0) {
        api_errorf(rep, ERR_IO, "cannot create a file in %s: %s", dir, strerror(errno));
        free(u);
        return NULL;
    }
    fchmod(u->fd, 0644);
    u->sha = sha256_begin();
    return u;
}

static int upload_write(void *ctx, const char *data, size_t n)
{
    struct upload *u = ctx;
    if (u->done + (int64_t)n > u->max) {
        u->failed = -1;
        log_warn("msg=\"blob upload over the cap\" max=%lld", (long long)u->max);
        return ERR_TOO_LARGE;
    }
    sha256_update(u->sha, data, n);
    u->done += (int64_t)n;
    while (n) {
        ssize_t w = write(u->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            u->failed = errno;
            log_error("msg=\"blob upload write failed\" err=%s", log_q(strerror(errno)));
            return ERR_IO;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static void upload_close(void *ctx, int complete, struct http_reply *rep)
{
    struct upload *u = ctx;
    char hex[65] = "";
    int ok = complete && !u->failed;
    if (ok)
        sha256_final_hex(u->sha, hex);
    else
        sha256_abort(u->sha);
    if (ok && fsync(u->fd)) {
        ok = 0;
        u->failed = errno;
    }
    close(u->fd);
    struct err e = {0};
    if (ok && strcmp(hex, u->hex) != 0) {
        ok = 0;
        if (rep)
            api_errorf(rep, ERR_BAD_REQUEST,
                       "the upload's sha256 is %s, not the %s the URL names (%lld bytes "
                       "received)",
                       hex, u->hex, (long long)u->done);
    } else if (ok && (rename(u->tmp, u->final) || layout_fsync_dir_of(u->final, &e))) {
        ok = 0;
        if (rep)
            api_errorf(rep, ERR_IO, "cannot store the blob: %s", strerror(errno));
    } else if (!ok && rep) {
        if (u->failed == -1)
            api_errorf(rep, ERR_TOO_LARGE, "the blob is larger than %lld bytes", (long long)u->max);
        else
            api_errorf(rep, ERR_IO, "cannot write the blob: %s", strerror(u->failed));
    }
    if (ok) {
        log_info("msg=\"blob stored\" digest=sha256:%s bytes=%lld", u->hex, (long long)u->done);
        if (rep)
            http_reply_text(rep, 201, "");
    } else {
        unlink(u->tmp);
        if (!complete)
            log_warn("msg=\"blob upload ended early; nothing kept\" digest=sha256:%s bytes=%lld",
                     u->hex, (long long)u->done);
    }
    free(u);
}

static const struct http_sink upload_sink = {upload_open, upload_write, upload_close};

static const struct http_route routes[] = {
    {"HEAD", "/api/blobs/*", blob_head},
};
static const struct http_upload_route uploads[] = {
    {"POST", "/api/blobs/*", &upload_sink},
};

void blobs_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}

void blobs_upload_routes(const struct http_upload_route **r, int *n)
{
    *r = uploads;
    *n = (int)ARRAY_LEN(uploads);
}
