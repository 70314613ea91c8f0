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
 * A value may be in double quotes with C escapes (\n \t \r \" \\ \xHH); an unquoted value ends
 * at the first ';' or '#' (as in llama-server) and is trimmed. `version = 1` may stand before
 * the first section, as llama-server writes it; any other key there is an error.
 *
 * Thread-safe after preset_load (read-only).
 */
#ifndef HEARTH_STORE_PRESET_H
#define HEARTH_STORE_PRESET_H

#include "base/err.h"
#include "engine/params.h"

#include <stddef.h>

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

/* "default", "gguf", "[*]", "model", "section", "request". */
const char *preset_origin_name(enum preset_origin o);

/* One setting of a section, with its key in canonical form: a params-table name ("num_ctx",
 * "temperature", "use_mmap"...) for parameters, whatever spelling the file used (c, ctx-size,
 * LLAMA_ARG_CTX_SIZE, num_ctx), and "model", "mmproj", "chat-template", "chat-template-file",
 * "ollama-template", "tool-call-format", "system", "messages", "license", "adapter",
 * "load-on-startup",
 * "stop-timeout", "remote", "remote-model", "remote-api-key-env", "remote-timeout",
 * "remote-connect-timeout" for the others. Values are unquoted and unescaped, and normalized where
 * the file may spell them several ways (booleans are "true"/"false", flash_attn "-1"/"0"/"1", a
 * negation such as no-mmap is stored as use_mmap with the opposite value, load-mode as
 * use_mmap and use_mlock). A list parameter (stop, dry_sequence_breakers, logit_bias) appears
 * once per value, in file order. */
struct preset_kv {
    const char *key;
    const char *value;
    int line; /* 1-based line in the file */
};

/* Reads a presets file. A path that does not exist is an empty set (the default file is
 * optional); a malformed line is ERR_BAD_REQUEST naming the file, line and problem (unknown
 * key, a key hearth does not support, bad value for that key, duplicate section or key, key
 * outside a section, unterminated quote, over a cap). The set starts with one reference. */
int preset_load(const char *path, struct preset_set **out, struct err *e);
/* Parses text as if read from a file called name (for tests and for checking a write). */
int preset_parse(const char *name, const char *text, size_t len, struct preset_set **out,
                 struct err *e);
/* A set is reference-counted so that a request can keep using the one it started with while the
 * live file is re-read. Both are thread-safe. */
struct preset_set *preset_retain(struct preset_set *p);
void preset_release(struct preset_set *p); /* NULL-safe */
void preset_free(struct preset_set *p);    /* the same as preset_release */

/* Section names are model names and match by canonical name (model_ref_parse +
 * model_ref_format): [qwen] is the section of qwen:latest. name may be written either way.
 * "*" is the global section. */

/* The value of key in section [name], or NULL. key may be any spelling the file accepts ("c",
 * "ctx-size", "num_ctx"); for a list parameter, the first value. Valid while p is. */
const char *preset_get(const struct preset_set *p, const char *name, const char *key);
/* Every setting of section [name] in file order; *n receives the count (0, NULL when there is
 * no such section). Valid while p is. */
const struct preset_kv *preset_entries(const struct preset_set *p, const char *name, int *n);
/* Section names other than "*", canonical, in file order; *n receives the count. */
const char *const *preset_sections(const struct preset_set *p, int *n);

/* Replaces (or adds) section [name] in the file at path with the given "key=value" lines (the
 * key is trimmed, the value taken as it is),
 * keeping every other section and comment as it was, byte for byte (the replaced section's
 * lines, from its header to its last setting, go; comments after its last setting stay).
 * Values that need it are written in double quotes with C escapes. The result is parsed before
 * it is written, so a write never leaves a file that fails to load (ERR_BAD_REQUEST naming the
 * bad key or value instead). Atomic (temporary file + rename), and serialized with other
 * writers by a lock on the folder. kv == NULL removes the section (ERR_NOT_FOUND when there is
 * none). Creates the file and its folder when missing. */
int preset_write_section(const char *path, const char *name, const struct strlist *kv,
                         struct err *e);

/* Appends section [name] with the given "key=value" lines to out, as preset_write_section
 * writes it (values quoted and escaped where they need it). Returns 0, ERR_BAD_REQUEST for a
 * line without '=', or ERR_TOO_LARGE when out's cap is reached. */
struct buf;
int preset_format_section(struct buf *out, const char *name, const struct strlist *kv,
                          struct err *e);

/* ---- the live file of a server ---- */

struct preset_live;

/* Watches path: preset_live_get re-reads it when its mtime, size or inode changes (and, for two
 * seconds after a change, when its text does: timestamps are coarser than writes). required:
 * a missing file is an error (ERR_NOT_FOUND) rather than an empty set. A malformed file is
 * ERR_BAD_REQUEST with the line. */
int preset_live_open(const char *path, int required, struct preset_live **out, struct err *e);
/* The current set (never NULL; release it with preset_release). Costs one stat() when the file
 * has not changed. A file that changed and no longer parses keeps the last good set and logs a
 * warning once per change; a file that was removed is an empty set. Thread-safe. */
struct preset_set *preset_live_get(struct preset_live *l);
const char *preset_live_path(const struct preset_live *l);
void preset_live_free(struct preset_live *l); /* NULL-safe */

/* The default presets file: $HEARTH_MODELS_PRESET is not read here (serve does that);
 * $XDG_CONFIG_HOME/hearth/presets.ini, else ~/.config/hearth/presets.ini. */
void preset_default_path(char *out, size_t len);

#endif
