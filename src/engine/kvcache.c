/* The prompt cache that survives the worker: when a long computed prompt would be thrown away
 * (a different prompt takes the context, or the model is unloaded), its keys and values are
 * written to a file, and a later request that starts with the same tokens, even in a new worker
 * after a reload, restores them instead of computing them again.
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
    const char *m = getenv("HEARTH_PROMPT_CACHE_MAX_MB");
    uint64_t max = (m ? strtoull(m, NULL, 10) : 1024) << 20;
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

void kvcache_save(struct worker *w, struct slot *s)
{
    const char *dir = cache_dir();
    if (!dir || s->n_past < KV_MIN_TOKENS)
        return;
    size_t size = llama_state_seq_get_size(w->ctx, s->seq);
    if (!size)
        return;
    uint8_t *state = malloc(size);
    if (!state)
        return;
    size = llama_state_seq_get_data(w->ctx, state, size, s->seq);
    struct kv_header h = {0};
    memcpy(h.magic, KV_MAGIC, 8);
    h.version = KV_VERSION;
    h.n_tokens = (uint32_t)s->n_past;
    h.state_bytes = size;
    memcpy(h.model_id, w->model_id, 64);
    checksum(s->toks.v, h.n_tokens, state, size, h.sum);
    char hex[65], path[4096], tmp[4200];
    sha256_hex(s->toks.v, s->n_past * sizeof *s->toks.v, hex);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%.16s-%.16s.kv", dir, w->model_id, hex);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(&h, sizeof h, 1, f) == 1 &&
             fwrite(s->toks.v, sizeof *s->toks.v, s->n_past, f) == s->n_past &&
             fwrite(state, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) == 0) {
        log_info("msg=\"prompt cache saved\" tokens=%u bytes=%zu", h.n_tokens, size);
        trim(dir);
    } else {
        unlink(tmp);
        log_warn("msg=\"prompt cache not saved\" dir=%s err=%s", log_q(dir),
                 log_q(strerror(errno ? errno : EIO)));
    }
    free(state);
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
    const char *dir = cache_dir();
    if (!dir)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char best[4096] = "";
    size_t best_n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, w->model_id, 16) != 0)
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        size_t n = match(p, w, prompt);
        if (n > best_n) {
            best_n = n;
            snprintf(best, sizeof best, "%s", p);
        }
    }
    closedir(d);
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
            if (!memcmp(sum, h.sum, 32)) {
                llama_memory_t mem = llama_get_memory(w->ctx);
                llama_memory_seq_rm(mem, s->seq, -1, -1);
                if (llama_state_seq_set_data(w->ctx, state, h.state_bytes, s->seq) > 0 &&
                    llama_memory_seq_rm(mem, s->seq, (llama_pos)best_n, -1))
                    restored = best_n;
                else
                    llama_memory_seq_rm(mem, s->seq, -1, -1);
            }
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
    s->toks.n = 0;
    for (size_t i = 0; i < restored; i++)
        tokvec_push(&s->toks, prompt->v[i]);
    s->n_past = restored;
    log_info("msg=\"prompt cache restored\" tokens=%zu", restored);
    return restored;
}
