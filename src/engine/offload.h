/* GPU offload: the GPUs ggml finds, and how much of a model goes on them.
 *
 * A CUDA build of libllama (scripts/deps.sh --cuda) loads its backends as modules
 * (GGML_BACKEND_DL), so the same hearth binary runs on a machine without a GPU or without the
 * NVIDIA driver: the CUDA module then finds no device (or does not load) and the model runs on
 * the CPU, with a log line saying so. The CPU build links its one backend directly.
 *
 * When the user leaves num_gpu unset (-1), the worker asks offload_plan how many layers fit in
 * free VRAM with a margin, using the memory estimator (engine/estimate.h): every layer and the
 * output projection when they fit, else, when the user did not fix num_ctx, a smaller context
 * (down to OFFLOAD_MIN_CTX) with every layer, else as many layers as fit. An explicit num_gpu
 * always wins. Called by the worker only (the daemon never initialises a GPU).
 */
#ifndef HEARTH_ENGINE_OFFLOAD_H
#define HEARTH_ENGINE_OFFLOAD_H

#include "engine/estimate.h"

#include <stdint.h>

#define OFFLOAD_MAX_GPUS 16
#define OFFLOAD_MIN_CTX  2048
/* Left free on the GPUs: the CUDA context's own allocations, cuBLAS workspaces, fragmentation. */
#define OFFLOAD_MARGIN (768ull << 20)

struct offload_gpu {
    char name[64];  /* ggml's device name, e.g. CUDA0 */
    char desc[128]; /* e.g. NVIDIA H100 80GB HBM3 */
    uint64_t free, total;
};

/* Loads the backend modules beside libllama when none is linked in (once per process) and
 * lists the GPUs, at most max. Returns how many. */
int offload_gpus(struct offload_gpu *out, int max);

struct offload_plan {
    int32_t n_gpu_layers; /* for llama_model_params: 0 .. n_layer + 1 (the +1 is the output) */
    uint32_t n_ctx;       /* tokens per slot: est->n_ctx, or less when it did not fit */
    uint64_t vram;        /* bytes the plan puts on the GPUs */
};

/* Plans with est (made at the context the request asked for) and free_vram summed over the
 * GPUs. ctx_fixed: the user set num_ctx, so it is not reduced. Pure; no GPU needed. */
void offload_plan(const struct mem_estimate *est, uint64_t free_vram, int ctx_fixed,
                  struct offload_plan *out);

/* Ollama's processor column: "100% GPU", "100% CPU" or "27%/73% CPU/GPU" for size bytes of
 * which vram are on GPUs. */
void offload_processor(uint64_t size, uint64_t vram, char *out, size_t len);

#endif
