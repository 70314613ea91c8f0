#include "sched/sched.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One model the scheduler knows. Everything here is guarded by the scheduler's lock, except
 * that the thread that set `changing` loads or unloads the worker outside the lock, and nobody
 * else touches worker, mux or info until it clears the flag. */
struct runner {
    struct runner *next;
    char name[272];
    char *path;
    int waiters;     /* requests holding or waiting for this runner */
    int active;      /* requests using the worker now (at most n_parallel run, others queue) */
    int changing;    /* a load or an unload is in progress */
    int pins;        /* short looks at the worker (sched_pin) */
    int64_t expires; /* monotonic ms when it may be unloaded; -1 never */
    time_t expires_wall;
    int64_t used; /* monotonic us of the last acquire or release (least recently used) */
    void *worker; /* the engine's handle; NULL when not loaded */
    struct worker_mux *mux;
    struct model_info info;
    struct load_params lp;
    struct mem_estimate est; /* what it was estimated to need when loaded */
    int dead;
    int stalled;      /* killed by the stall detector */
    char failed[256]; /* why the last load failed; "" after a good one */
    int fail_code;
    unsigned fail_seq; /* failed loads so far: waiters of a load that failed share its error */
};

struct sched {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a runner's active, changing or worker changed */
    struct runner *runners;
    struct sched_config cfg;
    struct sched_engine engine;
    int loading; /* a model is loading: the next load waits */
    pthread_t reaper;
    pthread_cond_t wake;
    int stopping;
};

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* ---- the real engine: `hearth worker` processes ---- */

static int real_load(void *ctx, const char *path, const struct load_params *lp, int64_t timeout_ms,
                     void **handle, struct worker_mux **mux, struct model_info *info, struct err *e)
{
    (void)ctx;
    struct worker_proc *w = NULL;
    int rc = worker_spawn(NULL, &w, e);
    if (!rc)
        rc = worker_load_timeout(w, path, lp, timeout_ms, info, e);
    if (rc) {
        worker_free(w);
        return rc;
    }
    *handle = w;
    *mux = mux_start(w);
    return 0;
}

static void real_stop(void *ctx, void *handle, struct worker_mux *mux)
{
    (void)ctx;
    mux_free(mux);
    worker_free(handle);
}

static void real_kill(void *ctx, void *handle)
{
    (void)ctx;
    kill(worker_pid(handle), SIGKILL);
}

static int real_estimate(void *ctx, const char *path, const struct load_params *lp,
                         struct mem_estimate *out, struct err *e)
{
    (void)ctx;
    return estimate_model(path, lp, out, e);
}

