/* Error codes shared by every module.
 *
 * A fallible function returns 0 or one of these negative codes; the human-readable message
 * travels beside it (in a struct err, on the request, or in a protocol error event). One
 * function maps a code to an HTTP status so every API answers the same failure the same way.
 */
#ifndef HEARTH_BASE_ERR_H
#define HEARTH_BASE_ERR_H

#include <stddef.h>

enum err_code {
    ERR_OK = 0,
    ERR_BAD_REQUEST = -1,     /* the caller sent something invalid */
    ERR_NOT_FOUND = -2,       /* a model, file or route that does not exist */
    ERR_BAD_MODEL = -3,       /* a model file that is not a valid GGUF or cannot be loaded */
    ERR_TOO_LARGE = -4,       /* an input past one of the caps */
    ERR_CONTEXT = -5,         /* the prompt does not fit the context window */
    ERR_IO = -6,              /* a system call failed */
    ERR_WORKER_DIED = -7,     /* the worker process exited or was killed */
    ERR_PROTOCOL = -8,        /* a malformed message between daemon and worker */
    ERR_CANCELLED = -9,       /* the caller cancelled */
    ERR_INTERNAL = -10,       /* a bug or an engine failure */
    ERR_UNAVAILABLE = -11,    /* busy, out of memory, shutting down */
    ERR_BUSY = -12,           /* the request queue is full: 503 with Retry-After */
    ERR_NO_MEMORY = -13,      /* a model does not fit in the memory left: 507 */
    ERR_UNAUTHORIZED = -14,   /* a missing or wrong API key: 401 */
    ERR_FORBIDDEN = -15,      /* a Host or Origin the server does not serve: 403 */
    ERR_BAD_GATEWAY = -16,    /* a remote engine failed or cannot be reached: 502 */
    ERR_RATE_LIMITED = -17,   /* a remote engine said 429: passed on as 429 */
    ERR_URI_TOO_LONG = -18,   /* a request's path and query past the cap: 414 */
    ERR_HEAD_TOO_LARGE = -19, /* a request's headers past the cap: 431 */
};

/* A code plus its message, for functions that report more than a code. */
struct err {
    int code;
    char msg[512];
};

/* Sets e->code and formats e->msg; returns code so callers can `return err_set(...)`.
 * e may be NULL, in which case only the code is returned. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A short stable name for a code ("bad_request", ...), for logs and JSON error types. */
const char *err_name(int code);

/* The HTTP status that answers a code. */
int err_http_status(int code);

/* Seconds for the Retry-After header of an error's reply; 0: none. */
int err_retry_after(int code);

#endif
