#include "engine/offload.h"

#include "base/log.h"

#include <dlfcn.h>
#include <ggml-backend.h>
#include <libgen.h>
#include <llama.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* A CUDA build keeps its backends as modules beside libllama (libggml-cpu*.so,
 * libggml-cuda.so); a plain build links the CPU backend and has devices already. */
static void load_backends(void)
{
    if (ggml_backend_dev_count() > 0)
        return;
    Dl_info info;
    char dir[4096];
    if (dladdr((void *)llama_backend_init, &info) && info.dli_fname &&
        snprintf(dir, sizeof dir, "%s", info.dli_fname) < (int)sizeof dir)
        ggml_backend_load_all_from_path(dirname(dir));
    if (ggml_backend_dev_count() == 0)
        ggml_backend_load_all();
    log_info("msg=\"backends loaded\" devices=%zu", ggml_backend_dev_count());
}

int offload_gpus(struct offload_gpu *out, int max)
{
    pthread_once(&load_once, load_backends);
    int n = 0;
    for (size_t i = 0; i < ggml_backend_dev_count() && n < max; i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        enum ggml_backend_dev_type t = ggml_backend_dev_type(d);
        if (t != GGML_BACKEND_DEVICE_TYPE_GPU)
            continue;
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(d, &free, &total);
        snprintf(out[n].name, sizeof out[n].name, "%s", ggml_backend_dev_name(d));
        snprintf(out[n].desc, sizeof out[n].desc, "%s", ggml_backend_dev_description(d));
        out[n].free = free;
        out[n].total = total;
        n++;
    }
    return n;
}

/* The cache at n_ctx tokens per slot, from the estimate's cache at est->n_ctx. */
static uint64_t kv_at(const struct mem_estimate *est, uint32_t n_ctx)
{
    if (est->n_ctx == 0)
        return est->kv;
    return (uint64_t)((double)est->kv * n_ctx / est->n_ctx);
}

void offload_plan(const struct mem_estimate *est, uint64_t free_vram, int ctx_fixed,
                  struct offload_plan *out)
{
    out->n_ctx = est->n_ctx;
    out->n_gpu_layers = 0;
    out->vram = 0;
    uint64_t fixed = OFFLOAD_MARGIN + est->compute;
    if (free_vram <= fixed)
        return;
    uint64_t avail = free_vram - fixed;
    uint32_t n_layer = est->n_layer;
    if (n_layer == 0) { /* an architecture without block_count: all or nothing */
        if (est->weights + est->kv <= avail) {
            out->n_gpu_layers = 999;
            out->vram = est->weights + est->kv + est->compute;
        }
        return;
    }
    /* Everything, at the asked context or (when the user left it) a smaller one. */
    for (uint32_t ctx = est->n_ctx;; ctx /= 2) {
        uint64_t need = est->layer_weights + est->output_weights + kv_at(est, ctx);
        if (need <= avail) {
            out->n_gpu_layers = (int32_t)n_layer + 1;
            out->n_ctx = ctx;
            out->vram = need + est->compute;
            return;
        }
        if (ctx_fixed || ctx / 2 < OFFLOAD_MIN_CTX)
            break;
    }
    /* Part of the layers, each with its share of the cache, at the asked context. */
    uint64_t per_layer = (est->layer_weights + kv_at(est, est->n_ctx)) / n_layer;
    uint64_t k = per_layer ? avail / per_layer : n_layer;
    if (k > n_layer)
        k = n_layer;
    out->n_gpu_layers = (int32_t)k;
    out->vram = k ? k * per_layer + est->compute : 0;
}

void offload_processor(uint64_t size, uint64_t vram, char *out, size_t len)
{
    if (vram == 0 || size == 0) {
        snprintf(out, len, "100%% CPU");
        return;
    }
    if (vram >= size) {
        snprintf(out, len, "100%% GPU");
        return;
    }
    int gpu = (int)((double)vram * 100.0 / (double)size + 0.5);
    if (gpu >= 100)
        gpu = 99;
    if (gpu <= 0)
        gpu = 1;
    snprintf(out, len, "%d%%/%d%% CPU/GPU", 100 - gpu, gpu);
}
