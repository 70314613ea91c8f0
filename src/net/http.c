#include "net/http.h"

#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* A connection waiting for a request's head: the watchdog cuts it off (shutdown of its socket,
 * which libmicrohttpd then sees as the client closing) when the deadline passes. libmicrohttpd's
 * own timeout only measures silence, which a client sending a byte a second never reaches. */
struct conn_watch {
    int fd;
    int in_head;      /* waiting for a request's line and headers */
    int cut;          /* shut down by the watchdog */
    int64_t deadline; /* now_us() clock */
    int64_t opened;
    struct conn_watch *prev, *next;
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_config cfg;
    uint16_t port;
    char *tls_cert, *tls_key; /* owned copies: libmicrohttpd keeps pointers to them */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    struct conn_watch *watching;
    pthread_t watchdog;
    int watchdog_running;
    int watch_stop;
};

/* Per request: the body being received, then the reply. Freed when both the request (MHD's
 * completion notice) and a streamed response (its free callback) are done with it; both run on
 * the connection's thread. */
struct req_state {
    struct http_server *srv;
    char method[16];
    char *path;
    struct buf body;
    int too_large;
    int64_t t0;
    struct http_reply rep;
    int refs;
    int stream_freed;
    const char *route;            /* the matched route's pattern (a bounded label for metrics) */
    const struct http_sink *sink; /* a streamed upload */
    void *sink_ctx;               /* set between the sink's open and close */
    struct MHD_Connection *conn;  /* for http_client_gone inside a stream's next() */
};

/* The connection whose handler this thread runs (connection threads run one at a time). */
static __thread struct MHD_Connection *current_conn;

bool http_client_gone(void)
{
    if (!current_conn)
        return false;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(current_conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void state_unref(struct req_state *st)
{
    if (--st->refs > 0)
        return;
    buf_free(&st->body);
    buf_free(&st->rep.body);
    free(st->path);
    free(st);
}

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Marks a connection as waiting for a request head until now + timeout_s, or (timeout_s 0) as
 * past its head. */
static void conn_watch_set(struct http_server *srv, struct MHD_Connection *conn, unsigned timeout_s)
{
    struct conn_watch *w = conn_watch_of(conn);
    if (!w)
        return;
    pthread_mutex_lock(&srv->watch_mu);
    w->in_head = timeout_s > 0;
    w->deadline = now_us() + (int64_t)timeout_s * 1000000;
    pthread_mutex_unlock(&srv->watch_mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        struct conn_watch *w = xcalloc(1, sizeof *w);
        w->fd = ci->connect_fd;
        w->in_head = 1;
        w->opened = now_us();
        w->deadline = w->opened + (int64_t)srv->cfg.header_timeout_s * 1000000;
        pthread_mutex_lock(&srv->watch_mu);
        w->next = srv->watching;
        if (w->next)
            w->next->prev = w;
        srv->watching = w;
        pthread_mutex_unlock(&srv->watch_mu);
        *socket_context = w;
        return;
    }
    struct conn_watch *w = *socket_context;
    if (!w)
        return;
    /* Closed: unlinked before libmicrohttpd closes the socket, so the watchdog never shuts down
     * a descriptor that was reused. */
    pthread_mutex_lock(&srv->watch_mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        srv->watching = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&srv->watch_mu);
    *socket_context = NULL;
    free(w);
}

static void *watchdog_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->watch_mu);
    while (!srv->watch_stop) {
        int64_t now = now_us();
        for (struct conn_watch *w = srv->watching; w; w = w->next) {
            if (!w->in_head || w->cut || w->deadline > now)
                continue;
            w->cut = 1;
            shutdown(w->fd, SHUT_RDWR);
            log_info("msg=\"connection closed: no whole request line and headers in time\" "
                     "open_ms=%lld",
                     (long long)((now - w->opened) / 1000));
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->watch_cv, &srv->watch_mu, &ts);
    }
    pthread_mutex_unlock(&srv->watch_mu);
    return NULL;
}

