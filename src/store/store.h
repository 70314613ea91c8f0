/* Where models are, by name.
 *
 * For now a model is a .gguf file in one of the folders given with --models-dir or
 * HEARTH_MODELS_DIR: the file's stem is its name and ":latest" is implied ("llama.gguf" is
 * "llama:latest"; "llama:q4.gguf" is "llama:q4"). #6 adds the Hugging Face cache and Ollama's
 * store. Folders are searched in the order given; the first match wins.
 *
 * Thread-safe: the struct is read-only after store_init; every call reads the file system.
 */
#ifndef HEARTH_STORE_STORE_H
#define HEARTH_STORE_STORE_H

#include "base/err.h"

#include <stdint.h>
#include <time.h>

#define STORE_MAX_NAME 255

struct store;

struct store_model {
    char name[STORE_MAX_NAME + 16]; /* canonical "stem:tag" */
    char *path;                     /* owned */
    int64_t size;
    time_t mtime;
};

/* dirs: the folders to search (copied). */
struct store *store_init(char *const *dirs, int n_dirs);
void store_free(struct store *s);

/* Canonical form of a user's model name: "x" -> "x:latest". Returns 0, or ERR_BAD_REQUEST for a
 * name that is empty, too long, or holds characters a model name cannot have ("/", "..",
 * control characters). */
int store_canonical(const char *name, char *out, size_t out_len, struct err *e);

/* Finds a model. Returns 0 and fills *out (free out->path), or ERR_NOT_FOUND / ERR_BAD_REQUEST
 * with a message naming the model. */
int store_find(const struct store *s, const char *name, struct store_model *out, struct err *e);

/* Every model, sorted by name; *out is an array of *n (free with store_list_free). */
int store_list(const struct store *s, struct store_model **out, int *n);
void store_list_free(struct store_model *list, int n);

/* Makes `dst` another name for `src` (a hard link next to it, or a copy when linking is not
 * possible). Replaces an existing dst, as Ollama does. */
int store_copy(const struct store *s, const char *src, const char *dst, struct err *e);

/* Removes the model's file. */
int store_delete(const struct store *s, const char *name, struct err *e);

/* The folders, for messages. */
int store_dirs(const struct store *s, const char *const **dirs);

#endif
