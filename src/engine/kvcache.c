/* The prompt cache beyond the slots: when a long computed prompt would be thrown away (a
 * different prompt takes its slot, or the model is unloaded), its keys and values are kept, and
 * a later request that starts with the same tokens, in any slot, even in a new worker after a
 * reload, restores them instead of computing them again.
 *
 * Two tiers. Host RAM first: up to HEARTH_PROMPT_CACHE_RAM_MB (default 512) of saved states in
 * the worker, least recently used out first (to the disk); a saved prompt that extends an older
 * one replaces it. Then the disk, where everything in RAM goes when the worker exits (a thread
 * of the worker writes the files, so that no step waits for the disk):
 *
 * One file per saved prompt in the directory HEARTH_PROMPT_CACHE_DIR (unset: off), named
 * MODEL-PREFIX.kv by hashes of the model file's identity and of the tokens:
 *   "HEARTHKV" u32 version u32 n_tokens u64 state_bytes u8[32] sha256(tokens, state)
 *   char[64] model_id, i32 tokens[n_tokens], state
 * A file that is short, from another model, or whose checksum fails is skipped (and removed);
 * a directory that cannot be written only costs the recomputation. The directory is kept under
 * HEARTH_PROMPT_CACHE_MAX_MB (default 1024) by removing the least recently used files. */
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "engine/worker_int.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#define KV_MAGIC      "HEARTHKV"
#define KV_VERSION    1u
#define KV_MIN_TOKENS 32 /* shorter prompts are cheaper to compute than to store */

/* One saved prompt in RAM. */
struct kv_entry {
    struct kv_entry *next;
    llama_token *tokens;
    uint32_t n_tokens;
    uint8_t *state;
    size_t state_bytes;
    int64_t used; /* monotonic us */
};

/* A size in MiB from the environment; a value that is not a number from 0 to 1 TiB is named in
 * a warning (once) and the default used. */
static uint64_t env_mb(const char *name, uint64_t def, int *warned)
{
    const char *m = getenv(name);
    int64_t v;
    if (!m || !*m)
        return def << 20;
    if (parse_i64(m, &v) || v < 0 || v > (1 << 20)) {
        if (!*warned)
            log_warn("msg=\"not a size in MiB; the default is used\" var=%s value=%s default=%llu",
                     name, log_q(m), (unsigned long long)def);
        *warned = 1;
        return def << 20;
    }
    return (uint64_t)v << 20;
}

static size_t ram_budget(void)
{
    static int warned;
    return (size_t)env_mb("HEARTH_PROMPT_CACHE_RAM_MB", 512, &warned);
}

struct kv_header {
    char magic[8];
    uint32_t version;
    uint32_t n_tokens;
    uint64_t state_bytes;
    unsigned char sum[32];
    char model_id[64];
};

static const char *cache_dir(void)
{
    const char *d = getenv("HEARTH_PROMPT_CACHE_DIR");
    return d && *d && strcmp(d, "off") != 0 ? d : NULL;
}

void kvcache_set_model(struct worker *w, const char *path)
{
    struct stat st;
    char id[4200];
    int n = snprintf(id, sizeof id, "%s\n%lld\n%lld", path,
                     stat(path, &st) == 0 ? (long long)st.st_size : 0LL,
                     stat(path, &st) == 0 ? (long long)st.st_mtime : 0LL);
    char hex[65];
    sha256_hex(id, (size_t)n, hex);
    memcpy(w->model_id, hex, 64);
}

static void checksum(const llama_token *toks, uint32_t n, const uint8_t *state, size_t size,
                     unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, toks, (size_t)n * sizeof *toks);
    EVP_DigestUpdate(c, state, size);
    unsigned int len = 32;
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
}

static void trim(const char *dir)
{
    static int warned;
    uint64_t max = env_mb("HEARTH_PROMPT_CACHE_MAX_MB", 1024, &warned);
    for (;;) {
        DIR *d = opendir(dir);
        if (!d)
            return;
        uint64_t total = 0;
        time_t oldest = 0;
        char victim[4096] = "";
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 4 || strcmp(de->d_name + l - 3, ".kv") != 0)
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            struct stat st;
            if (stat(p, &st) != 0)
                continue;
            total += (uint64_t)st.st_size;
            if (!victim[0] || st.st_mtime < oldest) {
                oldest = st.st_mtime;
                snprintf(victim, sizeof victim, "%s", p);
            }
        }
        closedir(d);
        if (total <= max || !victim[0])
            return;
        unlink(victim);
    }
}

