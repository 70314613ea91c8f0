/* The HTTP server: libmicrohttpd in thread-per-connection mode, a route table, body caps, and
 * responses that are either whole or streamed.
 *
 * Every request runs its handler on its connection's own thread once the whole body has arrived
 * (at most http_config.max_body bytes; more is answered 413 without reading it), except on the
 * streamed-upload routes (struct http_sink below), whose bodies go to a sink as they arrive. A
 * handler fills a struct http_reply: either a whole body, or a stream whose next() is called on
 * that thread whenever the client can take more and may block until it has something to send. The
 * stream's free() runs exactly once, when the response ends or the client goes away, so it is where
 * a generation is cancelled.
 */
#ifndef HEARTH_NET_HTTP_H
#define HEARTH_NET_HTTP_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default cap on a buffered request body (struct http_config's max_body). */
#define HTTP_DEFAULT_MAX_BODY (16u << 20)
/* Extra response headers a reply may carry (CORS). */
#define HTTP_MAX_EXTRA_HEADERS 12
/* A request's path and query (decoded) longer than this is a 414, its headers (names, values
 * and separators) past HTTP_MAX_HEADER_BYTES or HTTP_MAX_HEADERS of them a 431: answered by the
 * server in the route's API shape. libmicrohttpd's per-connection buffer (HTTP_CONN_MEMORY) is
 * larger so that it sees them; a request head past that buffer gets libmicrohttpd's own 414 or
 * 431 (an HTML body). */
#define HTTP_MAX_URI          8192
#define HTTP_MAX_HEADER_BYTES 32768
#define HTTP_MAX_HEADERS      256
#define HTTP_CONN_MEMORY      (128u << 10)

struct http_request {
    const char *method;
    const char *path; /* without the query string */
    const char *body; /* NUL-terminated; "" when there is none */
    size_t body_len;
    void *conn; /* the libmicrohttpd connection, for http_header/http_query; NULL: none (a
                 * request made up without a network, as the fuzz targets do) */
};

/* A request header or query argument, or NULL. Valid while the request is. */
const char *http_header(const struct http_request *r, const char *name);
const char *http_query(const struct http_request *r, const char *name);

struct http_stream {
    /* Writes up to max bytes into buf; returns the count (> 0), 0 at the end of the stream.
     * May block. Called on the connection's thread. */
    size_t (*next)(void *ctx, char *buf, size_t max);
    void (*free)(void *ctx);
    void *ctx;
};

struct http_reply {
    int status;
    const char *content_type;  /* static string */
    struct buf body;           /* whole replies */
    struct http_stream stream; /* streamed replies when stream.next is set */
    /* For the request log line. */
    char model[272];
    uint32_t tokens;
    char allow[64];  /* the Allow header of a 405 */
    int retry_after; /* seconds for a Retry-After header (a 503 of a full queue); 0: none */
    /* More headers (http_reply_header: CORS, the web UI's ETag, CSP...); copied. */
    struct {
        char name[48];
        char value[512];
    } headers[HTTP_MAX_EXTRA_HEADERS];
    int n_headers;
};

typedef void (*http_handler)(const struct http_request *req, struct http_reply *rep);

struct http_route {
    const char *method; /* "GET", "POST", ...; GET routes answer HEAD too */
    const char *path;   /* exact, or ending in '*' for a prefix */
    http_handler handler;
};

/* A streamed upload (Ollama's POST /api/blobs/:digest, bodies of many GB): instead of buffering
 * the body, the server hands it to a sink chunk by chunk as it arrives. max_body does not
 * apply; the sink sets its own cap (in open, from Content-Length, and in write). All three
 * callbacks run on the connection's thread. */
