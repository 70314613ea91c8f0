/* The scheduler's decisions, driven through its engine vtable by a fake engine: fake workers
 * whose sizes, load times and failures the test sets, and a fake MemAvailable. Also the real
 * worker's load timeout (against a worker that never answers) and the GGUF estimate. */
#include "base/util.h"
#include "check.h"
#include "engine/client.h"
#include "engine/estimate.h"
#include "engine/mfile.h"
#include "sched/sched.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB (1ull << 20)

/* ---- the fake engine ---- */

static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static int loads_now, loads_max, loads_total, stops_total;
static uint64_t mem_total = 100000 * MB, mem_used;
static int load_ms = 0;

struct fake_worker {
    uint64_t size;
};

/* A path's size in MiB is its number ("300" is 300 MiB); "bad..." fails to load; "hang" never
 * finishes inside the timeout. */
static uint64_t size_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return (uint64_t)atoi(slash ? slash + 1 : path) * MB;
}

static int fake_load(void *ctx, const char *path, const struct load_params *lp, int64_t timeout_ms,
                     void **handle, struct worker_mux **mux, struct model_info *info, struct err *e)
{
    (void)ctx;
    pthread_mutex_lock(&fmu);
    loads_now++;
    loads_total++;
    if (loads_now > loads_max)
        loads_max = loads_now;
    pthread_mutex_unlock(&fmu);
    int ms = load_ms;
    int rc = 0;
    if (!strcmp(path, "hang")) {
        usleep((useconds_t)timeout_ms * 1000);
        rc = err_set(e, ERR_UNAVAILABLE, "the model did not load within %lld ms",
                     (long long)timeout_ms);
    } else {
        usleep((useconds_t)ms * 1000);
        if (!strncmp(path, "bad", 3))
            rc = err_set(e, ERR_BAD_MODEL, "fake: %s is not a model", path);
    }
    pthread_mutex_lock(&fmu);
    loads_now--;
    if (!rc) {
        struct fake_worker *w = xcalloc(1, sizeof *w);
        w->size = size_of(path);
        mem_used += w->size;
        *handle = w;
        *mux = NULL;
        memset(info, 0, sizeof *info);
        info->n_ctx = (uint32_t)(lp->num_ctx > 0 ? lp->num_ctx : 4096);
        info->n_parallel = (uint32_t)(lp->num_parallel > 0 ? lp->num_parallel : 1);
        info->n_ctx_train = 8192;
    }
    pthread_mutex_unlock(&fmu);
    return rc;
}

static void fake_stop(void *ctx, void *handle, struct worker_mux *mux)
{
    (void)ctx;
    (void)mux;
    struct fake_worker *w = handle;
    pthread_mutex_lock(&fmu);
    mem_used -= w->size;
    stops_total++;
    pthread_mutex_unlock(&fmu);
    free(w);
}

static void fake_kill(void *ctx, void *handle)
{
    (void)ctx;
    (void)handle;
}

static int fake_estimate(void *ctx, const char *path, const struct load_params *lp,
                         struct mem_estimate *out, struct err *e)
{
    (void)ctx;
    (void)lp;
    (void)e;
    memset(out, 0, sizeof *out);
    out->weights = size_of(path) * 8 / 10;
    out->kv = size_of(path) / 10;
    out->compute = size_of(path) - out->weights - out->kv;
    out->total = size_of(path);
    return 0;
}

static int fake_available(void *ctx, uint64_t *bytes, struct err *e)
{
    (void)ctx;
    (void)e;
    pthread_mutex_lock(&fmu);
    *bytes = mem_total > mem_used ? mem_total - mem_used : 0;
    pthread_mutex_unlock(&fmu);
    return 0;
}

static const struct sched_engine fake = {fake_load,     fake_stop,      fake_kill,
                                         fake_estimate, fake_available, NULL};

