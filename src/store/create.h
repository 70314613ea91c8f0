/* Creating a model: `hearth create NAME -f Modelfile` and Ollama's POST /api/create.
 *
 * A created model is a preset section [NAME:TAG] in the presets file (preset.h), written with
 * preset_write_section:
 *   model          the base: a GGUF path (FROM a path, a blob digest, or a quantized result)
 *                  or the base model's name (FROM a name, so its own settings still apply)
 *   PARAMETERs     under the params table's names; stop repeats
 *   chat-template  a Jinja TEMPLATE          ollama-template  an Ollama Go TEMPLATE
 *   system, messages (a JSON array of {role, content}), license, adapter
 * With ollama set (`hearth create --ollama`, and always for /api/create, whose clients look for
 * the model in Ollama's store) the model is written as an Ollama manifest instead, so Ollama
 * sees it too: the GGUF as the model layer (hard-linked into blobs/ when on the same file
 * system, else copied), template (a Go template), system, params, license, messages and
 * adapter layers, and the config blob; the manifest last. The presets file then holds only what
 * Ollama cannot: a Jinja TEMPLATE, as `chat-template` in a section without `model` (settings
 * for the model of that name); any older section of the name is removed, so that the name is
 * defined once (listed once, deleted by one `rm`).
 *
 * Quantizing (`-q Q4_K_M`) runs libllama's llama_model_quantize in a child process
 * (`hearth quantize`), so a crash inside libllama cannot take the daemon down. Only an F32,
 * F16, BF16 or Q8_0 GGUF may be quantized. The result goes to Ollama's blobs when ollama is
 * set, else to a `models` folder beside the presets file (DIR/models/NAME-TAG.gguf).
 *
 * Thread-safe: no shared state; two creates of one name race as two writers of one file do
 * (the last wins, each write atomic).
 */
#ifndef HEARTH_STORE_CREATE_H
#define HEARTH_STORE_CREATE_H

#include "base/err.h"
#include "store/modelfile.h"
#include "store/store.h"

#include <stdint.h>

/* Called with a status line ("parsing modelfile", "quantizing F16 model to Q4_K_M"...) and,
 * for long steps, the work done of the total (both 0 otherwise). */
typedef void (*create_progress)(void *ctx, const char *status, int64_t total, int64_t completed);

struct create_opts {
    const char *name;     /* the new model's name, as given */
    const char *quantize; /* a quant type ("Q4_K_M"), or NULL */
    int ollama;           /* also write an Ollama manifest */
    int allow_paths;      /* FROM/ADAPTER may name files (the CLI); never over the network */
    const char *base_dir; /* relative paths are taken from here (the Modelfile's folder) */
    const char *exe;      /* the hearth binary, for the quantize child; NULL: /proc/self/exe */
    create_progress progress;
    void *progress_ctx;
    volatile int *cancel; /* may be NULL: set to stop a quantize */
};

/* Creates the model mf describes. Returns 0, or an error with e naming the problem:
 * ERR_BAD_REQUEST (a bad name, FROM a path over the network, a type that cannot be quantized),
 * ERR_NOT_FOUND (FROM names nothing), ERR_BAD_MODEL (not a GGUF), ERR_IO. */
int create_model(const struct store *s, const struct modelfile *mf, const struct create_opts *o,
                 struct err *e);

/* The checks create_model starts with, without writing anything: the name, the quant type,
 * that FROM and ADAPTER resolve and FROM is a GGUF that can be quantized to o->quantize. For
 * answering a request's mistakes with a status before a stream starts. */
int create_check(const struct store *s, const struct modelfile *mf, const struct create_opts *o,
                 struct err *e);

/* Removes what creates killed on the way left behind: the temporary files
 * (.hearth-create-PID-*, .hearth-quantize-PID-*) in Ollama's blobs/ and in the models folder
 * beside the presets file whose process PID no longer runs. Never fails; logs what it removed.
 * Called as hearth serve starts and before each create. */
void create_sweep(const struct store *s);

/* The presets file create writes: store_presets_path(s), else preset_default_path(). */
void create_presets_path(const struct store *s, char *out, size_t len);

/* The llama_ftype of a quant type name ("Q4_K_M", "q8_0"), or -1. */
int create_quant_type(const char *name);

#endif
