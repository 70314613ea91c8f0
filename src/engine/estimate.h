/* What a model will need in memory, from its GGUF alone (before a worker is started).
 *
 * weights: the tensor data of the file and of every split shard beside it (NAME-0000i-of-0000n
 * .gguf); kv: layers x KV heads x (key + value head size) x context x slots x the bytes of the
 * cache types; compute: libllama's scheduling buffer for one micro-batch (activations of
 * n_ubatch tokens through the widest layer and the output projection, plus the attention
 * matrix when flash attention is off), the logits of one token per slot, and a worker's own
 * footprint (libllama, the prompt cache's bookkeeping). tests/node/sched_memory.test.mjs checks
 * the total against the resident size of real workers.
 */
#ifndef HEARTH_ENGINE_ESTIMATE_H
#define HEARTH_ENGINE_ESTIMATE_H

#include "base/err.h"
#include "engine/params.h"

#include <stdint.h>

/* A worker's memory beside the model's buffers: the binary, libllama, the C runtime. */
#define ESTIMATE_OVERHEAD (32ull << 20)

struct mem_estimate {
    uint64_t weights;
    uint64_t kv;
    uint64_t compute; /* compute and output buffers, and ESTIMATE_OVERHEAD */
    uint64_t total;
    uint32_t n_ctx; /* tokens per slot as the worker will pick them */
    uint32_t slots;
    /* How the weights and the cache divide into layers, for GPU offload (engine/offload.h): */
    uint32_t n_layer;
    uint64_t layer_weights;  /* every repeating layer's tensors, all shards */
    uint64_t output_weights; /* the output projection, placed with the last layer */
};

/* Estimates what loading path with lp takes. Returns 0, or mfile_open's error for a file that
 * is missing or not a valid GGUF (ERR_NOT_FOUND, ERR_BAD_MODEL, ...), or ERR_BAD_REQUEST for
 * more than 16M tokens of context in all (the worker's limit). */
int estimate_model(const char *path, const struct load_params *lp, struct mem_estimate *out,
                   struct err *e);

/* Bytes per element of a KV cache type ("f16", "q8_0", ...; NULL is f16); 0 when unknown. */
double estimate_cache_type_bytes(const char *type);

/* Parses a memory size: "6GiB", "800MB", "512M", "1.5G", or bytes. Binary units (KiB MiB GiB
 * TiB, and K M G T alone) are powers of 1024, decimal ones (KB MB GB TB) of 1000. Returns 0
 * and *bytes, or ERR_BAD_REQUEST. */
int estimate_parse_size(const char *text, uint64_t *bytes);

/* "1.5 GiB" and the like, into buf. */
const char *estimate_fmt(uint64_t bytes, char *buf, size_t len);

#endif
