/* Inside the presets module: how a key of a presets file is understood (preset_keys.c), and
 * reading a file (preset.c) for the live file (preset_live.c). */
#ifndef HEARTH_STORE_PRESET_INT_H
#define HEARTH_STORE_PRESET_INT_H

#include "engine/params.h"

enum preset_key_kind {
    PKEY_PARAM,       /* a params-table parameter; canon is its name */
    PKEY_NEG,         /* the negation of a boolean parameter (no-mmap) */
    PKEY_FLASH,       /* flash_attn, written on/off/auto */
    PKEY_LOAD_MODE,   /* llama.cpp's --load-mode: sets use_mmap and use_mlock */
    PKEY_MODEL,       /* describes the model (model, mmproj, system...); canon is the key */
    PKEY_ROUTER,      /* llama-server's router keys (load-on-startup, stop-timeout) */
    PKEY_ALWAYS,      /* something hearth always does (jinja): true is accepted, false is not */
    PKEY_UNSUPPORTED, /* a llama-server or Ollama knob hearth does not have */
};

struct preset_key {
    const char *key;
    enum preset_key_kind kind;
    const char *canon;
};

/* Finds key (case-sensitive, as llama-server matches it). Returns 0 and *out, or -1 for a key
 * nobody knows. */
int preset_key_lookup(const char *key, struct preset_key *out);

/* Reads a whole file of at most PRESET_MAX_FILE bytes into *out (malloc'd, NUL-terminated;
 * *len excludes the NUL). ERR_NOT_FOUND when it does not exist, ERR_TOO_LARGE, ERR_IO. */
int preset_read_file(const char *path, char **out, size_t *len, struct err *e);

#endif
