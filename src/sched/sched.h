/* The daemon's side of the workers: one worker process per loaded model, started on first use,
 * kept for its keep_alive, and stopped when that expires or on request.
 *
 * A request takes a model with sched_acquire, which blocks while the model loads, and gives it
 * back with sched_release. Requests for one model share its worker: it serves num_parallel of
 * them at once and queues the rest, and their events travel over the runner's mux. A request
 * that needs the model with load parameters its worker cannot serve (sched_serves) waits until
 * the running ones end, then reloads it. Thread-safe; every function may be called from any
 * connection thread.
 *
 * Memory: before a worker starts, the model's needs are estimated from its GGUF (estimate.h) and
 * compared with what is available: the budget (--max-memory) less the estimates of the loaded
 * models, else /proc/meminfo's MemAvailable. When it does not fit, or --max-loaded-models is
 * reached, idle models are unloaded (no request running or waiting, not pinned; a crashed one
 * first, then the soonest keep_alive expiry, keep-forever models last, then the least recently
 * used) until it does. A model in use is never unloaded. One model loads at a time across the
 * server. Requests waiting (for a load, or for a slot in a worker) are capped by max_queue.
 */
#ifndef HEARTH_SCHED_SCHED_H
#define HEARTH_SCHED_SCHED_H

#include "base/err.h"
#include "engine/client.h"
#include "engine/estimate.h"
#include "engine/params.h"
#include "engine/proto.h"

#include <stdint.h>
#include <time.h>

/* keep_alive values: milliseconds, or one of these. */
#define SCHED_KEEP_FOREVER (-1)
#define SCHED_KEEP_DEFAULT (-2) /* the server's default (HEARTH_KEEP_ALIVE, 5m) */

struct sched;
struct runner;

/* How workers are started and memory is measured. NULL in sched_config: real `hearth worker`
 * processes and /proc/meminfo; tests/unit/test_sched.c gives fakes. Every op is called without
 * the scheduler's lock, from a request's thread. */
struct sched_engine {
    /* Starts a worker and loads path, failing with a clear error (the worker killed) when that
     * takes longer than timeout_ms (<= 0: no limit). *handle is the worker; *mux the connection
     * requests use (may be NULL for a fake); *info what it reported. */
    int (*load)(void *ctx, const char *path, const struct load_params *lp, int64_t timeout_ms,
                void **handle, struct worker_mux **mux, struct model_info *info, struct err *e);
    /* Stops a loaded worker and frees handle and mux. */
    void (*stop)(void *ctx, void *handle, struct worker_mux *mux);
    /* Kills a worker that stalled (its connection then fails). */
    void (*kill)(void *ctx, void *handle);
    int (*estimate)(void *ctx, const char *path, const struct load_params *lp,
                    struct mem_estimate *out, struct err *e);
    /* Memory free for a new worker now (MemAvailable). */
    int (*available)(void *ctx, uint64_t *bytes, struct err *e);
    void *ctx;
};

#define SCHED_DEFAULT_MAX_LOADED    3
#define SCHED_DEFAULT_MAX_QUEUE     512
#define SCHED_DEFAULT_LOAD_TIMEOUT  (5LL * 60 * 1000)
#define SCHED_DEFAULT_STALL_TIMEOUT (5LL * 60 * 1000)

struct sched_config {
    int64_t default_keep_alive_ms;
    uint64_t max_memory;      /* bytes the loaded models may take in all; 0: MemAvailable */
    int max_loaded;           /* loaded models at most; 0: no cap */
    int max_queue;            /* requests waiting at most; 0: no cap */
    int64_t load_timeout_ms;  /* <= 0: none */
    int64_t stall_timeout_ms; /* <= 0: none */
    /* How long a request waits for models in use to finish when it needs their place (max
     * loaded reached, or not enough memory beside them) before it is told so; <= 0: it is
     * told at once. Default: the load timeout. */
    int64_t busy_wait_ms;
    const struct sched_engine *engine; /* NULL: real workers */
    /* Called on a waiting request's own thread (every 250 ms while it waits, and before its
     * load starts): nonzero when its client has gone, and the request is dropped with
     * ERR_CANCELLED instead of loading a model for nobody. NULL: never. */
    int (*waiter_gone)(void);
};

/* The defaults above, and real workers. */
void sched_config_init(struct sched_config *c, int64_t default_keep_alive_ms);
struct sched *sched_new(const struct sched_config *cfg);
/* sched_new with sched_config_init's defaults. */
struct sched *sched_init(int64_t default_keep_alive_ms);
/* Stops every worker. Callers must have released every runner. NULL-safe. */
void sched_free(struct sched *s);

