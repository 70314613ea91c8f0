/* Registry downloads over libcurl: see download.h for the rules. The file download reads top to
 * bottom: the resume record, the segments run on one curl multi handle, the digest check and
 * the atomic rename. */
#include "net/download.h"

#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REDIRS   5
#define MAX_SEGMENTS 16
#define MAX_RANGES   64

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    int64_t n;
    if (!v || !*v)
        return def;
    if (parse_i64(v, &n) || n < min || n > max) {
        log_warn("msg=\"ignoring a bad value\" var=%s value=%s", name, log_q(v));
        return def;
    }
    return (long)n;
}

/* ---- addresses ---- */

int dl_url_host(const char *url, char *host, size_t len, struct err *e)
{
    CURLU *u = curl_url();
    char *h = NULL, *scheme = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) || strlen(h) >= len) {
        rc = err_set(e, ERR_BAD_REQUEST, "not an http(s) URL: '%.200s'", url);
    } else {
        /* IPv6 hosts come back in brackets. */
        const char *p = h;
        size_t n = strlen(p);
        if (p[0] == '[' && n > 1 && p[n - 1] == ']') {
            p++;
            n -= 2;
        }
        snprintf(host, len, "%.*s", (int)n, p);
        for (char *c = host; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    curl_free(h);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

/* Adds the addresses host resolves to to the session's trusted set. */
static void trust_host(struct dl_session *s, const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return;
    for (struct addrinfo *a = res; a && s->n_trusted < 8; a = a->ai_next) {
        if (a->ai_family == AF_INET)
            memcpy(s->trusted[s->n_trusted], &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4);
        else if (a->ai_family == AF_INET6)
            memcpy(s->trusted[s->n_trusted], &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, 16);
        else
            continue;
        s->trusted_family[s->n_trusted++] = a->ai_family;
    }
    freeaddrinfo(res);
}

int dl_session_init(struct dl_session *s, const char *base_url, volatile int *cancel, struct err *e)
{
    pthread_once(&curl_once, curl_init_once);
    memset(s, 0, sizeof *s);
    s->cancel = cancel;
    int rc = dl_url_host(base_url, s->endpoint_host, sizeof s->endpoint_host, e);
    if (rc)
        return rc;
    trust_host(s, s->endpoint_host);
    /* A proxy from the environment is where libcurl connects: it is trusted as the endpoint is
     * (a corporate proxy often has a private address). */
    const char *proxies[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                             "HTTP_PROXY",  "all_proxy",   "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
        const char *v = getenv(proxies[i]);
        char url[1024], host[256];
        if (!v || !*v)
            continue;
        snprintf(url, sizeof url, "%s%s", strstr(v, "://") ? "" : "http://", v);
        if (!dl_url_host(url, host, sizeof host, NULL) && host[0])
            trust_host(s, host);
    }
    return 0;
}

/* 1 for loopback, private and link-local addresses and the like: places a registry's redirect
 * must not send us. */
static int addr_internal(int family, const unsigned char *a)
{
    if (family == AF_INET) {
        return a[0] == 127 || a[0] == 10 || a[0] == 0 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
               (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
               (a[0] == 100 && (a[1] & 0xc0) == 64) || a[0] >= 224;
    }
    static const unsigned char zero[16];
    if (!memcmp(a, zero, 15) && (a[15] == 0 || a[15] == 1))
        return 1;              /* :: and ::1 */
    if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 */
        return 1;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 */
        return 1;
    if (a[0] == 0xff) /* multicast */
        return 1;
    return 0;
}

int dl_addr_allowed(const struct dl_session *s, int family, const void *addr)
{
    const unsigned char *a = addr;
    unsigned char v4[4];
    /* An IPv4-mapped IPv6 address is judged as the IPv4 address it maps. */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && !memcmp(a, mapped, 12)) {
        memcpy(v4, a + 12, 4);
        a = v4;
        family = AF_INET;
    }
    if (family == AF_INET && a[0] == 169 && a[1] == 254 && a[2] == 169 && a[3] == 254)
        return 0; /* the cloud metadata service, never */
    if (!addr_internal(family, a))
        return 1;
    for (int i = 0; i < s->n_trusted; i++) {
        if (s->trusted_family[i] == family && !memcmp(s->trusted[i], a, family == AF_INET ? 4 : 16))
            return 1;
    }
    return 0;
}

/* ---- one easy handle with the session's rules ---- */

struct conn {
    struct dl_session *s;
    CURL *h;
    struct curl_slist *headers;
    int refused; /* a connection was refused by the address rules */
    char refused_addr[64];
};

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *sa)
{
    struct conn *c = ud;
    const void *addr = NULL;
    if (sa->family == AF_INET)
        addr = &((struct sockaddr_in *)(void *)&sa->addr)->sin_addr;
    else if (sa->family == AF_INET6)
        addr = &((struct sockaddr_in6 *)(void *)&sa->addr)->sin6_addr;
    if (!addr || !dl_addr_allowed(c->s, sa->family, addr)) {
        c->refused = 1;
        if (addr)
            inet_ntop(sa->family, addr, c->refused_addr, sizeof c->refused_addr);
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype, sa->protocol);
}

static int conn_init(struct conn *c, struct dl_session *s, const char *url, const char *accept,
                     struct err *e)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    char host[256];
    int rc = dl_url_host(url, host, sizeof host, e);
    if (rc)
        return rc;
    c->h = curl_easy_init();
    if (!c->h)
        return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c->h, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* No redirect from https down to plain http. */
    curl_easy_setopt(c->h, CURLOPT_REDIR_PROTOCOLS_STR,
                     strncasecmp(url, "https://", 8) == 0 ? "https" : "http,https");
    curl_easy_setopt(c->h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c->h, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "hearth/" HEARTH_VERSION);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, env_long("HEARTH_PULL_STALL_S", 30, 1, 3600));
    /* Never send credentials along to another host (libcurl's default, said explicitly). */
    curl_easy_setopt(c->h, CURLOPT_UNRESTRICTED_AUTH, 0L);
    if (s->insecure) {
        curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (accept) {
        char hdr[512];
        snprintf(hdr, sizeof hdr, "Accept: %s", accept);
        c->headers = curl_slist_append(c->headers, hdr);
    }
    if (s->bearer[0] && !strcmp(host, s->endpoint_host)) {
        char *hdr = xmalloc(sizeof s->bearer + 32);
        snprintf(hdr, sizeof s->bearer + 32, "Authorization: Bearer %s", s->bearer);
        c->headers = curl_slist_append(c->headers, hdr);
        free(hdr);
    }
    if (c->headers)
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    return 0;
}