static void fake_reset(void)
{
    loads_now = loads_max = loads_total = stops_total = 0;
    mem_used = 0;
    mem_total = 100000 * MB;
    load_ms = 0;
}

static int64_t busy_wait_ms; /* 0: the decisions are told at once */

static struct sched *make(uint64_t budget, int max_loaded, int max_queue)
{
    fake_reset();
    struct sched_config c;
    sched_config_init(&c, 5LL * 60 * 1000);
    c.max_memory = budget;
    c.max_loaded = max_loaded;
    c.max_queue = max_queue;
    c.busy_wait_ms = busy_wait_ms;
    c.engine = &fake;
    return sched_new(&c);
}

/* Names of the loaded models, in the scheduler's order, as "a,b". */
static const char *loaded(struct sched *s)
{
    static char out[512];
    struct sched_status st[16];
    int n = sched_list(s, st, 16);
    out[0] = '\0';
    /* Sorted, so the checks do not depend on list order. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(st[j].name, st[i].name) < 0) {
                struct sched_status t = st[i];
                st[i] = st[j];
                st[j] = t;
            }
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%.40s", i ? "," : "", st[i].name);
    return out;
}

static int use(struct sched *s, const char *name, const char *path, int64_t keep_ms, struct err *e)
{
    struct load_params lp;
    load_params_init(&lp);
    struct runner *r;
    int64_t us;
    int rc = sched_acquire(s, name, path, &lp, &r, &us, e);
    if (!rc)
        sched_release(s, r, keep_ms);
    load_params_free(&lp);
    return rc;
}

/* ---- fit and eviction order ---- */

static void test_fit_and_evict(void)
{
    struct sched *s = make(250 * MB, 0, 0);
    struct err e = {0};
    CHECK(use(s, "a", "100", 60000, &e) == 0);
    usleep(2000);
    CHECK(use(s, "b", "100", 60000, &e) == 0);
    CHECK_STR(loaded(s), "a,b");
    /* c does not fit beside both: a expires first and goes. */
    CHECK(use(s, "c", "100", 60000, &e) == 0);
    CHECK_STR(loaded(s), "b,c");
    struct sched_status st[4];
    int n = sched_list(s, st, 4);
    CHECK(n == 2 && st[0].mem_bytes == 100 * MB && st[1].mem_bytes == 100 * MB);
    /* A model that fits beside the others evicts nothing. */
    CHECK(use(s, "d", "40", 60000, &e) == 0);
    CHECK_STR(loaded(s), "b,c,d");
    sched_free(s);

    /* The soonest expiry goes first even when it was used last. */
    s = make(250 * MB, 0, 0);
    CHECK(use(s, "a", "100", 600000, &e) == 0); /* 10m */
    usleep(2000);
    CHECK(use(s, "b", "100", 60000, &e) == 0); /* 1m: expires sooner */
    CHECK(use(s, "c", "100", 60000, &e) == 0);
    CHECK_STR(loaded(s), "a,c");
    sched_free(s);

    /* Equal expiries (kept forever): the least recently used goes. */
    s = make(250 * MB, 0, 0);
    CHECK(use(s, "a", "100", SCHED_KEEP_FOREVER, &e) == 0);
    usleep(2000);
    CHECK(use(s, "b", "100", SCHED_KEEP_FOREVER, &e) == 0);
    usleep(2000);
    CHECK(use(s, "a", "100", SCHED_KEEP_FOREVER, &e) == 0); /* a is now the most recent */
    CHECK(use(s, "c", "100", SCHED_KEEP_FOREVER, &e) == 0);
    CHECK_STR(loaded(s), "a,c");
    /* Forever comes after any expiry. */
    CHECK(use(s, "d", "100", 1000, &e) == 0); /* evicts a (LRU of the forevers) */
    CHECK_STR(loaded(s), "c,d");
    CHECK(use(s, "f", "100", 60000, &e) == 0); /* d expires, c never: d goes */
    CHECK_STR(loaded(s), "c,f");
    sched_free(s);

    /* Without a budget, MemAvailable decides. */
    s = make(0, 0, 0);
    mem_total = 350 * MB;
    CHECK(use(s, "a", "150", 60000, &e) == 0);
    usleep(2000);
    CHECK(use(s, "b", "150", 60000, &e) == 0);
    CHECK(use(s, "c", "150", 60000, &e) == 0);
    CHECK_STR(loaded(s), "b,c");
    sched_free(s);
}

static void test_never_evict_busy(void)
{
    struct sched *s = make(250 * MB, 0, 0);
    struct err e = {0};
    struct load_params lp;
    load_params_init(&lp);
    struct runner *ra, *rb;
    int64_t us;
    CHECK(sched_acquire(s, "a", "100", &lp, &ra, &us, &e) == 0);
    CHECK(sched_acquire(s, "b", "100", &lp, &rb, &us, &e) == 0);
    /* Both in use: c cannot fit, and nothing is unloaded. */
    memset(&e, 0, sizeof e);
    int rc = sched_acquire(s, "c", "100", &lp, &rb, &us, &e);
    CHECK(rc == ERR_NO_MEMORY);
    CHECK(err_http_status(rc) == 507);
    CHECK(strstr(e.msg, "model 'c' needs 100.0 MiB") != NULL);
    CHECK(strstr(e.msg, "weights 80.0 MiB") != NULL);
    CHECK(strstr(e.msg, "KV cache 10.0 MiB") != NULL);
    CHECK(strstr(e.msg, "only 50.0 MiB") != NULL);
    CHECK(strstr(e.msg, "in use: b, a") != NULL || strstr(e.msg, "in use: a, b") != NULL);
    CHECK_STR(loaded(s), "a,b");
    CHECK(stops_total == 0);
    struct sched_status st[4];
    int n = sched_list_all(s, st, 4), failed = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].name, "c"))
            failed = st[i].state == SCHED_FAILED && strstr(st[i].error, "needs") != NULL;
    CHECK(failed);
    /* Once b is idle, c takes its place. */
    sched_release(s, rb, 60000);
    CHECK(use(s, "c", "100", 60000, &e) == 0);
    CHECK_STR(loaded(s), "a,c");
    sched_release(s, ra, 60000);
    /* Larger than the whole budget: 507 even with everything idle, and nothing unloaded. */
    rc = use(s, "big", "300", 60000, &e);
    CHECK(rc == ERR_NO_MEMORY);
    CHECK(strstr(e.msg, "memory budget") != NULL);
    CHECK_STR(loaded(s), "a,c");
    load_params_free(&lp);
    sched_free(s);
}

