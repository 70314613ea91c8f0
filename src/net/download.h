/* Downloads from model registries (libcurl): small JSON answers read whole within a cap, and
 * large files fetched resumably in parallel ranged segments and checked by digest.
 *
 * A session holds what every request to one registry shares: the endpoint's host (the only
 * host credentials are sent to, and the only loopback or private address a request may reach),
 * an optional bearer token, and the caller's cancel flag.
 *
 * Safety rules every request follows:
 *   - at most 5 redirects, http and https only, never from https down to http;
 *   - every connection's address is checked before it is made (CURLOPT_OPENSOCKETFUNCTION):
 *     loopback, RFC 1918, CGNAT, fc00::/7 and link-local addresses are refused unless they are
 *     an address of the session's endpoint host itself (or of a proxy named by https_proxy,
 *     http_proxy or all_proxy); 169.254.169.254 is always refused;
 *   - the Authorization header goes only to the endpoint's own host (the request's URL host must
 *     equal it, and libcurl drops it on a redirect to another host);
 *   - bodies read into memory are capped (DL_MAX_JSON, DL_MAX_SMALL), file bodies stop at the
 *     expected size.
 *
 * A file download writes DEST.partial and a resume record DEST.partial.ranges listing the
 * byte ranges already written (fsynced as it goes), so an interrupted or killed download goes
 * on where it stopped. At the end the whole file is hashed; only when the SHA-256 matches is it
 * fsynced and renamed to DEST (then the directory is fsynced). A mismatch deletes the partial.
 *
 * Environment (for tests and slow links): HEARTH_PULL_STALL_S (seconds without a byte before a
 * segment is retried, default 30), HEARTH_PULL_RETRIES (attempts without progress per segment,
 * default 5), HEARTH_PULL_SEGMENTS (parallel connections for large files, default 4),
 * HEARTH_PULL_SEGMENT_MIN_MB (files at least this large are split, default 64).
 *
 * Thread-safety: a session is used by one thread at a time; sessions are independent.
 */
#ifndef HEARTH_NET_DOWNLOAD_H
#define HEARTH_NET_DOWNLOAD_H

#include "base/buf.h"
#include "base/err.h"

#include <stdint.h>

#define DL_MAX_JSON  (4u << 20)   /* manifests and repository listings */
#define DL_MAX_SMALL (64u << 10)  /* tokens and error bodies */
#define DL_MAX_FILE  (1ull << 40) /* no single file we download is larger than 1 TiB */

/* Called with the bytes of the current file done so far and its size. Any thread that runs the
 * download; must not block for long. */
typedef void (*dl_progress_fn)(void *ud, uint64_t done, uint64_t total);

struct dl_session {
    char endpoint_host[256]; /* the configured endpoint's host name (no port) */
    char bearer[4096];       /* "" or a token for the endpoint's host */
    int insecure;            /* skip TLS verification (Ollama's --insecure) */
    volatile int *cancel;    /* when non-NULL and set, transfers stop with ERR_CANCELLED */
    /* The addresses endpoint_host resolves to (filled by dl_session_init). */
    int n_trusted;
    unsigned char trusted[8][16];
    int trusted_family[8];
};

/* Sets up a session for the endpoint at base_url (its host is taken from it). Returns 0 or
 * ERR_BAD_REQUEST for a URL that is not http(s). */
int dl_session_init(struct dl_session *s, const char *base_url, volatile int *cancel,
                    struct err *e);

struct dl_response {
    long status;
    struct buf body;             /* capped at the request's max */
    char www_authenticate[2048]; /* the header of a 401, "" when none */
    char content_type[128];
};

/* GET url (Accept: accept when non-NULL) with the session's token when the URL's host is the
 * endpoint's; the body is read into r->body up to max bytes (more is ERR_TOO_LARGE). Returns 0
 * with r->status whatever it is, or ERR_UNAVAILABLE (network), ERR_BAD_REQUEST (a refused
 * address or redirect), ERR_CANCELLED. r is initialised here; free it with dl_response_free. */
int dl_get(struct dl_session *s, const char *url, const char *accept, size_t max,
           struct dl_response *r, struct err *e);
void dl_response_free(struct dl_response *r);

/* What a file download needs. */
struct dl_file {
    const char *url;
    const char *dest;   /* the final path; its directory must exist */
    const char *sha256; /* the expected digest, 64 lowercase hex */
    uint64_t size;      /* the expected size (> 0, <= DL_MAX_FILE) */
    dl_progress_fn progress;
    void *ud;
};

/* Downloads f->url into f->dest as described above. Returns 0, or ERR_CANCELLED (the partial
 * is kept for a resume), ERR_BAD_MODEL (digest mismatch or an oversized body: the partial is
 * deleted), ERR_NOT_FOUND (404), ERR_UNAVAILABLE (network failures past the retries, the
 * partial kept), ERR_BAD_REQUEST (a refused address), ERR_IO. */
int dl_download(struct dl_session *s, const struct dl_file *f, struct err *e);

/* The SHA-256 of a file into hex[65], reporting progress; 0 or ERR_IO / ERR_CANCELLED. */
int dl_sha256_file(const char *path, char hex[65], volatile int *cancel, dl_progress_fn progress,
                   void *ud, struct err *e);

/* 1 when an address may be connected to by a session (the rules above). */
int dl_addr_allowed(const struct dl_session *s, int family, const void *addr);

/* The host of an http(s) URL into host (no port, no brackets). 0 or ERR_BAD_REQUEST. */
int dl_url_host(const char *url, char *host, size_t len, struct err *e);

#endif