const char *http_header(const struct http_request *r, const char *name)
{
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *http_query(const struct http_request *r, const char *name)
{
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

void http_reply_header(struct http_reply *rep, const char *name, const char *value)
{
    if (rep->n_headers >= HTTP_MAX_EXTRA_HEADERS)
        return;
    snprintf(rep->headers[rep->n_headers].name, sizeof rep->headers[0].name, "%s", name);
    snprintf(rep->headers[rep->n_headers].value, sizeof rep->headers[0].value, "%s", value);
    rep->n_headers++;
}

void http_reply_json(struct http_reply *rep, int status, const char *json)
{
    rep->status = status;
    rep->content_type = "application/json; charset=utf-8";
    buf_reset(&rep->body);
    buf_puts(&rep->body, json);
}

void http_reply_text(struct http_reply *rep, int status, const char *text)
{
    rep->status = status;
    rep->content_type = "text/plain; charset=utf-8";
    buf_reset(&rep->body);
    buf_puts(&rep->body, text);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct req_state *st = cls;
    /* next() may block for a long time (a remote model thinking): let it see a client that
     * left. */
    current_conn = st->conn;
    size_t n = st->rep.stream.next(st->rep.stream.ctx, buf, max);
    current_conn = NULL;
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls)
{
    struct req_state *st = cls;
    if (!st->stream_freed) {
        st->stream_freed = 1;
        st->rep.stream.free(st->rep.stream.ctx);
    }
    state_unref(st);
}

static const struct http_route *find_route(const struct http_config *cfg, const char *method,
                                           const char *path, int *path_known, char *allow,
                                           size_t allow_len)
{
    *path_known = 0;
    allow[0] = '\0';
    for (int i = 0; i < cfg->n_routes; i++) {
        const struct http_route *r = &cfg->routes[i];
        size_t pl = strlen(r->path);
        int match = (pl && r->path[pl - 1] == '*') ? strncmp(path, r->path, pl - 1) == 0
                                                   : strcmp(path, r->path) == 0;
        if (!match)
            continue;
        *path_known = 1;
        if (strcmp(method, r->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
        size_t al = strlen(allow);
        snprintf(allow + al, allow_len - al, "%s%s", al ? ", " : "", r->method);
    }
    return NULL;
}

static int path_match(const char *pattern, const char *path)
{
    size_t pl = strlen(pattern);
    return (pl && pattern[pl - 1] == '*') ? strncmp(path, pattern, pl - 1) == 0
                                          : strcmp(path, pattern) == 0;
}

static const struct http_upload_route *find_upload(const struct http_config *cfg,
                                                   const char *method, const char *path)
{
    for (int i = 0; i < cfg->n_uploads; i++)
        if (!strcmp(cfg->uploads[i].method, method) && path_match(cfg->uploads[i].path, path))
            return &cfg->uploads[i];
    return NULL;
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct req_state *st)
{
    struct http_reply *rep = &st->rep;
    struct MHD_Response *resp;
    int head = strcmp(st->method, "HEAD") == 0;
    if (rep->stream.next && !head) {
        st->refs++; /* the stream's free callback holds one */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, (size_t)16 * 1024, stream_reader,
                                                 st, stream_free);
        if (!resp) {
            stream_free(st);
            return MHD_NO;
        }
    } else {
        if (rep->stream.free) {
            rep->stream.free(rep->stream.ctx);
            st->stream_freed = 1;
        }
        resp = MHD_create_response_from_buffer(
            rep->body.len, rep->body.data ? rep->body.data : (char *)"", MHD_RESPMEM_MUST_COPY);
    }
    if (rep->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    if (rep->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    if (rep->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rep->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (rep->stream.next)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    for (int i = 0; i < rep->n_headers; i++)
        MHD_add_response_header(resp, rep->headers[i].name, rep->headers[i].value);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    /* From here on the silence that counts is the client not taking the answer. */
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, st->srv->cfg.write_timeout_s);
    return r;
}

/* A 413, 414 or 431 (code) saying msg, in the shape the route's API uses when too_large is set. */
static void answer_limit(struct http_server *srv, struct MHD_Connection *conn, struct req_state *st,
                         int code, const char *msg)
{
    if (srv->cfg.too_large) {
        struct http_request req = {
            .method = st->method, .path = st->path, .body = "", .conn = conn};
        srv->cfg.too_large(&req, &st->rep, code, msg);
        return;
    }
    char json[192];
    snprintf(json, sizeof json, "{\"error\":\"%s\"}", msg);
    http_reply_json(&st->rep, err_http_status(code), json);
}

static void answer_too_large(struct http_server *srv, struct MHD_Connection *conn,
                             struct req_state *st)
{
    char msg[128];
    snprintf(msg, sizeof msg, "request body is larger than %zu bytes", srv->cfg.max_body);
    answer_limit(srv, conn, st, ERR_TOO_LARGE, msg);
}

struct head_size {
    size_t bytes;
    unsigned count;
};

static enum MHD_Result count_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct head_size *h = cls;
    h->bytes += strlen(key) + (value ? strlen(value) + 1 : 0) + 3; /* "k: v\r\n", "k=v&" */
    h->count++;
    return MHD_YES;
}

/* Checks the request head against HTTP_MAX_URI, HTTP_MAX_HEADER_BYTES and HTTP_MAX_HEADERS;
 * fills st->rep and returns non-zero when one is passed. */
static int head_over_limit(struct http_server *srv, struct MHD_Connection *conn,
                           struct req_state *st)
{
    struct head_size uri = {strlen(st->path), 0}, hdr = {0, 0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_value, &uri);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_value, &hdr);
    char msg[128];
    if (uri.bytes > HTTP_MAX_URI) {
        snprintf(msg, sizeof msg, "the request's path and query are longer than %d bytes",
                 HTTP_MAX_URI);
        answer_limit(srv, conn, st, ERR_URI_TOO_LONG, msg);
        return 1;
    }
    if (hdr.bytes > HTTP_MAX_HEADER_BYTES || hdr.count > HTTP_MAX_HEADERS) {
        snprintf(msg, sizeof msg, "the request's headers are over %d bytes or %d fields",
                 HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADERS);
        answer_limit(srv, conn, st, ERR_HEAD_TOO_LARGE, msg);
        return 1;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof *st);
        st->srv = srv;
        st->refs = 1; /* released by on_completed */
        st->t0 = now_us();
        snprintf(st->method, sizeof st->method, "%s", method);
        st->path = xstrdup(url);
        buf_init(&st->body, srv->cfg.max_body);
        buf_init(&st->rep.body, 0);
        *con_cls = st;
        conn_watch_set(srv, conn, 0); /* the head is in */
        if (head_over_limit(srv, conn, st)) {
            st->too_large = 2; /* answered: ignore the body */
            return respond(conn, st);
        }
        if (srv->cfg.guard) {
            struct http_request req = {
                .method = st->method, .path = st->path, .body = "", .conn = conn};
            st->rep.status = 500;
            if (srv->cfg.guard(&req, &st->rep)) {
                st->too_large = 2; /* answered: ignore the body */
                return respond(conn, st);
            }
        }
        const struct http_upload_route *up = find_upload(&srv->cfg, method, url);
        if (up) {
            struct http_request req = {
                .method = st->method, .path = st->path, .body = "", .conn = conn};
            st->route = up->path;
            st->rep.status = 500;
            st->sink = up->sink;
            st->sink_ctx = up->sink->open(&req, &st->rep);
            if (!st->sink_ctx) {
                st->too_large = 2; /* answered: ignore the body */
                return respond(conn, st);
            }
            return MHD_YES;
        }
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            /* Refuse at once rather than read a body we will not use. */
            answer_too_large(srv, conn, st);
            st->too_large = 2;
            return respond(conn, st);
        }
        return MHD_YES;
    }
    if (st->sink_ctx) {
        if (*upload_data_size) {
            if (st->sink->write(st->sink_ctx, upload_data, *upload_data_size)) {
                st->sink->close(st->sink_ctx, 0, NULL);
                st->sink_ctx = NULL;
                st->rep.status = 500;
                return MHD_NO; /* closes the connection */
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        void *ctx = st->sink_ctx;
        st->sink_ctx = NULL;
        st->sink->close(ctx, 1, &st->rep);
        return respond(conn, st);
    }
    if (*upload_data_size) {
        if (!st->too_large && buf_append(&st->body, upload_data, *upload_data_size))
            st->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large == 2)
        return MHD_YES;
    if (st->too_large) {
        answer_too_large(srv, conn, st);
        return respond(conn, st);
    }
    struct http_request req = {
        .method = st->method,
        .path = st->path,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
        .conn = conn,
    };
    int known;
    const struct http_route *r =
        find_route(&srv->cfg, method, url, &known, st->rep.allow, sizeof st->rep.allow);
    st->rep.status = 500;
    st->route = r ? r->path : NULL;
    current_conn = conn;
    st->conn = conn;
    if (r)
        r->handler(&req, &st->rep);
    else if (known)
        srv->cfg.bad_method(&req, &st->rep);
    else
        srv->cfg.not_found(&req, &st->rep);
    current_conn = NULL;
    return respond(conn, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    /* The connection may carry another request: it waits for its head, silence counting again
     * as idle. */
    conn_watch_set(srv, conn, srv->cfg.idle_timeout_s);
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, srv->cfg.idle_timeout_s);
    struct req_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    if (st->sink_ctx) { /* the client went away mid-upload */
        st->sink->close(st->sink_ctx, 0, NULL);
        st->sink_ctx = NULL;
        if (st->rep.status == 500)
            st->rep.status = 499;
    }
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true";
    if (st->rep.model[0])
        log_info("method=%s path=%s model=%s status=%d ms=%lld tokens=%u%s", st->method,
                 log_q(st->path), log_q(st->rep.model), st->rep.status,
                 (long long)((now_us() - st->t0) / 1000), st->rep.tokens, how);
    else
        log_info("method=%s path=%s status=%d ms=%lld%s", st->method, log_q(st->path),
                 st->rep.status, (long long)((now_us() - st->t0) / 1000), how);
    if (st->srv->cfg.on_complete)
        st->srv->cfg.on_complete(st->route, st->rep.status);
    state_unref(st);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("msg=%s src=libmicrohttpd", log_q(msg));
}

bool http_tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        /* ::ffff:127.x.y.z */
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

bool http_host_is_loopback(const char *host)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (!host || !*host || getaddrinfo(host, NULL, &hints, &ai) || !ai)
        return false;
    bool all = true;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        if (!addr_is_loopback(p->ai_addr))
            all = false;
    freeaddrinfo(ai);
    return all;
}

int http_start(const struct http_config *cfg, struct http_server **out, struct err *e)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai)
        return err_set(e, ERR_BAD_REQUEST, "cannot resolve host '%s': %s", cfg->host,
                       gai_strerror(gai));
    int tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (tls && !http_tls_supported()) {
        freeaddrinfo(ai);
        return err_set(e, ERR_BAD_REQUEST, "this libmicrohttpd was built without TLS support");
    }
    struct http_server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    if (!s->cfg.max_body)
        s->cfg.max_body = HTTP_DEFAULT_MAX_BODY;
    if (!s->cfg.idle_timeout_s)
        s->cfg.idle_timeout_s = 60;
    if (!s->cfg.header_timeout_s)
        s->cfg.header_timeout_s = 10;
    if (!s->cfg.write_timeout_s)
        s->cfg.write_timeout_s = 60;
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->watch_cv, &ca);
    pthread_condattr_destroy(&ca);
    /* ITC lets http_quiesce stop the listener while connection threads go on. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[16];
    int n = 0;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPT(MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr);
    OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections ? cfg->max_connections : 256u, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s);
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL);
    if (tls) {
        flags |= MHD_USE_TLS;
        s->tls_cert = xstrdup(cfg->tls_cert_pem);
        s->tls_key = xstrdup(cfg->tls_key_pem);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    s->mhd = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    int listening = s->mhd != NULL;
    if (listening && pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0)
        s->watchdog_running = 1;
    if (!s->watchdog_running) {
        if (s->mhd)
            MHD_stop_daemon(s->mhd);
        pthread_mutex_destroy(&s->watch_mu);
        pthread_cond_destroy(&s->watch_cv);
        free(s->tls_cert);
        free(s->tls_key);
        free(s);
        if (listening)
            return err_set(e, ERR_IO, "cannot start the connection watchdog thread");
        if (tls)
            return err_set(e, ERR_IO,
                           "cannot listen on %s:%u (is the address in use, or the TLS "
                           "certificate or key invalid?)",
                           cfg->host, cfg->port);
        return err_set(e, ERR_IO, "cannot listen on %s:%u (is the address in use?)", cfg->host,
                       cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return 0;
}

uint16_t http_port(const struct http_server *s)
{
    return s->port;
}

void http_quiesce(struct http_server *s)
{
    if (s && s->mhd)
        MHD_quiesce_daemon(s->mhd);
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->mhd); /* every connection closed: nothing left to watch */
    pthread_mutex_lock(&s->watch_mu);
    s->watch_stop = 1;
    pthread_cond_signal(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_join(s->watchdog, NULL);
    pthread_mutex_destroy(&s->watch_mu);
    pthread_cond_destroy(&s->watch_cv);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}
