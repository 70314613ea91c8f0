/* A small HTTP client (libcurl) for the CLI's commands that talk to a running `hearth serve`. */
#ifndef HEARTH_NET_CLIENT_H
#define HEARTH_NET_CLIENT_H

#include "base/buf.h"
#include "base/err.h"

/* Called with each complete line of a streamed body (NUL-terminated, without the newline).
 * Returning non-zero aborts the transfer. */
typedef int (*httpc_line_fn)(void *ud, const char *line);

struct httpc_opts {
    const char *method;    /* "GET", "POST", "DELETE" */
    const char *body;      /* JSON text or NULL */
    httpc_line_fn on_line; /* stream line by line instead of collecting the body */
    void *ud;
    volatile int *interrupt; /* when non-NULL and set, the transfer stops (Ctrl-C) */
};

/* Performs a request to base_url + path, with HEARTH_API_KEY as a Bearer token when it is set.
 * Returns 0 with *status and (unless on_line) the body in out (capped at 64 MiB); ERR_UNAVAILABLE
 * when nothing listens there, ERR_CANCELLED when interrupted, ERR_IO otherwise. */
int httpc_request(const char *base_url, const char *path, const struct httpc_opts *o, int *status,
                  struct buf *out, struct err *e);

/* Whether url answers at all (a HEAD request, any HTTP status), within timeout_s seconds.
 * Returns 0 with the status in *status, or ERR_UNAVAILABLE with curl's reason. */
int httpc_probe(const char *url, long timeout_s, int *status, struct err *e);

/* The server's base URL from HEARTH_HOST, then OLLAMA_HOST, else http://127.0.0.1:11434. */
void httpc_default_base(char *out, size_t len);

#endif
