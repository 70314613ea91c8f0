/* The daemon's side of the workers: one worker process per loaded model, started on first use,
 * kept for its keep_alive, and stopped when that expires or on request.
 *
 * A request takes a model with sched_acquire, which blocks while the model loads, and gives it
 * back with sched_release. Requests for one model share its worker: it serves num_parallel of
 * them at once and queues the rest, and their events travel over the runner's mux. A request
 * that needs the model with other load parameters waits until the running ones end. Thread-safe;
 * every function may be called from any connection thread. #7 adds memory-aware eviction and the
 * queue cap.
 */
#ifndef HEARTH_SCHED_SCHED_H
#define HEARTH_SCHED_SCHED_H

#include "base/err.h"
#include "engine/client.h"
#include "engine/params.h"
#include "engine/proto.h"

#include <stdint.h>
#include <time.h>

/* keep_alive values: milliseconds, or one of these. */
#define SCHED_KEEP_FOREVER (-1)
#define SCHED_KEEP_DEFAULT (-2) /* the server's default (HEARTH_KEEP_ALIVE, 5m) */

struct sched;
struct runner;

struct sched *sched_init(int64_t default_keep_alive_ms);
/* Stops every worker. Callers must have released every runner. NULL-safe. */
void sched_free(struct sched *s);

/* Takes the model `name` (file `path`) for one request, loading it (or reloading it with new
 * load parameters) as needed. *loaded_us is the time this call spent loading (0 when the model
 * was already loaded). Returns 0, or the load's error (ERR_BAD_MODEL, ERR_NOT_FOUND, ...). */
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
    int pid;                /* its worker's process id; 0 when none runs */
    char error[256];        /* SCHED_FAILED: the load's error or how the worker ended */
    struct model_info info; /* strings not owned: valid until the next sched call */
    time_t expires_at;      /* 0: never */
    int busy;               /* requests using it now (running or queued in the worker) */
    int slots;              /* requests it serves at once (num_parallel) */
    uint64_t mem_bytes;     /* memory it was estimated to need (0 when not estimated) */
};
/* The loaded models (state SCHED_LOADED) into up to max entries; returns the count. */
int sched_list(struct sched *s, struct sched_status *out, int max);
/* Every model the scheduler knows, whatever its state. */
int sched_list_all(struct sched *s, struct sched_status *out, int max);

/* Parses an Ollama keep_alive: a Go duration string ("5m", "1h30m", "10s", "-1m"), or a number
 * of seconds; negative means forever. Returns 0 and *ms, or ERR_BAD_REQUEST. */
int sched_parse_keep_alive(const char *text, int64_t *ms);

#endif