static void test_max_loaded(void)
{
    struct sched *s = make(0, 2, 0);
    struct err e = {0};
    CHECK(use(s, "a", "10", 60000, &e) == 0);
    usleep(2000);
    CHECK(use(s, "b", "10", 60000, &e) == 0);
    CHECK(use(s, "c", "10", 60000, &e) == 0);
    CHECK_STR(loaded(s), "b,c");
    /* Both in use: the third waits for nothing and is told the server is busy. */
    struct load_params lp;
    load_params_init(&lp);
    struct runner *rb, *rc_;
    int64_t us;
    CHECK(sched_acquire(s, "b", "10", &lp, &rb, &us, &e) == 0);
    CHECK(sched_acquire(s, "c", "10", &lp, &rc_, &us, &e) == 0);
    int rc = sched_acquire(s, "d", "10", &lp, &rb, &us, &e);
    CHECK(rc == ERR_BUSY);
    CHECK(strstr(e.msg, "max-loaded-models 2") != NULL);
    sched_release(s, rc_, 60000);
    sched_release(s, rb, 60000);
    load_params_free(&lp);
    sched_free(s);
}

/* With a busy wait, a request that needs the place of a model in use waits for it to finish
 * instead of being told the server is busy (what a client sees when requests to two models
 * alternate with max-loaded-models 1). */
