/* The HTTP server: libmicrohttpd in thread-per-connection mode, a route table, body caps, and
 * responses that are either whole or streamed.
 *
 * Every request runs its handler on its connection's own thread once the whole body has arrived
 * (at most HTTP_MAX_BODY bytes; more is answered 413 without reading it). A handler fills a
 * struct http_reply: either a whole body, or a stream whose next() is called on that thread
 * whenever the client can take more and may block until it has something to send. The stream's
 * free() runs exactly once, when the response ends or the client goes away, so it is where a
 * generation is cancelled.
 */
#ifndef HEARTH_NET_HTTP_H
#define HEARTH_NET_HTTP_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_BODY (32u << 20)

struct http_request {
    const char *method;
    const char *path; /* without the query string */
    const char *body; /* NUL-terminated; "" when there is none */
    size_t body_len;
    void *conn; /* the libmicrohttpd connection, for http_header/http_query */
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
    char allow[64]; /* the Allow header of a 405 */
};

typedef void (*http_handler)(const struct http_request *req, struct http_reply *rep);

struct http_route {
    const char *method; /* "GET", "POST", ...; GET routes answer HEAD too */
    const char *path;   /* exact, or ending in '*' for a prefix */
    http_handler handler;
};

struct http_server;

struct http_config {
    const char *host; /* an IPv4 or IPv6 address, or a name that resolves to one */
    uint16_t port;    /* 0 picks a free port */
    const struct http_route *routes;
    int n_routes;
    http_handler not_found;  /* no route matched the path */
    http_handler bad_method; /* the path matched but not the method; rep->allow is set */
    unsigned max_connections;
    unsigned idle_timeout_s; /* also bounds how long a client may take to send its headers */
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

/* Helpers for handlers. */
void http_reply_json(struct http_reply *rep, int status, const char *json);
void http_reply_text(struct http_reply *rep, int status, const char *text);

#endif
