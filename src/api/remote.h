/* Remote engines (remote.c): a native request for a model whose preset section names a remote
 * OpenAI-compatible server, sent there and answered with the events a worker would send.
 *
 * Every function runs on the thread of the request's connection; a job belongs to one request.
 */
#ifndef HEARTH_API_REMOTE_H
#define HEARTH_API_REMOTE_H

#include "api/api.h"

struct remote_job;

/* Starts req (borrowed: the job keeps what it needs) on req->remote: a chat (req->messages set)
 * goes to /chat/completions, a prompt to /completions, an EMBED to /embeddings. Returns 0 with
 * *out, ERR_BAD_MODEL when the API key's environment variable is not set, ERR_BAD_REQUEST for
 * a kind of request that is not forwarded. Nothing is sent before remote_next. */
int remote_start(const struct native_req *req, struct remote_job **out, struct err *e);

/* The next event (TOKEN..., then DONE; or one EMBEDDING), as native_next. Blocks, driving the
 * transfer. Errors: ERR_BAD_GATEWAY (unreachable after retries, a timeout, a 5xx, a malformed
 * answer), the remote's 4xx as ERR_BAD_REQUEST, ERR_UNAUTHORIZED, ERR_FORBIDDEN, ERR_NOT_FOUND,
 * ERR_TOO_LARGE or ERR_RATE_LIMITED with its message, ERR_CANCELLED when the client of this
 * thread's request went away, ERR_UNAVAILABLE when the server is shutting down. The API key
 * never appears in a message. */
int remote_next(struct remote_job *j, struct proto_msg *ev, struct err *e);

/* Ends the upstream request if it is still running and frees the job. NULL-safe. */
void remote_free(struct remote_job *j);

#endif
