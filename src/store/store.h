/* Where models are, by name: folders, the Hugging Face hub cache, Ollama's store and presets.
 *
 * hearth keeps no store of its own (DESIGN.md principle 2). A model is found in, in order:
 *   - a path ("./x.gguf", "/abs/x.gguf"): that file;
 *   - a preset section [NAME] whose `model` key names a file or another model (presets.h);
 *   - the folders given with --models-dir / HEARTH_MODELS_DIR: FILE.gguf is "FILE:latest",
 *     "FILE:TAG.gguf" is "FILE:TAG", and a subfolder NAME/ holding one model (split shards,
 *     an mmproj*.gguf beside it) is "NAME:latest";
 *   - Ollama's store (layout.h): "NAME:TAG" is registry.ollama.ai/library/NAME:TAG;
 *   - the Hugging Face cache: "hf.co/ORG/REPO:QUANT" (Q4_K_M when no quant is given and the
 *     repository has several), "ORG/REPO:QUANT", "hf.co/ORG/REPO/FILE.gguf".
 * A plain name found as two different files (in a folder and in Ollama's store) is ambiguous:
 * the error lists the candidates by their full names. The same file reached through two
 * sources (a folder holding a symlink into the HF cache) is one model, listed once.
 *
 * Thread-safe: the struct is read-only after store_init; every call reads the file system.
 */
#ifndef HEARTH_STORE_STORE_H
#define HEARTH_STORE_STORE_H

#include "base/err.h"
#include "engine/params.h"

#include <stdint.h>
#include <time.h>

#define STORE_MAX_NAME 255

struct store;

enum store_source {
    STORE_SRC_PATH,   /* given as a path */
    STORE_SRC_FOLDER, /* a --models-dir folder */
    STORE_SRC_OLLAMA, /* Ollama's store */
    STORE_SRC_HF,     /* the Hugging Face hub cache */
    STORE_SRC_PRESET, /* a preset section with a `model` key */
    STORE_SRC_REMOTE, /* a preset section with a `remote` key: no file, a remote server */
};

/* "path", "folder", "ollama", "hf", "preset", "remote": for `hearth list` and /api/tags. */
const char *store_source_name(enum store_source s);

/* A model served by a remote OpenAI-compatible server (README "Remote engines"). */
struct store_remote {
    char *url;             /* the server's base URL (".../v1"), without a trailing '/'; owned */
    char *model;           /* the name the remote server knows the model by; owned */
    char *key_env;         /* the environment variable holding its API key, or NULL; owned */
    int timeout_s;         /* the longest wait for the next byte of an answer */
    int connect_timeout_s; /* the longest wait for a connection */
};

#define STORE_REMOTE_TIMEOUT_S         300
#define STORE_REMOTE_CONNECT_TIMEOUT_S 10

struct store_model {
    char name[STORE_MAX_NAME + 16]; /* canonical name (model_ref_format) */
    enum store_source source;
    char *path;    /* the GGUF (the first shard of a split model); owned; NULL when remote */
    char *mmproj;  /* a multimodal projector, or NULL; owned */
    char *adapter; /* a LoRA adapter (Ollama's adapter layer, ADAPTER), or NULL; owned */
    int64_t size;  /* bytes of every shard together */
    time_t mtime;
    char quant[32];  /* from the GGUF's file type or the file name; "" when unknown */
    char digest[72]; /* "sha256:HEX" of the GGUF when the store knows it (Ollama, HF LFS) */
    /* What the store says beside the weights (Ollama's layers, a preset section): */
    char *template_text;         /* a chat template: Jinja, or Ollama's Go template; owned */
    int template_is_go;          /* template_text is a Go template (Ollama's template layer) */
    char *system;                /* default system prompt; owned */
    char *tool_format;           /* a preset's tool-call-format (chat_parse.h names), or NULL */
    char *license;               /* owned */
    char *messages_json;         /* few-shot messages, a JSON array of {role, content}; owned */
    struct strlist params;       /* "name=value" in the params table's names (Ollama's params layer,
                                  * PARAMETER lines); lists such as stop repeat the name */
    struct store_remote *remote; /* STORE_SRC_REMOTE: where it is served; owned */
};

void store_remote_free(struct store_remote *r); /* NULL-safe */

struct store_config {
    char *const *dirs; /* --models-dir folders, searched in order */
    int n_dirs;
    const char *hf_hub;      /* NULL: layout_hf_hub() */
    const char *ollama_root; /* NULL: layout_ollama_root() */
    const char *presets;     /* the presets file, or NULL for none */
    /* Presets given as text rather than a file (a bundle's, which never change; presets must
     * then be NULL). A text that does not parse is logged and the store has no presets. */
    const char *presets_text;
    /* Only the presets' models and the --models-dir folders: the Hugging Face cache and
     * Ollama's store are not searched (a bundle serves what it holds). */
    int own_only;
};

/* Copies what it needs from cfg. Never fails: missing folders are empty sources. */
struct store *store_init(const struct store_config *cfg);
void store_free(struct store *s);

/* Finds a model by name. Returns 0 and fills *out (free with store_model_free), ERR_NOT_FOUND
 * naming the model, ERR_BAD_REQUEST for a malformed or ambiguous name (the message lists the
 * candidates), ERR_BAD_MODEL for a broken manifest. A file path is refused: names that come
 * from the network never reach a server path (CVE-2024-39721, security.md). */
int store_find(const struct store *s, const char *name, struct store_model *out, struct err *e);
/* The same, also taking a path to a .gguf file: for names the local user typed (the CLI,
 * `serve --model`). */
int store_find_local(const struct store *s, const char *name, struct store_model *out,
                     struct err *e);
void store_model_free(struct store_model *m); /* frees the members; NULL-safe */

/* Every model of every source, sorted by name, each file once; free with store_list_free. */
int store_list(const struct store *s, struct store_model **out, int *n);
void store_list_free(struct store_model *list, int n);

/* Makes `dst` another name for `src`. In a folder: a hard link beside the file (a copy when
 * linking fails); in Ollama's store and for HF models: an Ollama manifest for dst pointing at
 * the same blobs. Replaces an existing dst, as Ollama does. */
int store_copy(const struct store *s, const char *src, const char *dst, struct err *e);

/* Removes a model: a folder's file; an Ollama manifest and the blobs no other manifest uses;
 * an HF snapshot entry and its blob when no other entry uses it; a preset section. */
int store_delete(const struct store *s, const char *name, struct err *e);

/* The roots, for messages and for the puller. */
int store_dirs(const struct store *s, const char *const **dirs);
const char *store_hf_hub(const struct store *s);
const char *store_ollama_root(const struct store *s);
const char *store_presets_path(const struct store *s);

struct preset_set;
/* The presets as they are now (preset.h: the file is re-read when it changes), or NULL when
 * the store has no presets file. Release with preset_release. Thread-safe. */
struct preset_set *store_presets(const struct store *s);

#endif
