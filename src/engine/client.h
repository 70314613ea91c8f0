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

#include <stdbool.h>
#include <stdint.h>
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
/* The same, giving up after timeout_ms (<= 0: never): the worker is then killed and
 * ERR_UNAVAILABLE returned ("the model did not load within ..."); worker_free it as usual. */
int worker_load_timeout(struct worker_proc *w, const char *path, const struct load_params *lp,
                        int64_t timeout_ms, struct model_info *info, struct err *e);

int worker_send(struct worker_proc *w, const struct proto_msg *m, struct err *e);

/* Receives one message. When the worker has died this returns ERR_WORKER_DIED with a message
 * that says how ("model runner crashed (killed by signal 9)", "model runner crashed (exit
 * status 1)"). */
int worker_recv(struct worker_proc *w, struct proto_msg *m, struct err *e);

int worker_fd(const struct worker_proc *w);
pid_t worker_pid(const struct worker_proc *w);

/* Closes the connection (the worker exits on EOF), waits up to ten seconds (a worker saves its
 * prompt cache on the way out), then kills it. NULL-safe. */
void worker_free(struct worker_proc *w);

/* After the connection failed: says how the worker ended, waiting briefly for its exit status
 * (ERR_WORKER_DIED with "model runner crashed (killed by signal 9)" and the like). */
int worker_death(struct worker_proc *w, struct err *e);

/* ---- many requests over one worker ----
 *
 * A worker serves several requests at once (one per slot, more queued), and their events
 * arrive interleaved on one socket. A mux sorts them: one of the threads waiting for an event
 * reads for all and hands each message to the channel of its request id; senders share a lock
 * so frames never interleave. Every function is thread-safe. */
struct worker_mux;
struct mux_chan;

/* A mux over w (which stays the caller's, and must outlive the mux). */
struct worker_mux *mux_start(struct worker_proc *w);

/* Shuts the connection down (the worker sees EOF and exits) and frees the mux and any channel
 * left open; no thread may be in mux_recv. The worker_proc is still the caller's to free.
 * NULL-safe. */
void mux_free(struct worker_mux *m);

/* Registers a request id before its first message is sent. */
struct mux_chan *mux_open(struct worker_mux *m, uint64_t id);
void mux_close(struct worker_mux *m, struct mux_chan *c); /* NULL-safe */

/* Sends one message (any thread). On failure the worker is taken as dead. */
int mux_send(struct worker_mux *m, const struct proto_msg *msg, struct err *e);

/* The next event of a channel, waiting up to timeout_ms: 0 with *ev filled, 1 when the time
 * ran out, or ERR_WORKER_DIED / ERR_PROTOCOL (with how) once the connection failed and every
 * event that arrived before has been taken. */
int mux_recv(struct worker_mux *m, struct mux_chan *c, struct proto_msg *ev, int timeout_ms,
             struct err *e);

/* Whether the connection has failed, or the worker has hung up while nobody was reading (a
 * worker killed while idle is noticed before a request is sent to it). */
bool mux_dead(struct worker_mux *m);

/* After the connection failed: 1 and *e set to how ("model runner crashed (killed by signal
 * 9)"); 0 while it works. */
int mux_error(struct worker_mux *m, struct err *e);
/* Milliseconds since a message last went to or came from the worker (the stall detector). */
int64_t mux_quiet_ms(struct worker_mux *m);

#endif
