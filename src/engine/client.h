/* The parent side of a worker: start `hearth worker`, load a model, exchange protocol messages,
 * and tell a clean exit from a crash.
 *
 * A struct worker_proc is owned by one thread (the CLI's main thread, or the scheduler from #7).
 * It does not link libllama; everything model-related happens in the child.
 */
#ifndef HEARTH_ENGINE_CLIENT_H
#define HEARTH_ENGINE_CLIENT_H

#include "base/err.h"
#include "engine/proto.h"

#include <sys/types.h>

struct worker_proc;

/* Starts `EXE worker --fd 3` with one end of a socketpair as fd 3. exe NULL means this very
 * binary (/proc/self/exe). Returns 0 and *out, or ERR_IO. The child's stderr is ours. */
int worker_spawn(const char *exe, struct worker_proc **out, struct err *e);

/* Sends LOAD and waits for LOADED (info filled, owned by the caller: free its strings with
 * proto_msg_free on a message or individually) or the worker's ERROR (returned with its code
 * and message). */
int worker_load(struct worker_proc *w, const char *path, const struct load_params *lp,
                struct model_info *info, struct err *e);

int worker_send(struct worker_proc *w, const struct proto_msg *m, struct err *e);

/* Receives one message. When the worker has died this returns ERR_WORKER_DIED with a message
 * that says how ("the worker was killed by signal 9 (Killed)", "... exited with status 1"). */
int worker_recv(struct worker_proc *w, struct proto_msg *m, struct err *e);

int worker_fd(const struct worker_proc *w);
pid_t worker_pid(const struct worker_proc *w);

/* Closes the connection (the worker exits on EOF), waits up to two seconds, then kills it.
 * NULL-safe. */
void worker_free(struct worker_proc *w);

#endif
