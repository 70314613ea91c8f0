/* A GGUF model file, checked before libllama sees it.
 *
 * libllama trusts the header of a GGUF more than it should (hostile files have crashed it and
 * Ollama: see shared/reference/security.md), so every model path goes through mfile_open first:
 * it maps the file read-only and checks magic, version, every count against the file size,
 * every string and array length, the alignment (a power of two, at most 64 KiB), and every
 * tensor's type, shape and extent (inside the file, aligned, no duplicates), and that the
 * architecture's block_count is an integer from 1 to MFILE_MAX_LAYERS. Only then is the
 * path handed to llama_model_load_from_file.
 *
 * The struct keeps the file mapped so later modules (store, scheduler) can read metadata without
 * a second parse; mfile_close unmaps it. Thread-compatible: one mfile per thread.
 */
#ifndef HEARTH_ENGINE_MFILE_H
#define HEARTH_ENGINE_MFILE_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

#define MFILE_MAX_TENSORS   (1u << 20)
#define MFILE_MAX_KV        (1u << 20)
#define MFILE_MAX_KEY       65535u
#define MFILE_MAX_ALIGNMENT 65536u
#define MFILE_MAX_LAYERS    512 /* LLAMA_MAX_LAYERS: a larger block_count aborts libllama */

/* GGUF value types (the file format's numbering). */
enum mfile_vtype {
    MFILE_U8 = 0,
    MFILE_I8,
    MFILE_U16,
    MFILE_I16,
    MFILE_U32,
    MFILE_I32,
    MFILE_F32,
    MFILE_BOOL,
    MFILE_STRING,
    MFILE_ARRAY,
    MFILE_U64,
    MFILE_I64,
    MFILE_F64,
    MFILE_VTYPE_COUNT
};

struct mfile_kv {
    const char *key; /* points into the mapping; not NUL-terminated */
    uint64_t key_len;
    uint32_t type;
    uint32_t arr_type;  /* element type when type == MFILE_ARRAY */
    uint64_t arr_n;     /* element count when type == MFILE_ARRAY */
    const uint8_t *val; /* the encoded value inside the mapping */
};

struct mfile {
    const uint8_t *map; /* the GGUF's first byte */
    size_t size;        /* the GGUF's bytes */
    uint64_t base;      /* where the GGUF starts in the file: 0, or its offset in a bundle */
    uint32_t version;
    uint64_t n_tensors;
    uint64_t n_kv;
    struct mfile_kv *kv; /* owned */
    uint32_t alignment;
    uint64_t data_offset;  /* where tensor data begins */
    uint64_t tensor_bytes; /* sum of tensor sizes */
    uint64_t n_elements;   /* sum of tensor elements: the parameter count */
    int main_type;         /* the ggml type holding the most bytes (for "quantization") */
    /* For GPU offload: the bytes of the repeating layers (tensors named blk.N.*), and of the
     * output projection (output.weight; the token embedding when the model ties them), which
     * libllama places on the GPU with the last layer. */
    uint64_t layer_bytes;
    uint64_t output_bytes;
};

/* Opens and checks path. A bundle (engine/bundle.h: hearth with a model appended) opens as
 * the GGUF inside it: base is then its offset in the file. On failure returns ERR_NOT_FOUND
 * (missing), ERR_BAD_REQUEST (a directory or not a regular file), ERR_IO, or ERR_BAD_MODEL (a
 * damaged bundle too), with a message in e that names the problem, and *out is untouched. On
 * success *out must be released with mfile_close. */
int mfile_open(const char *path, struct mfile *out, struct err *e);
void mfile_close(struct mfile *f);

/* Metadata lookup. Returns the kv or NULL. */
const struct mfile_kv *mfile_find(const struct mfile *f, const char *key);

/* Copies a string value into a new NUL-terminated allocation (NULL when absent or not a string). */
char *mfile_get_str(const struct mfile *f, const char *key);

/* Reads an integer value of any integer type; returns 0 or ERR_NOT_FOUND. */
int mfile_get_int(const struct mfile *f, const char *key, int64_t *out);

#endif
