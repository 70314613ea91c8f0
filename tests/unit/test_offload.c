/* GPU offload planning (engine/offload.h): how many layers and what context fit in free VRAM.
 * The plan is pure arithmetic over the memory estimate, so it is checked here without a GPU;
 * bench/gpu.sh checks it against a real one. */
#include "check.h"
#include "engine/estimate.h"
#include "engine/offload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* An 8B-shaped Q4_K_M model at 4096 tokens x 4 slots (f16 cache: 32 layers x 8 KV heads x 128
 * x 2 x 2 bytes = 128 KiB per token). */
static struct mem_estimate model_8b(uint32_t n_ctx)
{
    struct mem_estimate e = {0};
    e.n_layer = 32;
    e.layer_weights = 4100 * MIB;
    e.output_weights = 400 * MIB;
    e.weights = e.layer_weights + e.output_weights + 280 * MIB; /* + token embedding (CPU) */
    e.n_ctx = n_ctx;
    e.slots = 4;
    e.kv = (uint64_t)n_ctx * 4 * 128 * 1024;
    e.compute = 600 * MIB;
    e.total = e.weights + e.kv + e.compute;
    return e;
}

static void test_plan(void)
{
    struct offload_plan p;
    struct mem_estimate e = model_8b(4096);

    /* A large card: every layer and the output, the asked context. */
    offload_plan(&e, 78 * GIB, 0, &p);
    CHECK(p.n_gpu_layers == 33);
    CHECK(p.n_ctx == 4096);
    CHECK(p.vram == e.layer_weights + e.output_weights + e.kv + e.compute);

    /* No room beyond the margin and the compute buffer: nothing on the GPU. */
    offload_plan(&e, OFFLOAD_MARGIN + e.compute, 0, &p);
    CHECK(p.n_gpu_layers == 0);
    CHECK(p.vram == 0);
    offload_plan(&e, 0, 0, &p);
    CHECK(p.n_gpu_layers == 0);

    /* A 4 GiB card with a fixed context: part of the layers, and what they take fits. */
    offload_plan(&e, 4 * GIB, 1, &p);
    CHECK(p.n_gpu_layers > 0 && p.n_gpu_layers < 32);
    CHECK(p.n_ctx == 4096);
    CHECK(p.vram + OFFLOAD_MARGIN <= 4 * GIB);
    /* One more layer would not have fitted. */
    uint64_t per_layer = (e.layer_weights + e.kv) / 32;
    CHECK(p.vram + per_layer + OFFLOAD_MARGIN > 4 * GIB);

    /* A long context the user did not ask for: it shrinks (by halves, not under
     * OFFLOAD_MIN_CTX) so every layer fits, rather than leaving layers on the CPU. */
    struct mem_estimate big = model_8b(32768); /* 16 GiB of cache */
    offload_plan(&big, 12 * GIB, 0, &p);
    CHECK(p.n_gpu_layers == 33);
    CHECK(p.n_ctx < 32768 && p.n_ctx >= OFFLOAD_MIN_CTX);
    CHECK(p.vram + OFFLOAD_MARGIN <= 12 * GIB);
    /* ... the largest such context: twice it would not have fitted. */
    CHECK(big.layer_weights + big.output_weights + big.kv / (32768 / (p.n_ctx * 2)) + big.compute +
              OFFLOAD_MARGIN >
          12 * GIB);

    /* The same with the context fixed by the user: it stays, fewer layers go. */
    offload_plan(&big, 12 * GIB, 1, &p);
    CHECK(p.n_ctx == 32768);
    CHECK(p.n_gpu_layers > 0 && p.n_gpu_layers < 32);

    /* Even the smallest context does not fit every layer: the asked context, part of them. */
    offload_plan(&big, 4 * GIB, 0, &p);
    CHECK(p.n_ctx == 32768);
    CHECK(p.n_gpu_layers >= 0 && p.n_gpu_layers < 32);

    /* No layer count in the file: all or nothing. */
    struct mem_estimate odd = e;
    odd.n_layer = 0;
    offload_plan(&odd, 78 * GIB, 0, &p);
    CHECK(p.n_gpu_layers == 999);
    offload_plan(&odd, 2 * GIB, 0, &p);
    CHECK(p.n_gpu_layers == 0);
}

static void test_processor(void)
{
    char b[32];
    offload_processor(100, 0, b, sizeof b);
    CHECK_STR(b, "100% CPU");
    offload_processor(100, 100, b, sizeof b);
    CHECK_STR(b, "100% GPU");
    offload_processor(100, 73, b, sizeof b);
    CHECK_STR(b, "27%/73% CPU/GPU");
    offload_processor(1000, 1, b, sizeof b); /* a sliver on the GPU still shows */
    CHECK_STR(b, "99%/1% CPU/GPU");
    offload_processor(1000, 999, b, sizeof b);
    CHECK_STR(b, "1%/99% CPU/GPU");
    offload_processor(0, 0, b, sizeof b);
    CHECK_STR(b, "100% CPU");
}

/* The estimate's split of a real file into layers and the rest. */
static void test_real_file(void)
{
    const char *dir = getenv("MODELS");
    char path[4096];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "../shared/models");
    struct load_params lp;
    load_params_init(&lp);
    struct mem_estimate e;
    struct err err = {0};
    int rc = estimate_model(path, &lp, &e, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(e.n_layer == 5);
        CHECK(e.layer_weights > 0);
        CHECK(e.output_weights > 0); /* tied: the token embedding */
        CHECK(e.layer_weights + e.output_weights <= e.weights);
    }
    load_params_free(&lp);

    /* Whatever GPUs this machine has, the list is consistent. */
    struct offload_gpu g[OFFLOAD_MAX_GPUS];
    int n = offload_gpus(g, OFFLOAD_MAX_GPUS);
    CHECK(n >= 0 && n <= OFFLOAD_MAX_GPUS);
    for (int i = 0; i < n; i++)
        CHECK(g[i].free <= g[i].total && g[i].name[0]);
}

int main(void)
{
    test_plan();
    test_processor();
    test_real_file();
    return check_done("test_offload");
}