static void conn_free(struct conn *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    c->h = NULL;
    c->headers = NULL;
}

/* The error of a failed transfer: a refused address, a cancel, or curl's message. */
static int conn_error(struct conn *c, CURLcode cc, const char *url, struct err *e)
{
    if (c->refused)
        return err_set(e, ERR_BAD_REQUEST,
                       "refused to connect to %s (a loopback, private or link-local address) "
                       "while fetching %.200s",
                       c->refused_addr[0] ? c->refused_addr : "an address", url);
    if (c->s->cancel && *c->s->cancel)
        return err_set(e, ERR_CANCELLED, "cancelled");
    if (cc == CURLE_TOO_MANY_REDIRECTS)
        return err_set(e, ERR_BAD_REQUEST, "more than %d redirects fetching %.200s", MAX_REDIRS,
                       url);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL)
        return err_set(e, ERR_BAD_REQUEST,
                       "a redirect to a protocol other than http(s) from %.200s", url);
    return err_set(e, ERR_UNAVAILABLE, "fetching %.200s: %s", url, curl_easy_strerror(cc));
}

static int xfer_cancel(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct conn *c = ud;
    return c->s->cancel && *c->s->cancel;
}

/* ---- small bodies ---- */

struct small_ctx {
    struct dl_response *r;
    int too_large;
    int error_status; /* the current response is an error (>= 400): its body is cut short */
    int cut;          /* an error body was cut at DL_MAX_SMALL */
};