struct holder {
    struct sched *s;
    struct runner *r;
};

static void *release_later(void *arg)
{
    struct holder *h = arg;
    usleep(150 * 1000);
    sched_release(h->s, h->r, 60000);
    return NULL;
}

static void test_busy_wait(void)
{
    busy_wait_ms = 5000;
    struct sched *s = make(0, 1, 0);
    struct err e = {0};
    struct load_params lp;
    load_params_init(&lp);
    struct runner *ra, *rb;
    int64_t us;
    CHECK(sched_acquire(s, "a", "10", &lp, &ra, &us, &e) == 0);
    struct holder h = {s, ra};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &h);
    int64_t t0 = now_us();
    CHECK(sched_acquire(s, "b", "10", &lp, &rb, &us, &e) == 0); /* waits for a, then evicts it */
    CHECK(now_us() - t0 >= 100000);
    pthread_join(t, NULL);
    CHECK_STR(loaded(s), "b");
    /* Past the wait, the same answer as without one. */
    sched_free(s);
    busy_wait_ms = 100;
    s = make(0, 1, 0);
    CHECK(sched_acquire(s, "a", "10", &lp, &ra, &us, &e) == 0);
    t0 = now_us();
    int rc = sched_acquire(s, "b", "10", &lp, &rb, &us, &e);
    CHECK(rc == ERR_BUSY && now_us() - t0 >= 90000);
    sched_release(s, ra, 60000);
    sched_free(s);
    /* Memory held by a model in use: wait for it too. */
    busy_wait_ms = 5000;
    s = make(150 * MB, 0, 0);
    CHECK(sched_acquire(s, "a", "100", &lp, &ra, &us, &e) == 0);
    h.s = s;
    h.r = ra;
    pthread_create(&t, NULL, release_later, &h);
    CHECK(sched_acquire(s, "b", "100", &lp, &rb, &us, &e) == 0);
    pthread_join(t, NULL);
    CHECK_STR(loaded(s), "b");
    sched_release(s, rb, 60000);
    /* Larger than the whole budget: no wait helps, 507 at once. */
    t0 = now_us();
    CHECK(sched_acquire(s, "big", "300", &lp, &rb, &us, &e) == ERR_NO_MEMORY);
    CHECK(now_us() - t0 < 1000000);
    sched_free(s);
    load_params_free(&lp);
    busy_wait_ms = 0;
}

/* ---- one load at a time ---- */

struct job {
    struct sched *s;
    const char *name, *path;
    int rc;
    int hold_ms;
    struct err e;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    struct load_params lp;
    load_params_init(&lp);
    struct runner *r;
    int64_t us;
    j->rc = sched_acquire(j->s, j->name, j->path, &lp, &r, &us, &j->e);
    if (!j->rc) {
        usleep((useconds_t)j->hold_ms * 1000);
        sched_release(j->s, r, 60000);
    }
    load_params_free(&lp);
    return NULL;
}