struct http_sink {
    /* Called once the headers are in, before any of the body. Returns the sink's state, or
     * NULL after filling rep: the request is answered at once and the body is not read. */
    void *(*open)(const struct http_request *req, struct http_reply *rep);
    /* Takes the next n bytes. Returns 0, or an error: the connection is closed (libmicrohttpd
     * cannot answer before the body ends) and close(ctx, 0, NULL) follows. */
    int (*write)(void *ctx, const char *data, size_t n);
    /* complete: the whole body arrived; fill rep. !complete: the client went away or write
     * failed; rep is NULL and the sink only cleans up. Frees ctx; runs exactly once. */
    void (*close)(void *ctx, int complete, struct http_reply *rep);
};

struct http_upload_route {
    const char *method;
    const char *path; /* exact, or ending in '*' for a prefix */
    const struct http_sink *sink;
};

struct http_server;

struct http_config {
    const char *host; /* an IPv4 or IPv6 address, or a name that resolves to one */
    uint16_t port;    /* 0 picks a free port */
    const struct http_route *routes;
    int n_routes;
    /* Streamed-upload routes, matched before routes; may be NULL. */
    const struct http_upload_route *uploads;
    int n_uploads;
    http_handler not_found;  /* no route matched the path */
    http_handler bad_method; /* the path matched but not the method; rep->allow is set */
    unsigned max_connections;
    /* Timeouts, in seconds (0: the defaults 60, 10, 60). idle: a connection that sends nothing
     * this long while it sends a body or between requests is closed, and a request on a
     * kept-alive connection must have its line and headers in within this long of the previous
     * answer. header: a new connection must have sent its first request's line and headers
     * within this long of opening (a client trickling bytes included). write: a client that
     * takes no bytes of an answer this long is cut off (the answer's stream is freed). */
    unsigned idle_timeout_s;
    unsigned header_timeout_s;
    unsigned write_timeout_s;
    size_t max_body; /* cap on a buffered body; 0: HTTP_DEFAULT_MAX_BODY */
    /* Runs once a request's headers are in, before any route (and before the body is read):
     * returns 0 to go on (it may add headers to rep, which the final reply keeps), or non-zero
     * after filling rep, which then answers the request at once. May be NULL. */
    int (*guard)(const struct http_request *req, struct http_reply *rep);
    /* HTTPS: PEM text of the certificate (chain) and its private key; both NULL for plain
     * HTTP. Copied by http_start. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    /* Fills rep with the error code's reply saying msg when a body is over max_body
     * (ERR_TOO_LARGE: 413) or a request head over a limit (ERR_URI_TOO_LONG: 414,
     * ERR_HEAD_TOO_LARGE: 431), so each API answers in its own shape; NULL: {"error": msg}. */
    void (*too_large)(const struct http_request *req, struct http_reply *rep, int code,
                      const char *msg);
    /* Called when a request ends, with the matched route's pattern (NULL when none matched)
     * and the status; may be NULL. Any thread. */
    void (*on_complete)(const char *route, int status);
};

/* Starts listening. Returns 0 with *out, or an error with e set (address in use...). */
int http_start(const struct http_config *cfg, struct http_server **out, struct err *e);
uint16_t http_port(const struct http_server *s);

/* Stops accepting new connections (in-flight ones go on). */
void http_quiesce(struct http_server *s);
/* Closes everything and frees the server; waits for connection threads. NULL-safe. */
void http_stop(struct http_server *s);

/* Whether the client of the request whose handler (or stream next()) runs on this thread has
 * closed its connection (or it failed); false on any other thread. A poll of the socket: cheap. */
bool http_client_gone(void);

/* Whether host (an address or a name) resolves only to loopback addresses (127.0.0.0/8, ::1).
 * A name that does not resolve is not loopback. */
bool http_host_is_loopback(const char *host);

/* Whether this libmicrohttpd can serve HTTPS. */
bool http_tls_supported(void);

/* Adds a response header (ignored past HTTP_MAX_EXTRA_HEADERS). */
void http_reply_header(struct http_reply *rep, const char *name, const char *value);

/* Helpers for handlers. */
void http_reply_json(struct http_reply *rep, int status, const char *json);
void http_reply_text(struct http_reply *rep, int status, const char *text);

#endif
