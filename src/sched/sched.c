#include "sched/sched.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
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
    struct worker_proc *worker; /* NULL when not loaded */
    struct worker_mux *mux;
    struct model_info info;
    struct load_params lp;
    int dead;
    char failed[256]; /* why the last load failed; "" after a good one */
};

struct sched {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a runner's active, changing or worker changed */
    struct runner *runners;
    int64_t default_keep_ms;
    pthread_t reaper;
    pthread_cond_t wake;
    int stopping;
};

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* Takes the worker out of r (under the lock) so it can be stopped outside it: a worker takes
 * up to seconds to save its prompt cache on the way out. */
struct detached {
    struct worker_proc *worker;
    struct worker_mux *mux;
    struct model_info info;
};

static struct detached detach_locked(struct runner *r)
{
    struct detached d = {r->worker, r->mux, r->info};
    if (r->worker)
        log_info("msg=\"unloading model\" model=%s", log_q(r->name));
    r->worker = NULL;
    r->mux = NULL;
    memset(&r->info, 0, sizeof r->info);
    return d;
}

static void stop_detached(struct detached *d)
{
    mux_free(d->mux);
    worker_free(d->worker);
    free(d->info.desc);
    free(d->info.chat_template);
}

/* Unloads r when nobody uses it: the caller holds s->mu, which is released meanwhile. */
static void unload_locked(struct sched *s, struct runner *r)
{
    if (!r->worker || r->active || r->pins || r->changing)
        return;
    r->changing = 1;
    struct detached d = detach_locked(r);
    pthread_mutex_unlock(&s->mu);
    stop_detached(&d);
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
            unload_locked(s, r); /* idle and expired */
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct sched *sched_init(int64_t default_keep_alive_ms)
{
    struct sched *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->default_keep_ms = default_keep_alive_ms;
    pthread_create(&s->reaper, NULL, reaper_main, s);
    return s;
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
        stop_detached(&d);
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

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether a loaded worker can serve a request with these load parameters. */
static int same_load(const struct load_params *a, const struct load_params *b)
{
    return a->num_ctx == b->num_ctx && a->num_parallel == b->num_parallel &&
           a->num_batch == b->num_batch && a->num_ubatch == b->num_ubatch &&
           a->num_thread == b->num_thread && a->num_gpu == b->num_gpu &&
           a->use_mmap == b->use_mmap && a->use_mlock == b->use_mlock &&
           a->flash_attn == b->flash_attn && str_eq(a->cache_type_k, b->cache_type_k) &&
           str_eq(a->cache_type_v, b->cache_type_v) && a->rope_freq_base == b->rope_freq_base &&
           a->rope_freq_scale == b->rope_freq_scale;
}

static void copy_load(struct load_params *dst, const struct load_params *src)
{
    load_params_free(dst);
    *dst = *src;
    dst->cache_type_k = src->cache_type_k ? xstrdup(src->cache_type_k) : NULL;
    dst->cache_type_v = src->cache_type_v ? xstrdup(src->cache_type_v) : NULL;
}

int sched_acquire(struct sched *s, const char *name, const char *path, const struct load_params *lp,
                  struct runner **out, int64_t *loaded_us, struct err *e)
{
    *loaded_us = 0;
    pthread_mutex_lock(&s->mu);
    struct runner *r = s->runners;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->path = xstrdup(path);
        r->expires = -1;
        r->next = s->runners;
        s->runners = r;
    }
    r->waiters++;
    int rc = 0;
    for (;;) {
        if (r->changing) {
            pthread_cond_wait(&s->changed, &s->mu);
            continue;
        }
        int usable = r->worker && !r->dead && !mux_dead(r->mux) && strcmp(r->path, path) == 0 &&
                     same_load(&r->lp, lp);
        if (usable) {
            r->active++;
            break;
        }
        if (r->active || r->pins) {
            /* Other requests still use the worker this one must replace: let them finish. */
            pthread_cond_wait(&s->changed, &s->mu);
            continue;
        }
        /* Load (or reload) outside the lock; others wait on `changing`. */
        r->changing = 1;
        struct detached old = detach_locked(r);
        if (old.worker)
            log_info("msg=\"reloading model\" model=%s reason=%s", log_q(name),
                     r->dead ? "crashed" : "options changed");
        r->dead = 0;
        free(r->path);
        r->path = xstrdup(path);
        copy_load(&r->lp, lp);
        pthread_mutex_unlock(&s->mu);

        stop_detached(&old);
        int64_t t0 = now_us();
        struct worker_proc *w = NULL;
        struct model_info info = {0};
        rc = worker_spawn(NULL, &w, e);
        if (!rc) {
            rc = worker_load(w, path, lp, &info, e);
            if (rc) {
                worker_free(w);
                w = NULL;
            }
        }
        *loaded_us = now_us() - t0;
        if (!rc)
            log_info("msg=\"model loaded\" model=%s ms=%lld n_ctx=%u slots=%u", log_q(name),
                     (long long)(*loaded_us / 1000), info.n_ctx, info.n_parallel);

        pthread_mutex_lock(&s->mu);
        r->changing = 0;
        snprintf(r->failed, sizeof r->failed, "%.255s", rc ? (e ? e->msg : "load failed") : "");
        if (!rc) {
            r->worker = w;
            r->mux = mux_start(w);
            r->info = info;
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
    pthread_mutex_unlock(&s->mu);
    *out = r;
    return 0;
}

void sched_release(struct sched *s, struct runner *r, int64_t keep_alive_ms)
{
    if (keep_alive_ms == SCHED_KEEP_DEFAULT)
        keep_alive_ms = s->default_keep_ms;
    pthread_mutex_lock(&s->mu);
    r->active--;
    r->waiters--;
    if (keep_alive_ms < 0) {
        r->expires = -1;
        r->expires_wall = 0;
    } else {
        r->expires = now_ms() + keep_alive_ms;
        r->expires_wall = time(NULL) + (time_t)(keep_alive_ms / 1000);
    }
    pthread_cond_broadcast(&s->changed);
    if (r->dead || (keep_alive_ms == 0 && r->waiters == 0))
        unload_locked(s, r);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

int sched_pin(struct sched *s, const char *name, struct runner **out)
{
    pthread_mutex_lock(&s->mu);
    struct runner *r = s->runners;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
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

int sched_unload(struct sched *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct runner *r = s->runners;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
    if (!r || !r->worker) {
        pthread_mutex_unlock(&s->mu);
        return ERR_NOT_FOUND;
    }
    /* Waits for running requests to end. */
    while (r->worker && (r->active || r->pins || r->changing))
        pthread_cond_wait(&s->changed, &s->mu);
    unload_locked(s, r);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int sched_waiting(struct sched *s)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (struct runner *r = s->runners; r; r = r->next) {
        n += r->waiters - r->active; /* waiting for a load */
        int slots = (int)r->info.n_parallel;
        if (slots > 0 && r->active > slots)
            n += r->active - slots; /* queued in the worker for a free slot */
    }
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
        snprintf(st->error, sizeof st->error, "%s", r->failed);
        st->info = r->info;
        st->expires_at = r->expires < 0 ? 0 : r->expires_wall;
        st->busy = r->active;
        st->slots = (int)r->info.n_parallel;
        st->pid = r->worker ? (int)worker_pid(r->worker) : 0;
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