static void test_one_load_at_a_time(void)
{
    struct sched *s = make(0, 0, 0);
    load_ms = 150;
    struct job jobs[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (struct job){s, i % 2 ? "a" : "b", i % 2 ? "10" : "20", 0, 0, {0}};
        pthread_create(&t[i], NULL, job_main, &jobs[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        CHECK(jobs[i].rc == 0);
    }
    CHECK(loads_max == 1);   /* two models, never loading together */
    CHECK(loads_total == 2); /* one load per model, however many asked */
    sched_free(s);

    /* A load that fails answers everyone who waited for it, once. */
    s = make(0, 0, 0);
    load_ms = 150;
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){s, "x", "bad", 0, 0, {0}};
        pthread_create(&t[i], NULL, job_main, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(jobs[i].rc == ERR_BAD_MODEL);
        CHECK(strstr(jobs[i].e.msg, "not a model") != NULL);
    }
    CHECK(loads_total >= 1 && loads_total < 4);
    sched_free(s);
}

/* ---- the queue cap ---- */

static void test_queue_cap(void)
{
    struct sched *s = make(0, 0, 3);
    load_ms = 300;
    struct job jobs[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (struct job){s, "a", "10", 0, 100, {0}};
        pthread_create(&t[i], NULL, job_main, &jobs[i]);
    }
    usleep(100000); /* all three wait for the load */
    CHECK(sched_waiting(s) == 3);
    struct err e = {0};
    int rc = use(s, "a", "10", 60000, &e);
    CHECK(rc == ERR_BUSY);
    CHECK(err_http_status(rc) == 503 && err_retry_after(rc) > 0);
    CHECK_STR(e.msg, "server busy, please try again.  maximum pending requests exceeded");
    /* Another model's request queues for the load turn too: also refused. */
    CHECK(use(s, "b", "10", 60000, &e) == ERR_BUSY);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK(jobs[i].rc == 0);
    }
    CHECK(sched_waiting(s) == 0);
    CHECK(use(s, "a", "10", 60000, &e) == 0);
    sched_free(s);
}

/* ---- dropped waiters ---- */

/* gone_set is published with release after gone_thread is written, and read with acquire
 * before it, from the waiting threads (a volatile flag was a data race under TSan). */
static pthread_t gone_thread;
static int gone_set;

static int fake_gone(void)
{
    return __atomic_load_n(&gone_set, __ATOMIC_ACQUIRE) &&
           pthread_equal(pthread_self(), gone_thread);
}

static void test_dropped_waiter(void)
{
    fake_reset();
    struct sched_config c;
    sched_config_init(&c, 60000);
    c.engine = &fake;
    c.waiter_gone = fake_gone;
    struct sched *s = sched_new(&c);
    load_ms = 400;
    __atomic_store_n(&gone_set, 0, __ATOMIC_RELEASE);
    struct job a = {s, "a", "10", 0, 0, {0}}, b = {s, "b", "20", 0, 0, {0}};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, job_main, &a);
    usleep(100000); /* a loads */
    pthread_create(&tb, NULL, job_main, &b);
    usleep(100000); /* b waits for its turn to load */
    gone_thread = tb;
    __atomic_store_n(&gone_set, 1, __ATOMIC_RELEASE); /* b's client hangs up */
    pthread_join(tb, NULL);
    pthread_join(ta, NULL);
    CHECK(a.rc == 0);
    CHECK(b.rc == ERR_CANCELLED);
    CHECK(strstr(b.e.msg, "went away") != NULL);
    CHECK(loads_total == 1); /* b was never loaded for nobody */
    CHECK(sched_waiting(s) == 0);
    __atomic_store_n(&gone_set, 0, __ATOMIC_RELEASE);
    sched_free(s);
}

/* ---- reload rules ---- */

static int acquire_with(struct sched *s, const struct load_params *lp)
{
    struct runner *r;
    int64_t us;
    struct err e = {0};
    int rc = sched_acquire(s, "m", "10", lp, &r, &us, &e);
    if (!rc)
        sched_release(s, r, 60000);
    return rc;
}