static size_t small_write(char *p, size_t sz, size_t n, void *ud)
{
    struct small_ctx *x = ud;
    size_t len = sz * n;
    if (x->error_status && x->r->body.len + len > DL_MAX_SMALL) {
        /* An error answer only feeds a message: keep its start, read no more. */
        buf_append(&x->r->body, p, DL_MAX_SMALL - x->r->body.len);
        x->cut = 1;
        return 0;
    }
    if (buf_append(&x->r->body, p, len)) {
        x->too_large = 1;
        return 0;
    }
    return len;
}

static void copy_header_value(char *out, size_t len, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t small_header(char *p, size_t sz, size_t n, void *ud)
{
    struct small_ctx *x = ud;
    size_t len = sz * n;
    /* A new response (after a redirect) starts with its status line. */
    if (len > 5 && !strncmp(p, "HTTP/", 5)) {
        const char *sp = memchr(p, ' ', len);
        x->error_status = sp && sp + 4 <= p + len && sp[1] >= '4';
        x->r->www_authenticate[0] = '\0';
        x->r->content_type[0] = '\0';
    } else if (len > 17 && !strncasecmp(p, "www-authenticate:", 17)) {
        copy_header_value(x->r->www_authenticate, sizeof x->r->www_authenticate, p + 17, len - 17);
    } else if (len > 13 && !strncasecmp(p, "content-type:", 13)) {
        copy_header_value(x->r->content_type, sizeof x->r->content_type, p + 13, len - 13);
    }
    return len;
}

int dl_get(struct dl_session *s, const char *url, const char *accept, size_t max,
           struct dl_response *r, struct err *e)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->body, max);
    if (s->cancel && *s->cancel)
        return err_set(e, ERR_CANCELLED, "cancelled");
    struct conn c;
    int rc = conn_init(&c, s, url, accept, e);
    if (rc)
        return rc;
    struct small_ctx x = {.r = r};
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, small_write);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, small_header);
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, xfer_cancel);
    curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &c);
    curl_easy_setopt(c.h, CURLOPT_TIMEOUT, 120L);
    CURLcode cc = curl_easy_perform(c.h);
    if (x.cut && cc == CURLE_WRITE_ERROR)
        cc = CURLE_OK;
    if (x.too_large)
        rc = err_set(e, ERR_TOO_LARGE, "the answer from %.200s is larger than %zu bytes", url, max);
    else if (cc != CURLE_OK)
        rc = conn_error(&c, cc, url, e);
    else
        curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &r->status);
    conn_free(&c);
    return rc;
}

void dl_response_free(struct dl_response *r)
{
    if (r)
        buf_free(&r->body);
}

/* ---- hashing ---- */

struct hash_progress {
    dl_progress_fn fn;
    void *ud;
    uint64_t total;
};

static void hash_progress(void *ctx, int64_t done)
{
    struct hash_progress *h = ctx;
    /* every 64 MiB and at the end */
    if ((uint64_t)done % (64u << 20) < (1u << 20) || (uint64_t)done == h->total)
        h->fn(h->ud, (uint64_t)done, h->total);
}

int dl_sha256_file(const char *path, char hex[65], volatile int *cancel, dl_progress_fn progress,
                   void *ud, struct err *e)
{
    struct stat st;
    struct hash_progress h = {progress, ud, stat(path, &st) == 0 ? (uint64_t)st.st_size : 0};
    int rc = sha256_file_hex(path, hex, cancel, progress ? hash_progress : NULL, &h);
    if (rc == ERR_CANCELLED)
        return err_set(e, rc, "cancelled");
    if (rc)
        return err_set(e, rc, "cannot read %s: %s", path, strerror(errno));
    return 0;
}