static int real_available(void *ctx, uint64_t *bytes, struct err *e)
{
    (void)ctx;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return err_set(e, ERR_IO, "cannot read /proc/meminfo: %s", strerror(errno));
    char line[256];
    int rc = err_set(e, ERR_IO, "/proc/meminfo has no MemAvailable");
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            *bytes = (uint64_t)kb * 1024;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static const struct sched_engine real_engine = {real_load,     real_stop,      real_kill,
                                                real_estimate, real_available, NULL};

/* ---- loading and unloading ---- */

/* Takes the worker out of r (under the lock) so it can be stopped outside it: a worker takes
 * up to seconds to save its prompt cache on the way out. */
struct detached {
    void *worker;
    struct worker_mux *mux;
    struct model_info info;
};

static struct detached detach_locked(struct runner *r)
{
    struct detached d = {r->worker, r->mux, r->info};
    r->worker = NULL;
    r->mux = NULL;
    memset(&r->info, 0, sizeof r->info);
    return d;
}

static void stop_detached(struct sched *s, struct detached *d)
{
    if (d->worker)
        s->engine.stop(s->engine.ctx, d->worker, d->mux);
    free(d->info.desc);
    free(d->info.chat_template);
}

/* Unloads r when nobody uses it: the caller holds s->mu, which is released meanwhile. */
static void unload_locked(struct sched *s, struct runner *r, const char *why)
{
    if (!r->worker || r->active || r->pins || r->changing)
        return;
    log_info("msg=\"unloading model\" model=%s reason=%s", log_q(r->name), log_q(why));
    r->changing = 1;
    struct detached d = detach_locked(r);
    pthread_mutex_unlock(&s->mu);
    stop_detached(s, &d);
    pthread_mutex_lock(&s->mu);
    r->changing = 0;
    pthread_cond_broadcast(&s->changed);
}

static void *reaper_main(void *arg)
{
    struct sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        deadline_after_ms(&ts, 250);
        pthread_cond_timedwait(&s->wake, &s->mu, &ts);
        int64_t now = now_ms();
        for (struct runner *r = s->runners; r; r = r->next) {
            if (r->waiters || !r->worker || r->changing || r->expires < 0 || r->expires > now)
                continue;
            unload_locked(s, r, "keep_alive expired");
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void sched_config_init(struct sched_config *c, int64_t default_keep_alive_ms)
{
    memset(c, 0, sizeof *c);
    c->default_keep_alive_ms = default_keep_alive_ms;
    c->max_loaded = SCHED_DEFAULT_MAX_LOADED;
    c->max_queue = SCHED_DEFAULT_MAX_QUEUE;
    c->load_timeout_ms = SCHED_DEFAULT_LOAD_TIMEOUT;
    c->stall_timeout_ms = SCHED_DEFAULT_STALL_TIMEOUT;
    c->busy_wait_ms = SCHED_DEFAULT_LOAD_TIMEOUT;
}

struct sched *sched_new(const struct sched_config *cfg)
{
    struct sched *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->cfg = *cfg;
    s->engine = cfg->engine ? *cfg->engine : real_engine;
    s->cfg.engine = NULL;
    pthread_create(&s->reaper, NULL, reaper_main, s);
    return s;
}

struct sched *sched_init(int64_t default_keep_alive_ms)
{
    struct sched_config c;
    sched_config_init(&c, default_keep_alive_ms);
    return sched_new(&c);
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->reaper, NULL);
    struct runner *r = s->runners;
    while (r) {
        struct runner *next = r->next;
        struct detached d = detach_locked(r);
        stop_detached(s, &d);
        load_params_free(&r->lp);
        free(r->path);
        free(r);
        r = next;
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->changed);
    free(s);
}

static const char *cache_name(const char *t)
{
    return t && *t ? t : "f16";
}

int sched_serves(const struct load_params *loaded, const struct model_info *info,
                 const struct load_params *want, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    /* num_ctx 0 is the worker's default: min(4096, trained context). */
    uint32_t train = info->n_ctx_train;
    uint32_t def_ctx = train > 0 && train < 4096 ? train : 4096;
    uint32_t want_ctx = want->num_ctx > 0 ? (uint32_t)want->num_ctx : def_ctx;
    uint32_t have_ctx =
        info->n_ctx ? info->n_ctx : (loaded->num_ctx > 0 ? (uint32_t)loaded->num_ctx : def_ctx);
    int have_slots = loaded->num_parallel > 0 ? loaded->num_parallel : 1;
    int want_slots = want->num_parallel > 0 ? want->num_parallel : 1;
    if (want_ctx > have_ctx)
        *why = "num_ctx";
    else if (want_slots > have_slots)
        *why = "num_parallel";
    else if (strcmp(cache_name(loaded->cache_type_k), cache_name(want->cache_type_k)) != 0)
        *why = "cache_type_k";
    else if (strcmp(cache_name(loaded->cache_type_v ? loaded->cache_type_v : loaded->cache_type_k),
                    cache_name(want->cache_type_v ? want->cache_type_v : want->cache_type_k)) != 0)
        *why = "cache_type_v";
    else if (loaded->flash_attn != want->flash_attn)
        *why = "flash_attn";
    else if (loaded->rope_freq_base != want->rope_freq_base)
        *why = "rope_freq_base";
    else if (loaded->rope_freq_scale != want->rope_freq_scale)
        *why = "rope_freq_scale";
    else if (loaded->num_gpu != want->num_gpu)
        *why = "num_gpu";
    else if (loaded->use_mmap != want->use_mmap)
        *why = "use_mmap";
    else if (loaded->use_mlock != want->use_mlock)
        *why = "use_mlock";
    else
        return 1;
    return 0;
}

static void copy_load(struct load_params *dst, const struct load_params *src)
{
    load_params_free(dst);
    *dst = *src;
    dst->cache_type_k = src->cache_type_k ? xstrdup(src->cache_type_k) : NULL;
    dst->cache_type_v = src->cache_type_v ? xstrdup(src->cache_type_v) : NULL;
}

static int waiting_locked(const struct sched *s)
{
    int n = 0;
    for (const struct runner *r = s->runners; r; r = r->next) {
        n += r->waiters - r->active; /* waiting for a load */
        int slots = (int)r->info.n_parallel;
        if (slots > 0 && r->active > slots)
            n += r->active - slots; /* queued in the worker for a free slot */
    }
    return n;
}

/* Whether a comes before b in the eviction order: a crashed worker first, then the soonest
 * keep_alive expiry (keep-forever last), then the least recently used. */
static int evict_before(const struct runner *a, const struct runner *b)
{
    int da = a->dead || (a->mux && mux_dead(a->mux));
    int db = b->dead || (b->mux && mux_dead(b->mux));
    if (da != db)
        return da;
    int64_t ea = a->expires < 0 ? INT64_MAX : a->expires;
    int64_t eb = b->expires < 0 ? INT64_MAX : b->expires;
    if (ea != eb)
        return ea < eb;
    return a->used < b->used;
}

static int idle(const struct runner *r)
{
    return r->worker && !r->changing && !r->waiters && !r->active && !r->pins;
}

static struct runner *victim_locked(struct sched *s, const struct runner *self)
{
    struct runner *best = NULL;
    for (struct runner *r = s->runners; r; r = r->next)
        if (r != self && idle(r) && (!best || evict_before(r, best)))
            best = r;
    return best;
}

/* The loaded models other than self that are in use, as "a, b", into buf. */
static const char *busy_names(const struct sched *s, const struct runner *self, char *buf,
                              size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const struct runner *r = s->runners; r; r = r->next) {
        if (r == self || !r->worker || idle(r))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", r->name);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf[0] ? buf : "none";
}

/* Unloads idle models until self (whose estimate is need) fits in memory and under
 * max_loaded. The caller holds s->mu (released while workers stop) and the load turn. Returns
 * 0 when it fits, 1 when only models in use stand in the way and may_wait (the caller waits for
 * them to finish and asks again), or the error with the numbers. */
static int make_room_locked(struct sched *s, struct runner *self, const struct mem_estimate *need,
                            int may_wait, struct err *e)
{
    char a[32], b[32], c[32], d[32], f[32], g[32], busy[512], reason[384];
    for (;;) {
        int loaded = 0;
        uint64_t used = 0;
        for (const struct runner *r = s->runners; r; r = r->next)
            if (r != self && r->worker) {
                loaded++;
                used += r->est.total;
            }
        uint64_t avail = 0;
        int over_count = s->cfg.max_loaded > 0 && loaded >= s->cfg.max_loaded;
        if (!over_count) {
            if (s->cfg.max_memory) {
                avail = used < s->cfg.max_memory ? s->cfg.max_memory - used : 0;
            } else {
                pthread_mutex_unlock(&s->mu);
                int rc = s->engine.available(s->engine.ctx, &avail, e);
                pthread_mutex_lock(&s->mu);
                if (rc)
                    return rc;
            }
            if (need->total <= avail)
                return 0;
        }
        /* What unloading every idle model would free: when even that is not enough, nothing
         * is unloaded for nothing. */
        uint64_t idle_bytes = 0, busy_bytes = 0;
        for (const struct runner *r = s->runners; r; r = r->next)
            if (r != self && r->worker)
                *(idle(r) ? &idle_bytes : &busy_bytes) += r->est.total;
        struct runner *v = victim_locked(s, self);
        if (!over_count && need->total > avail + idle_bytes) {
            v = NULL;
            /* The models in use will finish: worth waiting for when their place is enough. */
            if (may_wait && need->total <= avail + idle_bytes + busy_bytes)
                return 1;
        }
        if (!v && over_count && may_wait)
            return 1;
        if (!v && over_count)
            return err_set(e, ERR_BUSY,
                           "server busy, please try again: %d models are loaded "
                           "(max-loaded-models %d) and all are in use (%s)",
                           loaded, s->cfg.max_loaded, busy_names(s, self, busy, sizeof busy));
        if (!v && s->cfg.max_memory)
            return err_set(
                e, ERR_NO_MEMORY,
                "model '%s' needs %s (weights %s, KV cache %s, compute %s) but only "
                "%s of the %s memory budget is free; the loaded models (%d) take %s; "
                "in use: %s",
                self->name, estimate_fmt(need->total, a, sizeof a),
                estimate_fmt(need->weights, b, sizeof b), estimate_fmt(need->kv, c, sizeof c),
                estimate_fmt(need->compute, d, sizeof d), estimate_fmt(avail, f, sizeof f),
                estimate_fmt(s->cfg.max_memory, g, sizeof g), loaded,
                estimate_fmt(used, busy, sizeof busy), busy_names(s, self, reason, sizeof reason));
        if (!v)
            return err_set(
                e, ERR_NO_MEMORY,
                "model '%s' needs %s (weights %s, KV cache %s, compute %s) but only "
                "%s of memory is available; in use: %s",
                self->name, estimate_fmt(need->total, a, sizeof a),
                estimate_fmt(need->weights, b, sizeof b), estimate_fmt(need->kv, c, sizeof c),
                estimate_fmt(need->compute, d, sizeof d), estimate_fmt(avail, f, sizeof f),
                busy_names(s, self, busy, sizeof busy));
        if (over_count)
            snprintf(reason, sizeof reason,
                     "evicted to load '%.200s': max-loaded-models %d reached", self->name,
                     s->cfg.max_loaded);
        else
            snprintf(reason, sizeof reason,
                     "evicted to load '%.200s': it needs %s, %s is available", self->name,
                     estimate_fmt(need->total, a, sizeof a), estimate_fmt(avail, b, sizeof b));
        unload_locked(s, v, reason);
    }
}

/* Waits for a change; with waiter_gone, wakes every 250 ms to ask whether the client is still
 * there. Returns ERR_CANCELLED (e set) when it is not. */
static int wait_locked(struct sched *s, struct err *e)
{
    if (!s->cfg.waiter_gone) {
        pthread_cond_wait(&s->changed, &s->mu);
        return 0;
    }
    struct timespec ts;
    deadline_after_ms(&ts, 250);
    pthread_cond_timedwait(&s->changed, &s->mu, &ts);
    if (s->cfg.waiter_gone()) {
        log_info("msg=\"dropping a waiting request: its client went away\"");
        return err_set(e, ERR_CANCELLED, "the client went away while waiting for the model");
    }
    return 0;
}

static struct runner *find_locked(struct sched *s, const char *name)
{
    struct runner *r = s->runners;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
    return r;
}

/* Whether r's worker serves this request as loaded. */
static int usable_locked(const struct runner *r, const char *path, const struct load_params *lp,
                         const char **why)
{
    *why = NULL;
    if (!r->worker)
        return 0;
    if (r->dead || (r->mux && mux_dead(r->mux))) {
        *why = "its worker crashed";
        return 0;
    }
    if (strcmp(r->path, path) != 0) {
        *why = "the model file changed";
        return 0;
    }
    return sched_serves(&r->lp, &r->info, lp, why);
}

int sched_acquire(struct sched *s, const char *name, const char *path, const struct load_params *lp,
                  struct runner **out, int64_t *loaded_us, struct err *e)
{
    *loaded_us = 0;
    pthread_mutex_lock(&s->mu);
    struct runner *r = find_locked(s, name);
    if (!r) {
        r = xcalloc(1, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->path = xstrdup(path);
        r->expires = -1;
        r->next = s->runners;
        s->runners = r;
    }
    const char *why;
    if (s->cfg.max_queue > 0) {
        /* A request that gets a slot at once does not queue. */
        int ready = !r->changing && usable_locked(r, path, lp, &why) &&
                    (r->info.n_parallel == 0 || r->active < (int)r->info.n_parallel);
        if (!ready && waiting_locked(s) >= s->cfg.max_queue) {
            pthread_mutex_unlock(&s->mu);
            return err_set(e, ERR_BUSY,
                           "server busy, please try again.  maximum pending requests exceeded");
        }
    }
    r->waiters++;
    r->used = now_us();
    unsigned seq = r->fail_seq;
    int rc = 0, have_est = 0, waited_busy = 0;
    struct mem_estimate est;
    memset(&est, 0, sizeof est);
    int64_t busy_until = s->cfg.busy_wait_ms > 0 ? now_ms() + s->cfg.busy_wait_ms : 0;
    for (;;) {
        if (r->changing) {
            if (wait_locked(s, e)) {
                rc = ERR_CANCELLED;
                break;
            }
            continue;
        }
        if (r->fail_seq != seq && !r->worker) {
            /* The load this request waited for failed: one load, one answer. */
            rc = err_set(e, r->fail_code, "%s", r->failed);
            break;
        }
        if (usable_locked(r, path, lp, &why)) {
            r->active++;
            break;
        }
        if (r->active || r->pins || s->loading) {
            /* Other requests still use the worker this one must replace, or another model is
             * loading: one load at a time. */
            if (wait_locked(s, e)) {
                rc = ERR_CANCELLED;
                break;
            }
            continue;
        }
        if (s->cfg.waiter_gone && s->cfg.waiter_gone()) {
            rc = err_set(e, ERR_CANCELLED, "the client went away before the model was loaded");
            break;
        }
        /* Room first: evict idle models, or wait (without the load turn, so a model in use
         * can still reload and finish) for models in use to end. */
        if (!have_est) {
            pthread_mutex_unlock(&s->mu);
            rc = s->engine.estimate(s->engine.ctx, path, lp, &est, e);
            pthread_mutex_lock(&s->mu);
            if (rc) { /* a file that cannot be read: the model shows failed, with why */
                snprintf(r->failed, sizeof r->failed, "%.255s", e ? e->msg : "unreadable");
                r->fail_code = rc;
                r->fail_seq++;
                pthread_cond_broadcast(&s->changed);
                break;
            }
            have_est = 1;
            continue; /* the world may have changed meanwhile */
        }
        s->loading = 1;
        int may_wait = busy_until > 0 && now_ms() < busy_until;
        rc = make_room_locked(s, r, &est, may_wait, e);
        if (rc == 1) {
            s->loading = 0;
            pthread_cond_broadcast(&s->changed);
            rc = 0;
            if (!waited_busy++)
                log_info("msg=\"waiting for models in use to finish\" model=%s", log_q(name));
            if (s->cfg.waiter_gone) {
                if (wait_locked(s, e)) { /* wakes every 250 ms */
                    rc = ERR_CANCELLED;
                    break;
                }
            } else {
                /* Until something changes, or the wait runs out (then make_room answers). */
                struct timespec ts;
                int64_t left = busy_until - now_ms();
                deadline_after_ms(&ts, left > 250 ? 250 : (left > 0 ? left : 1));
                pthread_cond_timedwait(&s->changed, &s->mu, &ts);
            }
            continue;
        }
        if (rc) {
            s->loading = 0;
            pthread_cond_broadcast(&s->changed);
            snprintf(r->failed, sizeof r->failed, "%.255s", e ? e->msg : "no room");
            r->fail_code = rc;
            break;
        }
        /* Load (or reload) outside the lock; others wait on `changing` and `loading`. */
        r->changing = 1;
        if (r->worker)
            log_info("msg=\"reloading model\" model=%s reason=%s", log_q(name),
                     log_q(why ? why : "options changed"));
        struct detached old = detach_locked(r);
        r->dead = 0;
        r->stalled = 0;
        free(r->path);
        r->path = xstrdup(path);
        copy_load(&r->lp, lp);
        pthread_mutex_unlock(&s->mu);

        stop_detached(s, &old);
        int64_t t0 = now_us();
        void *w = NULL;
        struct worker_mux *mux = NULL;
        struct model_info info = {0};
        if (!rc) {
            char a[32], b[32], c[32], d[32];
            log_info("msg=\"loading model\" model=%s need_bytes=%llu need=\"%s\" "
                     "weights=\"%s\" kv=\"%s\" compute=\"%s\"",
                     log_q(name), (unsigned long long)est.total,
                     estimate_fmt(est.total, a, sizeof a), estimate_fmt(est.weights, b, sizeof b),
                     estimate_fmt(est.kv, c, sizeof c), estimate_fmt(est.compute, d, sizeof d));
            rc =
                s->engine.load(s->engine.ctx, path, lp, s->cfg.load_timeout_ms, &w, &mux, &info, e);
        }
        *loaded_us = now_us() - t0;
        if (!rc)
            log_info("msg=\"model loaded\" model=%s ms=%lld n_ctx=%u slots=%u", log_q(name),
                     (long long)(*loaded_us / 1000), info.n_ctx, info.n_parallel);
        else
            log_warn("msg=\"model not loaded\" model=%s err=%s", log_q(name),
                     log_q(e ? e->msg : "load failed"));

        pthread_mutex_lock(&s->mu);
        r->changing = 0;
        s->loading = 0;
        snprintf(r->failed, sizeof r->failed, "%.255s", rc ? (e ? e->msg : "load failed") : "");
        if (rc) {
            r->fail_code = rc;
            r->fail_seq++;
        } else {
            r->worker = w;
            r->mux = mux;
            r->info = info;
            r->est = est;
        }
        pthread_cond_broadcast(&s->changed);
        if (rc)
            break;
    }
    if (rc) {
        r->waiters--;
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    r->used = now_us();
    pthread_mutex_unlock(&s->mu);
    *out = r;
    return 0;
}

void sched_release(struct sched *s, struct runner *r, int64_t keep_alive_ms)
{
    if (keep_alive_ms == SCHED_KEEP_DEFAULT)
        keep_alive_ms = s->cfg.default_keep_alive_ms;
    pthread_mutex_lock(&s->mu);
    r->active--;
    r->waiters--;
    r->used = now_us();
    if (keep_alive_ms < 0) {
        r->expires = -1;
        r->expires_wall = 0;
    } else {
        r->expires = now_ms() + keep_alive_ms;
        r->expires_wall = time(NULL) + (time_t)(keep_alive_ms / 1000);
    }
    pthread_cond_broadcast(&s->changed);
    if (r->dead)
        unload_locked(s, r, r->stalled ? "its worker stalled" : "its worker crashed");
    else if (keep_alive_ms == 0 && r->waiters == 0)
        unload_locked(s, r, "keep_alive 0");
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

int sched_pin(struct sched *s, const char *name, struct runner **out)
{
    pthread_mutex_lock(&s->mu);
    struct runner *r = find_locked(s, name);
    int rc = ERR_NOT_FOUND;
    if (r && r->worker && !r->changing && !r->dead) {
        r->pins++;
        *out = r;
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sched_unpin(struct sched *s, struct runner *r)
{
    pthread_mutex_lock(&s->mu);
    r->pins--;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
}

struct worker_mux *runner_mux(struct runner *r)
{
    return r->mux;
}

const struct model_info *runner_info(const struct runner *r)
{
    return &r->info;
}

int runner_mark_dead(struct sched *s, struct runner *r)
{
    struct err e = {0};
    int how = r->mux && mux_error(r->mux, &e);
    pthread_mutex_lock(&s->mu);
    int first = !r->dead;
    r->dead = 1;
    if (first)
        snprintf(r->failed, sizeof r->failed, "%.255s",
                 how && e.msg[0] ? e.msg : "model runner crashed");
    pthread_mutex_unlock(&s->mu);
    return first;
}

int runner_check_stall(struct sched *s, struct runner *r)
{
    pthread_mutex_lock(&s->mu);
    int killed = r->stalled;
    if (!killed && s->cfg.stall_timeout_ms > 0 && r->worker && r->mux && !r->dead &&
        mux_quiet_ms(r->mux) >= s->cfg.stall_timeout_ms) {
        r->stalled = 1;
        r->dead = 1;
        killed = 1;
        log_error("msg=\"worker stalled: killing it\" model=%s quiet_ms=%lld busy=%d",
                  log_q(r->name), (long long)mux_quiet_ms(r->mux), r->active);
        s->engine.kill(s->engine.ctx, r->worker);
    }
    pthread_mutex_unlock(&s->mu);
    return killed;
}

int sched_unload(struct sched *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct runner *r = find_locked(s, name);
    if (!r || !r->worker) {
        pthread_mutex_unlock(&s->mu);
        return ERR_NOT_FOUND;
    }
    /* Waits for running requests to end. */
    while (r->worker && (r->active || r->pins || r->changing))
        pthread_cond_wait(&s->changed, &s->mu);
    unload_locked(s, r, "unload requested");
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int sched_waiting(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    int n = waiting_locked(s);
    pthread_mutex_unlock(&s->mu);
    return n;
}

const char *sched_state_name(enum sched_state st)
{
    static const char *const names[] = {"unloaded", "loading", "loaded", "failed"};
    return (unsigned)st < ARRAY_LEN(names) ? names[st] : "unknown";
}

static enum sched_state state_locked(const struct runner *r)
{
    if (r->changing && !r->worker)
        return SCHED_LOADING;
    if (r->worker && !r->dead)
        return SCHED_LOADED;
    if (r->failed[0] || r->dead)
        return SCHED_FAILED;
    return SCHED_UNLOADED;
}

static int list(struct sched *s, struct sched_status *out, int max, int all)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (struct runner *r = s->runners; r && n < max; r = r->next) {
        enum sched_state state = state_locked(r);
        if (!all && (state != SCHED_LOADED || r->changing))
            continue;
        struct sched_status *st = &out[n++];
        memset(st, 0, sizeof *st);
        snprintf(st->name, sizeof st->name, "%s", r->name);
        snprintf(st->path, sizeof st->path, "%s", r->path);
        st->state = state;
        snprintf(st->error, sizeof st->error, "%s",
                 r->stalled     ? "the model runner stalled and was killed"
                 : r->failed[0] ? r->failed
                 : r->dead      ? "the model runner crashed"
                                : "");
        st->info = r->info;
        st->expires_at = r->expires < 0 ? 0 : r->expires_wall;
        st->busy = r->active;
        st->slots = (int)r->info.n_parallel;
        st->pid = r->worker ? (int)worker_pid(r->worker) : 0;
        if (r->worker) {
            st->est = r->est;
            st->mem_bytes = r->est.total;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

int sched_list(struct sched *s, struct sched_status *out, int max)
{
    return list(s, out, max, 0);
}

int sched_list_all(struct sched *s, struct sched_status *out, int max)
{
    return list(s, out, max, 1);
}

int sched_parse_keep_alive(const char *text, int64_t *ms)
{
    if (!text || !*text)
        return ERR_BAD_REQUEST;
    /* A bare number is seconds. */
    double secs;
    if (parse_double(text, &secs) == 0) {
        *ms = secs < 0 ? SCHED_KEEP_FOREVER : (int64_t)(secs * 1000);
        return 0;
    }
    /* Go's time.ParseDuration: [-]{number unit}+ with units ns us µs ms s m h. */
    const char *p = text;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    double total = 0;
    if (!*p)
        return ERR_BAD_REQUEST;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0)
            return ERR_BAD_REQUEST;
        p = end;
        double unit;
        if (!strncmp(p, "ns", 2))
            unit = 1e-6, p += 2;
        else if (!strncmp(p, "us", 2))
            unit = 1e-3, p += 2;
        else if (!strncmp(p, "\xc2\xb5s", 3))
            unit = 1e-3, p += 3;
        else if (!strncmp(p, "ms", 2))
            unit = 1, p += 2;
        else if (*p == 's')
            unit = 1000, p++;
        else if (*p == 'm')
            unit = 60000, p++;
        else if (*p == 'h')
            unit = 3600000, p++;
        else
            return ERR_BAD_REQUEST;
        total += v * unit;
        if (total > 1e15)
            return ERR_BAD_REQUEST;
    }
    *ms = neg ? SCHED_KEEP_FOREVER : (int64_t)total;
    return 0;
}