/* Writes one saved prompt to the directory. */
static void write_file(const char *model_id, const char *dir, const llama_token *toks, uint32_t n,
                       const uint8_t *state, size_t size)
{
    struct kv_header h = {0};
    memcpy(h.magic, KV_MAGIC, 8);
    h.version = KV_VERSION;
    h.n_tokens = n;
    h.state_bytes = size;
    memcpy(h.model_id, model_id, 64);
    checksum(toks, n, state, size, h.sum);
    char hex[65], path[4096], tmp[4200];
    sha256_hex(toks, (size_t)n * sizeof *toks, hex);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%.16s-%.16s.kv", dir, model_id, hex);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    errno = 0;
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(&h, sizeof h, 1, f) == 1 && fwrite(toks, sizeof *toks, n, f) == n &&
             fwrite(state, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) == 0) {
        log_info("msg=\"prompt cache saved\" tokens=%u bytes=%zu", n, size);
        trim(dir);
    } else {
        unlink(tmp);
        log_warn("msg=\"prompt cache not saved\" dir=%s err=%s", log_q(dir),
                 log_q(strerror(errno ? errno : EIO)));
    }
}

static void entry_free(struct kv_entry *e)
{
    free(e->tokens);
    free(e->state);
    free(e);
}

/* ---- the writer ----
 * Files are written by a thread of their own, so that no decode step waits for the disk (a
 * long conversation's state is tens of megabytes, checksummed and written). It only touches the
 * entries handed to it and the directory. */

/* What may wait for the writer while the model is loaded: the RAM budget, 16 MiB at least (one
 * entry always). The writer has only idle CPU time, so under steady load it falls behind; past
 * this the newest entries are dropped instead of growing the worker without bound. Unloading
 * queues everything: decoding has stopped and the writer gets the CPU. */
#define KV_MIN_QUEUED ((size_t)16 << 20)

struct kv_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct kv_entry *queue, **tail;
    size_t queued_bytes;
    int stop;
    char model_id[64];
    char dir[4096];
};

static void *writer_main(void *arg)
{
    struct kv_writer *wr = arg;
    /* Only idle CPU time: checksumming and writing a long conversation's state takes a good
     * part of a second, which would be taken from the decode threads on a small machine. At
     * exit the decoding has stopped, so the queue is written then at the latest. */
    struct sched_param sp = {0};
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
        log_debug("msg=\"prompt cache writer keeps its priority\" err=%s", log_q(strerror(errno)));
    pthread_mutex_lock(&wr->mu);
    for (;;) {
        while (!wr->queue && !wr->stop)
            pthread_cond_wait(&wr->cond, &wr->mu);
        struct kv_entry *e = wr->queue;
        if (!e)
            break; /* stopping, and everything is written */
        wr->queue = e->next;
        if (!wr->queue)
            wr->tail = &wr->queue;
        pthread_mutex_unlock(&wr->mu);
        write_file(wr->model_id, wr->dir, e->tokens, e->n_tokens, e->state, e->state_bytes);
        pthread_mutex_lock(&wr->mu);
        wr->queued_bytes -= e->state_bytes;
        entry_free(e);
    }
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

/* Hands an entry to the writer (started on first use); it owns the entry from now on. */
static void write_later(struct worker *w, const char *dir, struct kv_entry *e, bool unloading)
{
    struct kv_writer *wr = w->kv_writer;
    if (!wr) {
        wr = xcalloc(1, sizeof *wr);
        pthread_mutex_init(&wr->mu, NULL);
        pthread_cond_init(&wr->cond, NULL);
        wr->tail = &wr->queue;
        memcpy(wr->model_id, w->model_id, 64);
        snprintf(wr->dir, sizeof wr->dir, "%s", dir);
        if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0) {
            free(wr);
            write_file(w->model_id, dir, e->tokens, e->n_tokens, e->state, e->state_bytes);
            entry_free(e);
            return;
        }
        w->kv_writer = wr;
    }
    pthread_mutex_lock(&wr->mu);
    size_t cap = ram_budget() > KV_MIN_QUEUED ? ram_budget() : KV_MIN_QUEUED;
    if (!unloading && wr->queue && wr->queued_bytes + e->state_bytes > cap) {
        pthread_mutex_unlock(&wr->mu);
        if (!w->kv_dropped++)
            log_warn("msg=\"prompt cache: the writer is behind; saved prompts are dropped (the "
                     "next ones at debug level)\" tokens=%u queued_bytes=%zu",
                     e->n_tokens, wr->queued_bytes);
        else
            log_debug("msg=\"prompt cache: the writer is behind; a saved prompt is dropped\" "
                      "tokens=%u dropped=%llu",
                      e->n_tokens, (unsigned long long)w->kv_dropped);
        entry_free(e);
        return;
    }
    e->next = NULL;
    *wr->tail = e;
    wr->tail = &e->next;
    wr->queued_bytes += e->state_bytes;
    pthread_cond_signal(&wr->cond);
    pthread_mutex_unlock(&wr->mu);
}