/* Takes the model `name` (file `path`) for one request, loading it (or reloading it with new
 * load parameters) as needed. *loaded_us is the time this call spent loading (0 when the model
 * was already loaded). Returns 0, or: the load's error (ERR_BAD_MODEL, ERR_NOT_FOUND, ...);
 * ERR_BUSY when max_queue requests wait already ("server busy, please try again.  maximum
 * pending requests exceeded") or when max_loaded models are loaded and still all in use after
 * busy_wait_ms; ERR_NO_MEMORY when the model does not fit even with every other model
 * unloaded, or with every idle one unloaded once busy_wait_ms has passed (the message gives
 * the estimate split into weights, KV cache and compute, what is available, and the models in
 * use); ERR_UNAVAILABLE when the load ran past the load timeout; ERR_CANCELLED when
 * waiter_gone said its client went away while it waited. */
int sched_acquire(struct sched *s, const char *name, const char *path, const struct load_params *lp,
                  struct runner **out, int64_t *loaded_us, struct err *e);

/* Gives the model back. keep_alive_ms: how long to keep it loaded from now (0 unloads it as soon
 * as no request waits for it; SCHED_KEEP_FOREVER; SCHED_KEEP_DEFAULT). */
void sched_release(struct sched *s, struct runner *r, int64_t keep_alive_ms);

/* Takes the loaded model `name` for a moment, without loading it or touching its keep_alive
 * (for /slots): 0 and *out, or ERR_NOT_FOUND when it is not loaded. Give it back with
 * sched_unpin; it is not unloaded in between. */
int sched_pin(struct sched *s, const char *name, struct runner **out);
void sched_unpin(struct sched *s, struct runner *r);

/* The connection to an acquired (or pinned) runner's worker, and what the worker reported when it
 * loaded. */
struct worker_mux *runner_mux(struct runner *r);
const struct model_info *runner_info(const struct runner *r);

/* Marks an acquired runner's worker as dead (it crashed mid-request): the next acquire starts a
 * new one, and the model's status says how the worker ended until then. Returns 1 for the call
 * that marked it (count the crash once), 0 when it was already marked. */
int runner_mark_dead(struct sched *s, struct runner *r);

/* Called by a request waiting for its worker's next event: when the worker has sent nothing
 * (and been sent nothing) for the stall timeout, it is killed, so every request on it gets an
 * error and the next one starts a fresh worker. Returns 1 when this runner's worker was killed
 * for stalling (now or before), else 0. */
int runner_check_stall(struct sched *s, struct runner *r);

/* Whether a worker loaded with `loaded` (which reported `info`) serves a request for `want`.
 * On 0, *why names the option that forces a reload. A larger context per slot serves a smaller
 * num_ctx (0: the worker's default, min(4096, trained)), more slots serve fewer; threads and
 * batch sizes are served as loaded. A larger context, another KV cache type, flash attention,
 * RoPE settings, GPU layers, mmap or mlock need a reload. */
int sched_serves(const struct load_params *loaded, const struct model_info *info,
                 const struct load_params *want, const char **why);

/* Unloads a model now if it is loaded and idle; waits for a running request to end first.
 * Returns 0, or ERR_NOT_FOUND when it is not loaded. */
int sched_unload(struct sched *s, const char *name);

/* Requests waiting: for a model to load, or in a worker's queue for a free slot. */
int sched_waiting(struct sched *s);

/* A model's state, as llama-server's router names them in GET /models. */
enum sched_state {
    SCHED_UNLOADED, /* known (it was loaded once) but not loaded now */
    SCHED_LOADING,  /* its worker is starting or loading the weights */
    SCHED_LOADED,
    SCHED_FAILED, /* the last load failed (error holds why) or its worker crashed */
};
/* "unloaded", "loading", "loaded", "failed". */
const char *sched_state_name(enum sched_state st);

/* What /api/ps, /metrics and GET /models show. */
struct sched_status {
    char name[272];
    char path[4096];
    enum sched_state state;
    int pid;                 /* its worker's process id; 0 when none runs */
    char error[256];         /* SCHED_FAILED: the load's error or how the worker ended */
    struct model_info info;  /* strings not owned: valid until the next sched call */
    time_t expires_at;       /* 0: never */
    int busy;                /* requests using it now (running or queued in the worker) */
    int slots;               /* requests it serves at once (num_parallel) */
    uint64_t mem_bytes;      /* memory it was estimated to need (0 when not estimated) */
    struct mem_estimate est; /* the estimate's parts */
};
/* The loaded models (state SCHED_LOADED) into up to max entries; returns the count. */
int sched_list(struct sched *s, struct sched_status *out, int max);
/* Every model the scheduler knows, whatever its state. */
int sched_list_all(struct sched *s, struct sched_status *out, int max);

/* Parses an Ollama keep_alive: a Go duration string ("5m", "1h30m", "10s", "-1m"), or a number
 * of seconds; negative means forever. Returns 0 and *ms, or ERR_BAD_REQUEST. */
int sched_parse_keep_alive(const char *text, int64_t *ms);

#endif