static void test_reload_rules(void)
{
    struct sched *s = make(0, 0, 0);
    struct load_params lp;
    load_params_init(&lp);
    lp.num_ctx = 8192;
    lp.num_parallel = 2;
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 1);
    /* Served as loaded: */
    lp.num_ctx = 2048; /* smaller context */
    CHECK(acquire_with(s, &lp) == 0);
    lp.num_ctx = 0; /* the default, 4096 */
    CHECK(acquire_with(s, &lp) == 0);
    lp.num_parallel = 1; /* fewer slots */
    lp.num_thread = 3;   /* threads and batches: speed, not results */
    lp.num_batch = 64;
    lp.num_ubatch = 32;
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 1);
    /* Reloaded: */
    lp.num_ctx = 16384;
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 2);
    lp.num_parallel = 4;
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 3);
    free(lp.cache_type_k);
    lp.cache_type_k = xstrdup("q8_0");
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 4);
    lp.flash_attn = FLASH_ATTN_ON;
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 5);
    CHECK(acquire_with(s, &lp) == 0);
    CHECK(loads_total == 5);
    load_params_free(&lp);
    sched_free(s);

    /* The reasons. */
    struct load_params a, b;
    load_params_init(&a);
    load_params_init(&b);
    struct model_info info = {0};
    info.n_ctx = 4096;
    info.n_ctx_train = 2048; /* the default context is 2048 */
    a.num_ctx = 4096;
    const char *why = NULL;
    CHECK(sched_serves(&a, &info, &b, &why) == 1);
    b.num_ctx = 4097;
    CHECK(sched_serves(&a, &info, &b, &why) == 0);
    CHECK_STR(why, "num_ctx");
    b.num_ctx = 0;
    b.rope_freq_base = 20000;
    CHECK(sched_serves(&a, &info, &b, &why) == 0);
    CHECK_STR(why, "rope_freq_base");
    b.rope_freq_base = 0;
    b.num_gpu = 3;
    CHECK(sched_serves(&a, &info, &b, &why) == 0);
    CHECK_STR(why, "num_gpu");
    b.num_gpu = a.num_gpu;
    b.use_mmap = !a.use_mmap;
    CHECK(sched_serves(&a, &info, &b, &why) == 0);
    CHECK_STR(why, "use_mmap");
    b.use_mmap = a.use_mmap;
    free(b.cache_type_v);
    b.cache_type_v = xstrdup("q4_0");
    CHECK(sched_serves(&a, &info, &b, &why) == 0);
    CHECK_STR(why, "cache_type_v");
    free(b.cache_type_v);
    b.cache_type_v = xstrdup("f16"); /* the default, spelled out */
    CHECK(sched_serves(&a, &info, &b, &why) == 1);
    load_params_free(&a);
    load_params_free(&b);
}

/* ---- load timeout ---- */