/* Moves the least recently used RAM entries to the disk until RAM holds at most `keep` bytes. */
static void evict(struct worker *w, size_t keep, bool unloading)
{
    const char *dir = cache_dir();
    while (w->kv_ram && w->kv_ram_bytes > keep) {
        struct kv_entry **victim = &w->kv_ram;
        for (struct kv_entry **pp = &w->kv_ram; *pp; pp = &(*pp)->next)
            if ((*pp)->used < (*victim)->used)
                victim = pp;
        struct kv_entry *e = *victim;
        *victim = e->next;
        w->kv_ram_bytes -= e->state_bytes;
        if (dir)
            write_later(w, dir, e, unloading);
        else
            entry_free(e);
    }
}

static struct kv_entry *entry_new(const llama_token *toks, uint32_t n, uint8_t *state, size_t size)
{
    struct kv_entry *e = xcalloc(1, sizeof *e);
    e->tokens = xcalloc(n ? n : 1, sizeof *e->tokens);
    memcpy(e->tokens, toks, n * sizeof *e->tokens);
    e->n_tokens = n;
    e->state = state;
    e->state_bytes = size;
    e->used = now_us();
    return e;
}

#define KV_SAVE_CHEAP_US 2000.0

void kvcache_save(struct worker *w, struct slot *s, bool unloading)
{
    const char *dir = cache_dir();
    size_t budget = ram_budget();
    if ((!dir && !budget) || s->n_past < KV_MIN_TOKENS)
        return;
    /* A save that costs under a couple of milliseconds is always worth it; a dearer one only
     * where computing the prompt again would cost more than saving and restoring it. */
    if (!unloading && w->save_us_per_token * (double)s->n_past > KV_SAVE_CHEAP_US &&
        w->prompt_us_per_token < 2 * w->save_us_per_token) {
        log_debug("msg=\"prompt not kept: computing it again is cheaper\" tokens=%zu "
                  "prompt_us_per_token=%.1f save_us_per_token=%.1f",
                  s->n_past, w->prompt_us_per_token, w->save_us_per_token);
        return;
    }
    int64_t t0 = now_us();
    size_t size = llama_state_seq_get_size(w->ctx, s->seq);
    if (!size)
        return;
    uint8_t *state = malloc(size);
    if (!state)
        return;
    size = llama_state_seq_get_data(w->ctx, state, size, s->seq);
    uint32_t n = (uint32_t)s->n_past;
    double per = (double)(now_us() - t0) / n;
    w->save_us_per_token = w->save_us_per_token > 0 ? 0.7 * w->save_us_per_token + 0.3 * per : per;
    if (size > budget) { /* too big for RAM: straight to the disk */
        if (dir)
            write_later(w, dir, entry_new(s->toks.v, n, state, size), unloading);
        else
            free(state);
        return;
    }
    /* An entry this one extends (an earlier turn of the same chat) is no longer needed. */
    for (struct kv_entry **pp = &w->kv_ram; *pp;) {
        struct kv_entry *e = *pp;
        if (e->n_tokens <= n && !memcmp(e->tokens, s->toks.v, e->n_tokens * sizeof *e->tokens)) {
            *pp = e->next;
            w->kv_ram_bytes -= e->state_bytes;
            entry_free(e);
        } else {
            pp = &e->next;
        }
    }
    evict(w, budget - size, unloading);
    struct kv_entry *e = entry_new(s->toks.v, n, state, size);
    e->next = w->kv_ram;
    w->kv_ram = e;
    w->kv_ram_bytes += size;
    log_info("msg=\"prompt cache kept in RAM\" tokens=%u bytes=%zu ram_bytes=%zu", n, size,
             w->kv_ram_bytes);
}

void kvcache_flush(struct worker *w)
{
    evict(w, 0, true);
    struct kv_writer *wr = w->kv_writer;
    if (!wr)
        return;
    pthread_mutex_lock(&wr->mu);
    wr->stop = 1;
    pthread_cond_signal(&wr->cond);
    pthread_mutex_unlock(&wr->mu);
    pthread_join(wr->thread, NULL); /* it writes what is queued first */
    pthread_mutex_destroy(&wr->mu);
    pthread_cond_destroy(&wr->cond);
    free(wr);
    w->kv_writer = NULL;
}

