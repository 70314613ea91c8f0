/* Presets: llama-server's --models-preset INI format, and the precedence of settings.
 *
 *   ; comment            # comment
 *   [*]                  settings for every model
 *   ctx-size = 8192
 *   [qwen2.5:7b]         settings for one model (a name as `hearth list` shows it)
 *   temp = 0.6
 *   c = 16384
 *   [my-assistant]       a section with `model` defines a new name
 *   model = qwen2.5:7b   (a path, or any name store_find accepts)
 *   system = You are terse.
 *
 * Keys are llama-server's long or short argument names without dashes (`ctx-size`, `c`,
 * `n-gpu-layers`, `ngl`, `temp`, `top-k`...), Ollama's option names (`num_ctx`, `temperature`)
 * or the names of hearth's params table; `model`, `mmproj`, `chat-template-file`, `system`,
 * `messages` (a JSON array) and `license` describe the model itself. A value may be written
 * in double quotes with C escapes (\n, \", \\) to hold newlines; unquoted values are trimmed.
 *
 * Precedence (DESIGN.md principle 3): request > the model's section > the Ollama params layer
 * or Modelfile PARAMETERs of the model > [*] > the GGUF's general.sampling.* > defaults.
 *
 * Thread-safe after preset_load (read-only).
 */
#ifndef HEARTH_STORE_PRESET_H
#define HEARTH_STORE_PRESET_H

#include "base/err.h"
#include "engine/params.h"

#define PRESET_MAX_FILE     (4u << 20) /* bytes of a presets file */
#define PRESET_MAX_SECTIONS 4096
#define PRESET_MAX_KEYS     256 /* per section */

struct preset_set;

/* Where a value came from, for `hearth show --parameters`. */
enum preset_origin {
    PRESET_ORIGIN_DEFAULT, /* hearth's built-in default */
    PRESET_ORIGIN_GGUF,    /* the GGUF's general.sampling.* */
    PRESET_ORIGIN_GLOBAL,  /* the [*] section */
    PRESET_ORIGIN_MODEL,   /* the model's own params (Ollama layer, Modelfile PARAMETER) */
    PRESET_ORIGIN_SECTION, /* the model's preset section */
    PRESET_ORIGIN_REQUEST, /* the request */
};

/* Reads a presets file. A path that does not exist is an empty set (the default file is
 * optional); a malformed line is ERR_BAD_REQUEST naming the file, line and problem (unknown
 * key, bad value, duplicate section, line outside a section, over a cap). */
int preset_load(const char *path, struct preset_set **out, struct err *e);
void preset_free(struct preset_set *p); /* NULL-safe */

/* The value of key in section [name] (exact name), or NULL. Valid while p is. */
const char *preset_get(const struct preset_set *p, const char *name, const char *key);
/* Section names other than "*", in file order; *n receives the count. */
const char *const *preset_sections(const struct preset_set *p, int *n);

/* Replaces (or adds) section [name] in the file at path with the given "key=value" lines,
 * keeping every other section and comment as it was; atomic (temporary file + rename).
 * kv == NULL removes the section. Creates the file and its folder when missing. */
int preset_write_section(const char *path, const char *name, const struct strlist *kv,
                         struct err *e);

#endif
