#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_BAD_REQUEST: return "bad_request";
    case ERR_NOT_FOUND: return "not_found";
    case ERR_BAD_MODEL: return "bad_model";
    case ERR_TOO_LARGE: return "too_large";
    case ERR_CONTEXT: return "context_overflow";
    case ERR_IO: return "io_error";
    case ERR_WORKER_DIED: return "worker_died";
    case ERR_PROTOCOL: return "protocol_error";
    case ERR_CANCELLED: return "cancelled";
    case ERR_UNAVAILABLE: return "unavailable";
    case ERR_BUSY: return "busy";
    case ERR_NO_MEMORY: return "insufficient_memory";
    case ERR_UNAUTHORIZED: return "unauthorized";
    case ERR_FORBIDDEN: return "forbidden";
    case ERR_BAD_GATEWAY: return "bad_gateway";
    case ERR_RATE_LIMITED: return "rate_limited";
    case ERR_URI_TOO_LONG: return "uri_too_long";
    case ERR_HEAD_TOO_LARGE: return "headers_too_large";
    default: return "internal_error";
    }
}

int err_http_status(int code)
{
    switch (code) {
    case ERR_OK: return 200;
    case ERR_BAD_REQUEST: return 400;
    case ERR_CONTEXT: return 400;
    case ERR_NOT_FOUND: return 404;
    case ERR_TOO_LARGE: return 413;
    case ERR_BAD_MODEL: return 422;
    case ERR_CANCELLED: return 499;
    case ERR_UNAVAILABLE: return 503;
    case ERR_BUSY: return 503;
    case ERR_NO_MEMORY: return 507;
    case ERR_UNAUTHORIZED: return 401;
    case ERR_FORBIDDEN: return 403;
    case ERR_BAD_GATEWAY: return 502;
    case ERR_RATE_LIMITED: return 429;
    case ERR_URI_TOO_LONG: return 414;
    case ERR_HEAD_TOO_LARGE: return 431;
    default: return 500;
    }
}

int err_retry_after(int code)
{
    return code == ERR_BUSY ? 1 : 0;
}