/* ---- the resume record ---- */

struct range {
    uint64_t start, end; /* [start, end) */
};

struct seg {
    struct dl_job *job;
    struct conn c;
    uint64_t start, pos, end; /* bytes [start, pos) are written; the segment ends at end */
    int attempts;             /* failed attempts since the last progress */
    uint64_t pos_at_start;    /* pos when the current attempt began */
    int64_t retry_at_us;      /* when a failed segment may go again; 0 while running */
    int running, done;
    long status; /* the current attempt's HTTP status, once known */
    int asked_range;
};

struct dl_job {
    struct dl_session *s;
    const struct dl_file *f;
    char partial[4200], record[4200];
    int fd, rec_fd;
    struct seg segs[MAX_SEGMENTS];
    int n_segs;
    int no_ranges;     /* the server ignores ranges: every attempt starts from zero */
    int range_ignored; /* a server answered a Range request with the whole file */
    int overflow;      /* a body went past its segment */
    int io_error;
    int64_t last_save_us;
    uint64_t bytes_since_save;
    int64_t last_progress_us;
};

/* Rewrites the record from the segments' state, after making the written data durable. */
static void record_save(struct dl_job *j)
{
    char text[8192];
    int n = snprintf(text, sizeof text, "hearth-partial 1\nsize %llu\nsha256 %s\n",
                     (unsigned long long)j->f->size, j->f->sha256);
    for (int i = 0; i < j->n_segs && n < (int)sizeof text - 64; i++)
        if (j->segs[i].pos > j->segs[i].start)
            n += snprintf(text + n, sizeof text - (size_t)n, "range %llu %llu\n",
                          (unsigned long long)j->segs[i].start, (unsigned long long)j->segs[i].pos);
    if (fdatasync(j->fd) || pwrite(j->rec_fd, text, (size_t)n, 0) != n || ftruncate(j->rec_fd, n) ||
        fdatasync(j->rec_fd))
        log_warn("msg=\"cannot save the resume record\" path=%s err=%s", log_q(j->record),
                 log_q(strerror(errno)));
    j->last_save_us = now_us();
    j->bytes_since_save = 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Reads the ranges already written from the record (only when it describes this very file);
 * returns how many, sorted and merged. */
static int record_load(struct dl_job *j, struct range *r, int max)
{
    char text[8192];
    ssize_t n = pread(j->rec_fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    char expect[160];
    snprintf(expect, sizeof expect, "hearth-partial 1\nsize %llu\nsha256 %s\n",
             (unsigned long long)j->f->size, j->f->sha256);
    if (strncmp(text, expect, strlen(expect)) != 0)
        return 0;
    struct stat st;
    if (fstat(j->fd, &st))
        return 0;
    int k = 0;
    for (char *line = text + strlen(expect); *line && k < max;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        unsigned long long a, b;
        if (sscanf(line, "range %llu %llu", &a, &b) == 2 && a < b && b <= j->f->size &&
            b <= (unsigned long long)st.st_size) {
            r[k].start = a;
            r[k].end = b;
            k++;
        }
        line = nl + 1;
    }
    qsort(r, (size_t)k, sizeof *r, range_cmp);
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (m && r[i].start <= r[m - 1].end) {
            if (r[i].end > r[m - 1].end)
                r[m - 1].end = r[i].end;
        } else {
            r[m++] = r[i];
        }
    }
    return m;
}

/* ---- the segments ---- */

static size_t seg_write(char *p, size_t sz, size_t n, void *ud)
{
    struct seg *g = ud;
    struct dl_job *j = g->job;
    size_t len = sz * n;
    if (!g->status) {
        curl_easy_getinfo(g->c.h, CURLINFO_RESPONSE_CODE, &g->status);
        /* The address the data comes from was checked when the socket opened; a whole-file
         * answer to a Range request means this server does not do ranges. */
        if (g->status == 200 && g->asked_range) {
            j->range_ignored = 1;
            return 0;
        }
    }
    size_t room = (size_t)(g->end - g->pos < len ? g->end - g->pos : len);
    if (room) {
        size_t off = 0;
        while (off < room) {
            ssize_t w = pwrite(j->fd, p + off, room - off, (off_t)(g->pos + off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                j->io_error = errno ? errno : EIO;
                return 0;
            }
            off += (size_t)w;
        }
        g->pos += room;
        j->bytes_since_save += room;
    }
    if (room < len) {
        j->overflow = 1;
        return 0;
    }
    return len;
}

static int seg_start(struct dl_job *j, struct seg *g, struct err *e)
{
    int rc = conn_init(&g->c, j->s, j->f->url, NULL, e);
    if (rc)
        return rc;
    if (j->no_ranges)
        g->pos = g->start = 0; /* a retry of the whole-file stream begins again */
    g->status = 0;
    g->pos_at_start = g->pos;
    g->asked_range = g->pos > 0 || g->end < j->f->size;
    g->running = 1;
    g->retry_at_us = 0;
    curl_easy_setopt(g->c.h, CURLOPT_WRITEFUNCTION, seg_write);
    curl_easy_setopt(g->c.h, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(g->c.h, CURLOPT_PRIVATE, g);
    curl_easy_setopt(g->c.h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(g->c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(g->c.h, CURLOPT_XFERINFOFUNCTION, xfer_cancel);
    curl_easy_setopt(g->c.h, CURLOPT_XFERINFODATA, &g->c);
    if (g->asked_range) {
        char range[64];
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)g->pos,
                 (unsigned long long)g->end - 1);
        curl_easy_setopt(g->c.h, CURLOPT_RANGE, range);
    }
    return 0;
}

/* Splits what is missing (the complement of have[]) into at most max segments. */
static void plan_segments(struct dl_job *j, const struct range *have, int n_have, int want)
{
    struct range miss[MAX_RANGES + 1];
    int nm = 0;
    uint64_t at = 0;
    for (int i = 0; i <= n_have && nm <= MAX_RANGES; i++) {
        uint64_t until = i < n_have ? have[i].start : j->f->size;
        if (until > at)
            miss[nm++] = (struct range){at, until};
        if (i < n_have)
            at = have[i].end;
    }
    uint64_t total = 0;
    for (int i = 0; i < nm; i++)
        total += miss[i].end - miss[i].start;
    uint64_t piece = want > 1 ? (total + (uint64_t)want - 1) / (uint64_t)want : total;
    if (piece < (1u << 20))
        piece = 1u << 20;
    j->n_segs = 0;
    for (int i = 0; i < nm; i++) {
        for (uint64_t s = miss[i].start; s < miss[i].end && j->n_segs < MAX_SEGMENTS;) {
            uint64_t e = miss[i].end - s > piece ? s + piece : miss[i].end;
            /* The last segment takes whatever is left when the table is full. */
            if (j->n_segs == MAX_SEGMENTS - 1)
                e = miss[i].end;
            j->segs[j->n_segs++] = (struct seg){.job = j, .start = s, .pos = s, .end = e};
            s = e;
        }
    }
}

static uint64_t job_done(const struct dl_job *j)
{
    uint64_t missing = 0;
    for (int i = 0; i < j->n_segs; i++)
        missing += j->segs[i].end - j->segs[i].pos;
    return j->f->size - missing;
}

/* Runs the planned segments to the end. Returns 0 when every byte is written. */
static int run_segments(struct dl_job *j, struct err *e)
{
    CURLM *m = curl_multi_init();
    int rc = 0;
    int max_attempts = (int)env_long("HEARTH_PULL_RETRIES", 5, 1, 100);
    for (int i = 0; i < j->n_segs && !rc; i++) {
        rc = seg_start(j, &j->segs[i], e);
        if (!rc)
            curl_multi_add_handle(m, j->segs[i].c.h);
    }
    int left = rc ? 0 : j->n_segs;
    while (!rc && left > 0) {
        int still = 0;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct seg *g = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&g);
            CURLcode cc = msg->data.result;
            long status = 0;
            curl_easy_getinfo(g->c.h, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, g->c.h);
            g->running = 0;
            if (cc == CURLE_OK && g->pos == g->end) {
                g->done = 1;
                left--;
                conn_free(&g->c);
                continue;
            }
            if (j->range_ignored || j->overflow || j->io_error) {
                rc = 1;
            } else if (g->c.refused || (j->s->cancel && *j->s->cancel)) {
                rc = conn_error(&g->c, cc, j->f->url, e);
            } else if (cc == CURLE_HTTP_RETURNED_ERROR && status != 429 && status < 500) {
                rc = err_set(e, status == 404 ? ERR_NOT_FOUND : ERR_UNAVAILABLE,
                             "fetching %.200s: HTTP %ld", j->f->url, status);
            } else {
                /* A dropped connection, a stall, a short body or a 5xx: go again from where the
                 * segment stopped, a bounded number of times without progress. */
                if (g->pos > g->pos_at_start)
                    g->attempts = 0;
                if (++g->attempts >= max_attempts) {
                    if (cc == CURLE_OK)
                        rc = err_set(e, ERR_UNAVAILABLE,
                                     "fetching %.200s: the body ended early, %d times", j->f->url,
                                     max_attempts);
                    else
                        rc = err_set(e, ERR_UNAVAILABLE, "fetching %.200s: %s (%d attempts)",
                                     j->f->url, curl_easy_strerror(cc), max_attempts);
                } else {
                    log_warn("msg=\"download segment failed, retrying\" url=%s at=%llu err=%s "
                             "attempt=%d",
                             log_q(j->f->url), (unsigned long long)g->pos,
                             log_q(cc == CURLE_OK ? "short body" : curl_easy_strerror(cc)),
                             g->attempts);
                    g->retry_at_us = now_us() + 250000LL * g->attempts;
                }
            }
            conn_free(&g->c);
        }
        if (rc)
            break;
        for (int i = 0; i < j->n_segs; i++) {
            struct seg *g = &j->segs[i];
            if (!g->done && !g->running && g->retry_at_us && now_us() >= g->retry_at_us) {
                rc = seg_start(j, g, e);
                if (rc)
                    break;
                curl_multi_add_handle(m, g->c.h);
            }
        }
        int64_t t = now_us();
        if (j->bytes_since_save >= (4u << 20) ||
            (j->bytes_since_save && t - j->last_save_us > 1000000))
            record_save(j);
        if (j->f->progress && t - j->last_progress_us > 100000) {
            j->f->progress(j->f->ud, job_done(j), j->f->size);
            j->last_progress_us = t;
        }
        if (j->s->cancel && *j->s->cancel) {
            rc = err_set(e, ERR_CANCELLED, "cancelled");
            break;
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < j->n_segs; i++) {
        if (j->segs[i].c.h) {
            curl_multi_remove_handle(m, j->segs[i].c.h);
            conn_free(&j->segs[i].c);
        }
        j->segs[i].running = 0;
    }
    curl_multi_cleanup(m);
    record_save(j);
    return rc;
}

/* ---- the whole file ---- */

static int fsync_dir_of(const char *path, struct err *e)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    int rc = fsync(fd) ? err_set(e, ERR_IO, "fsync %s: %s", dir, strerror(errno)) : 0;
    close(fd);
    return rc;
}

static int finish_file(struct dl_job *j, struct err *e)
{
    char hex[65];
    if (j->f->progress)
        j->f->progress(j->f->ud, j->f->size, j->f->size);
    int rc = dl_sha256_file(j->partial, hex, j->s->cancel, NULL, NULL, e);
    if (rc)
        return rc;
    if (strcmp(hex, j->f->sha256) != 0) {
        unlink(j->partial);
        unlink(j->record);
        return err_set(e, ERR_BAD_MODEL,
                       "the download of %.200s has sha256 %s, expected %s: the partial file was "
                       "deleted",
                       j->f->url, hex, j->f->sha256);
    }
    if (fsync(j->fd))
        return err_set(e, ERR_IO, "fsync %s: %s", j->partial, strerror(errno));
    if (rename(j->partial, j->f->dest))
        return err_set(e, ERR_IO, "rename %s: %s", j->partial, strerror(errno));
    unlink(j->record);
    return fsync_dir_of(j->f->dest, e);
}

int dl_download(struct dl_session *s, const struct dl_file *f, struct err *e)
{
    if (!f->size || f->size > DL_MAX_FILE || !f->sha256 || strlen(f->sha256) != 64)
        return err_set(e, ERR_BAD_REQUEST, "a download needs a size and a sha256");
    struct dl_job *j = xcalloc(1, sizeof *j);
    j->s = s;
    j->f = f;
    j->fd = j->rec_fd = -1;
    snprintf(j->partial, sizeof j->partial, "%s.partial", f->dest);
    snprintf(j->record, sizeof j->record, "%s.partial.ranges", f->dest);
    int rc = 0;
    j->rec_fd = open(j->record, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->rec_fd < 0) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", j->record, strerror(errno));
        goto out;
    }
    /* One download of a file at a time, across processes. */
    if (flock(j->rec_fd, LOCK_EX | LOCK_NB)) {
        rc = err_set(e, ERR_UNAVAILABLE, "%s is being downloaded by another pull", f->dest);
        goto out;
    }
    j->fd = open(j->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", j->partial, strerror(errno));
        goto out;
    }
    struct range have[MAX_RANGES];
    int n_have = record_load(j, have, MAX_RANGES);
    uint64_t had = 0;
    for (int i = 0; i < n_have; i++)
        had += have[i].end - have[i].start;
    if (had)
        log_info("msg=\"resuming a download\" path=%s have=%llu size=%llu", log_q(f->dest),
                 (unsigned long long)had, (unsigned long long)f->size);
    if (had < f->size) {
        long min_mb = env_long("HEARTH_PULL_SEGMENT_MIN_MB", 64, 1, 1 << 20);
        int want = f->size >= (uint64_t)min_mb << 20
                       ? (int)env_long("HEARTH_PULL_SEGMENTS", 4, 1, MAX_SEGMENTS)
                       : 1;
        plan_segments(j, have, n_have, want);
        rc = run_segments(j, e);
        if (rc == 1 && j->range_ignored) {
            log_warn("msg=\"the server ignored a Range request: downloading the whole file in "
                     "one stream from the start\" url=%s",
                     log_q(f->url));
            j->range_ignored = 0;
            if (ftruncate(j->fd, 0)) {
                rc = err_set(e, ERR_IO, "truncate %s: %s", j->partial, strerror(errno));
                goto out;
            }
            j->n_segs = 1;
            j->segs[0] = (struct seg){.job = j, .start = 0, .pos = 0, .end = f->size};
            j->no_ranges = 1;
            rc = run_segments(j, e);
        }
        if (rc == 1 && j->overflow) {
            unlink(j->partial);
            unlink(j->record);
            rc = err_set(e, ERR_BAD_MODEL,
                         "%.200s sent more than the expected %llu bytes: the partial file was "
                         "deleted",
                         f->url, (unsigned long long)f->size);
        } else if (rc == 1 && j->io_error) {
            rc = err_set(e, ERR_IO, "writing %s: %s", j->partial, strerror(j->io_error));
        } else if (rc == 1) {
            rc = err_set(e, ERR_UNAVAILABLE, "%.200s: ranges answered inconsistently", f->url);
        }
        if (rc)
            goto out;
    }
    rc = finish_file(j, e);
out:
    if (j->fd >= 0)
        close(j->fd);
    if (j->rec_fd >= 0)
        close(j->rec_fd);
    free(j);
    return rc;
}