/* Loads a saved state into the slot's sequence and keeps its first n tokens. */
static bool load_state(struct worker *w, struct slot *s, const uint8_t *state, size_t size,
                       size_t n)
{
    llama_memory_t mem = llama_get_memory(w->ctx);
    llama_memory_seq_rm(mem, s->seq, -1, -1);
    if (llama_state_seq_set_data(w->ctx, state, size, s->seq) > 0 &&
        llama_memory_seq_rm(mem, s->seq, (llama_pos)n, -1))
        return true;
    llama_memory_seq_rm(mem, s->seq, -1, -1);
    return false;
}

static void slot_holds(struct slot *s, const struct tokvec *prompt, size_t n)
{
    s->toks.n = 0;
    for (size_t i = 0; i < n; i++)
        tokvec_push(&s->toks, prompt->v[i]);
    s->n_past = n;
}

/* Reads the header and tokens of one file; returns how many leading tokens it shares with the
 * prompt, at most all but the last (0 when it is not this model's or shares nothing). The saved
 * state may go on past the prompt (the answer it was saved with): only the shared part is kept. */
static size_t match(const char *path, const struct worker *w, const struct tokvec *prompt)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    struct kv_header h;
    size_t n = 0;
    if (fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, KV_MAGIC, 8) &&
        h.version == KV_VERSION && !memcmp(h.model_id, w->model_id, 64) && h.n_tokens <= w->n_ctx) {
        llama_token *t = malloc((size_t)h.n_tokens * sizeof *t);
        if (t && fread(t, sizeof *t, h.n_tokens, f) == h.n_tokens)
            while (n < h.n_tokens && n + 1 < prompt->n && t[n] == prompt->v[n])
                n++;
        free(t);
    }
    fclose(f);
    return n;
}

size_t kvcache_restore(struct worker *w, struct slot *s, const struct tokvec *prompt, size_t have)
{
    /* RAM first: the longest entry that shares more than the slot holds. */
    struct kv_entry *hit = NULL;
    size_t hit_n = have;
    for (struct kv_entry *e = w->kv_ram; e; e = e->next) {
        size_t n = 0;
        while (n < e->n_tokens && n + 1 < prompt->n && e->tokens[n] == prompt->v[n])
            n++;
        if (n > hit_n) {
            hit = e;
            hit_n = n;
        }
    }
    const char *dir = cache_dir();
    DIR *d = dir ? opendir(dir) : NULL;
    char best[4096] = "";
    size_t best_n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, w->model_id, 16) != 0 || len < 4 ||
            strcmp(de->d_name + len - 3, ".kv") != 0)
            continue; /* another model's, or a file the writer has not finished */
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        size_t n = match(p, w, prompt);
        if (n > best_n) {
            best_n = n;
            snprintf(best, sizeof best, "%s", p);
        }
    }
    if (d)
        closedir(d);
    if (hit && hit_n >= best_n) {
        if (load_state(w, s, hit->state, hit->state_bytes, hit_n)) {
            hit->used = now_us();
            slot_holds(s, prompt, hit_n);
            log_info("msg=\"prompt cache restored from RAM\" tokens=%zu", hit_n);
            return hit_n;
        }
        s->toks.n = 0;
        s->n_past = 0;
        return 0;
    }
    if (best_n <= have)
        return 0; /* the sequence already holds as much */
    FILE *f = fopen(best, "rb");
    struct kv_header h;
    uint8_t *state = NULL;
    llama_token *toks = NULL;
    size_t restored = 0;
    if (f && fread(&h, sizeof h, 1, f) == 1 && h.state_bytes < ((uint64_t)1 << 40)) {
        toks = malloc((size_t)h.n_tokens * sizeof *toks);
        state = malloc(h.state_bytes ? h.state_bytes : 1);
        unsigned char sum[32];
        if (toks && state && fread(toks, sizeof *toks, h.n_tokens, f) == h.n_tokens &&
            fread(state, 1, h.state_bytes, f) == h.state_bytes) {
            checksum(toks, h.n_tokens, state, h.state_bytes, sum);
            if (!memcmp(sum, h.sum, 32) && load_state(w, s, state, h.state_bytes, best_n))
                restored = best_n;
        }
    }
    if (f)
        fclose(f);
    free(toks);
    free(state);
    if (!restored) {
        log_warn("msg=\"a prompt cache file is damaged; removed, computing instead\" file=%s",
                 log_q(best));
        unlink(best);
        s->toks.n = 0;
        s->n_past = 0;
        return 0;
    }
    utime(best, NULL); /* recently used */
    slot_holds(s, prompt, restored);
    log_info("msg=\"prompt cache restored\" tokens=%zu", restored);
    return restored;
}
