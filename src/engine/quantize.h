/* Quantizing a GGUF with libllama's llama_model_quantize, in a child process.
 *
 * `hearth quantize SRC DST TYPE` is the child: it writes DST and prints "progress DONE TOTAL"
 * lines (tensors) on stdout as it goes; it exits 0 on success, 1 with a one-line reason on
 * stderr. A crash inside libllama ends only the child. quantize_run starts it and waits.
 */
#ifndef HEARTH_ENGINE_QUANTIZE_H
#define HEARTH_ENGINE_QUANTIZE_H

#include "base/err.h"

#include <stdint.h>

/* The llama_ftype of a type name, case-insensitive ("Q4_K_M", "q8_0", "F16"), or -1. */
int quantize_type(const char *name);
/* The canonical spelling of a type name ("Q4_K_M"), or NULL. */
const char *quantize_type_name(const char *name);
/* The name of a llama_ftype ("Q4_K_M", "F32"), or NULL for one outside the table. */
const char *quantize_ftype_name(int ftype);
/* The names quantize_type knows, comma-separated, for messages. */
const char *quantize_type_list(void);

/* The child's main. */
int quantize_main(int argc, char **argv);

/* Runs `EXE quantize src dst type` and waits. progress (may be NULL) gets the tensors done.
 * *cancel (may be NULL) set kills the child. Returns 0, or ERR_BAD_MODEL / ERR_IO /
 * ERR_CANCELLED with the child's reason in e. dst is removed on failure. */
int quantize_run(const char *exe, const char *src, const char *dst, const char *type,
                 void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
                 volatile int *cancel, struct err *e);

#endif
