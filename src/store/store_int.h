/* Internals shared by the store's source files (store.c, store_ollama.c, store_hf.c). */
#ifndef HEARTH_STORE_STORE_INT_H
#define HEARTH_STORE_STORE_INT_H

#include "store/layout.h"
#include "store/store.h"

#include <sys/types.h>

struct preset_live;

#define STORE_MAX_MANIFEST   (4u << 20) /* bytes of an Ollama manifest */
#define STORE_MAX_LAYER_TEXT (1u << 20) /* bytes of a template, system, license or params layer */
#define STORE_MAX_MODELS     100000     /* entries one listing collects */

struct store {
    char **dirs;
    int n_dirs;
    char *hf_hub;
    char *ollama_root;
    char *presets;
    struct preset_live *live; /* the presets file, re-read when it changes (preset.h) */
    struct preset_set *fixed; /* presets given as text (a bundle's), or NULL */
    int own_only;             /* store_config.own_only */
};

/* A growing list of models. */
struct model_list {
    struct store_model *v;
    int n, cap;
};
struct store_model *model_list_add(struct model_list *l);

/* Reads a whole small file (at most cap bytes) into a NUL-terminated string. */
char *store_read_small(const char *path, size_t cap, size_t *len, struct err *e);

/* Fills size (every shard), mtime and quant of m->path. Returns 0 or ERR_NOT_FOUND. */
int store_stat_model(struct store_model *m);

/* The other shards of a split GGUF: for "x-00001-of-00003.gguf" fills shard k's path. Returns
 * the shard count (1 for a file that is not split). */
int store_shard_count(const char *path);
void store_shard_path(const char *first, int k, char *out, size_t len);
/* A shard other than the first ("-00002-of-00003.gguf"): not a model of its own. */
int store_is_later_shard(const char *file);

/* ---- Ollama's store (store_ollama.c) ---- */

/* The model a manifest describes (name already set in out). ERR_NOT_FOUND when there is no
 * manifest, ERR_BAD_MODEL for one that does not parse or names a missing blob. */
int store_ollama_find(const struct store *s, const struct model_ref *r, struct store_model *out,
                      struct err *e);
int store_ollama_list(const struct store *s, struct model_list *l);
int store_ollama_delete(const struct store *s, const struct model_ref *r, struct err *e);
/* Copies the manifest of src to dst (both Ollama names). */
int store_ollama_copy(const struct store *s, const struct model_ref *src,
                      const struct model_ref *dst, struct err *e);

/* ---- the Hugging Face cache (store_hf.c) ---- */

/* REF_HF or REF_HF_FILE. ERR_NOT_FOUND, or ERR_BAD_REQUEST for an ambiguous quant (the message
 * lists the files). */
int store_hf_find(const struct store *s, const struct model_ref *r, struct store_model *out,
                  struct err *e);
int store_hf_list(const struct store *s, struct model_list *l);
int store_hf_delete(const struct store *s, const struct model_ref *r, struct err *e);

#endif