static void test_load_timeout(void)
{
    /* Through the scheduler: the load's error reaches the request and the model is "failed". */
    struct sched_config c;
    fake_reset();
    sched_config_init(&c, 60000);
    c.engine = &fake;
    c.load_timeout_ms = 200;
    struct sched *s = sched_new(&c);
    struct err e = {0};
    int64_t t0 = now_us();
    CHECK(use(s, "h", "hang", 60000, &e) == ERR_UNAVAILABLE);
    CHECK((now_us() - t0) / 1000 < 2000);
    struct sched_status st[2];
    CHECK(sched_list_all(s, st, 2) == 1 && st[0].state == SCHED_FAILED);
    sched_free(s);

    /* The real worker side: a "worker" that never answers LOAD is killed at the deadline. */
    char dir[] = "/tmp/hearth-sched-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char exe[256];
    snprintf(exe, sizeof exe, "%s/silent", dir);
    FILE *f = fopen(exe, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("#!/bin/sh\nexec sleep 30\n", f);
    fclose(f);
    chmod(exe, 0755);
    struct worker_proc *w = NULL;
    CHECK(worker_spawn(exe, &w, &e) == 0);
    struct load_params lp;
    load_params_init(&lp);
    struct model_info info = {0};
    t0 = now_us();
    int rc = worker_load_timeout(w, "/nonexistent.gguf", &lp, 300, &info, &e);
    int64_t ms = (now_us() - t0) / 1000;
    CHECK(rc == ERR_UNAVAILABLE);
    CHECK(ms >= 250 && ms < 3000);
    CHECK(strstr(e.msg, "did not load within 0.3 s") != NULL);
    pid_t pid = worker_pid(w);
    t0 = now_us();
    worker_free(w);
    CHECK((now_us() - t0) / 1000 < 2000); /* already killed: no ten-second wait */
    CHECK(kill(pid, 0) != 0);
    load_params_free(&lp);
    unlink(exe);
    rmdir(dir);
}

/* ---- the estimate ---- */

static void test_estimate(void)
{
    uint64_t b;
    CHECK(estimate_parse_size("6GiB", &b) == 0 && b == 6ull << 30);
    CHECK(estimate_parse_size("800MB", &b) == 0 && b == 800000000ull);
    CHECK(estimate_parse_size("512M", &b) == 0 && b == 512ull << 20);
    CHECK(estimate_parse_size("1.5g", &b) == 0 && b == 3ull << 29);
    CHECK(estimate_parse_size("1024", &b) == 0 && b == 1024);
    CHECK(estimate_parse_size("", &b) == ERR_BAD_REQUEST);
    CHECK(estimate_parse_size("-1G", &b) == ERR_BAD_REQUEST);
    CHECK(estimate_parse_size("6 parsecs", &b) == ERR_BAD_REQUEST);
    CHECK(estimate_parse_size("1e30", &b) == ERR_BAD_REQUEST);
    CHECK(estimate_cache_type_bytes("q8_0") > 1 && estimate_cache_type_bytes("q8_0") < 2);
    CHECK(estimate_cache_type_bytes(NULL) == 2);
    CHECK(estimate_cache_type_bytes("nope") == 0);

    const char *models = getenv("MODELS");
    char path[4096];
    snprintf(path, sizeof path, "%s/stories260K.gguf", models ? models : "../shared/models");
    struct mfile mf;
    struct err e = {0};
    if (mfile_open(path, &mf, &e)) {
        fprintf(stderr, "skipping the GGUF estimate: %s\n", e.msg);
        return;
    }
    int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0;
    mfile_get_int(&mf, "llama.block_count", &n_layer);
    mfile_get_int(&mf, "llama.embedding_length", &n_embd);
    mfile_get_int(&mf, "llama.attention.head_count", &n_head);
    if (mfile_get_int(&mf, "llama.attention.head_count_kv", &n_head_kv))
        n_head_kv = n_head;
    uint64_t tensors = mf.tensor_bytes;
    mfile_close(&mf);
    struct load_params lp;
    load_params_init(&lp);
    lp.num_ctx = 1024;
    lp.num_parallel = 2;
    struct mem_estimate m;
    CHECK(estimate_model(path, &lp, &m, &e) == 0);
    CHECK(m.weights == tensors);
    /* K and V: layers x KV heads x head size x cells (2048) x 2 bytes (f16). */
    uint64_t kv = (uint64_t)(n_layer * n_head_kv * (n_embd / n_head)) * 2 * 2048 * 2;
    CHECK(m.kv == kv);
    CHECK(m.total == m.weights + m.kv + m.compute && m.compute > ESTIMATE_OVERHEAD);
    free(lp.cache_type_k);
    lp.cache_type_k = xstrdup("q8_0");
    struct mem_estimate q;
    CHECK(estimate_model(path, &lp, &q, &e) == 0);
    CHECK(q.kv < kv && q.kv > kv / 2); /* K in q8_0, V still f16 */
    CHECK(estimate_model("/nonexistent.gguf", &lp, &q, &e) == ERR_NOT_FOUND);
    lp.num_ctx = 1 << 20;
    lp.num_parallel = 17;
    CHECK(estimate_model(path, &lp, &q, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "more than 16M tokens") != NULL);
    load_params_free(&lp);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_fit_and_evict();
    test_never_evict_busy();
    test_busy_wait();
    test_max_loaded();
    test_one_load_at_a_time();
    test_queue_cap();
    test_dropped_waiter();
    test_reload_rules();
    test_load_timeout();
    test_estimate();
    return check_done("test_sched");
}
