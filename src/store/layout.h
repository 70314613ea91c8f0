/* Model names and the on-disk layouts of the stores hearth shares with other tools.
 *
 * Every path inside a store is built here and nowhere else: a digest or a repository name that
 * came from the network or a request is checked before it touches a path (the Probllama class of
 * bugs, shared/reference/security.md), and the result is checked to stay under the store's root.
 *
 *   Hugging Face hub cache (huggingface_hub's layout, also llama-server's):
 *     HUB/models--ORG--REPO/blobs/ETAG            the files, named by sha256 (LFS) or git etag
 *     HUB/models--ORG--REPO/snapshots/COMMIT/F    relative symlinks ../../blobs/ETAG
 *     HUB/models--ORG--REPO/refs/REVISION         the commit a revision ("main") points at
 *   Ollama's store:
 *     ROOT/manifests/HOST/NAMESPACE/MODEL/TAG     Docker v2 manifest JSON
 *     ROOT/blobs/sha256-HEX                       content-addressed layers
 *
 * Thread-safe: no state.
 */
#ifndef HEARTH_STORE_LAYOUT_H
#define HEARTH_STORE_LAYOUT_H

#include "base/err.h"

#include <stddef.h>

#define LAYOUT_MAX_PART 128 /* an org, repo, namespace, model or tag */
#define LAYOUT_MAX_FILE 256 /* a file name inside a repository (may hold '/') */
#define LAYOUT_MAX_PATH 4096

#define OLLAMA_DEFAULT_HOST "registry.ollama.ai"
#define OLLAMA_DEFAULT_NS   "library"
#define HF_DEFAULT_QUANT    "Q4_K_M"

/* ---- roots, from the environment as the other tools read it ---- */

/* $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
void layout_hf_hub(char *out, size_t len);
/* $OLLAMA_MODELS, else ~/.ollama/models. */
void layout_ollama_root(char *out, size_t len);

/* ---- names ---- */

enum ref_kind {
    REF_PATH,    /* "./x.gguf", "/abs/x.gguf", "../x.gguf", "~/x.gguf": a file */
    REF_PLAIN,   /* "NAME[:TAG]": a folder model, a preset, or an Ollama library model */
    REF_HF,      /* "hf.co/ORG/REPO[:QUANT]", "huggingface.co/...", "ORG/REPO[:QUANT]" */
    REF_HF_FILE, /* "hf.co/ORG/REPO/FILE.gguf" (FILE may hold '/') */
    REF_OLLAMA,  /* "HOST/NS/MODEL[:TAG]" (HOST has a dot or a port) */
};

struct model_ref {
    enum ref_kind kind;
    char host[LAYOUT_MAX_PART]; /* REF_OLLAMA: the registry host; REF_HF*: "hf.co" */
    char ns[LAYOUT_MAX_PART];   /* REF_OLLAMA namespace; REF_HF* organisation */
    char name[LAYOUT_MAX_PART]; /* REF_PLAIN / REF_OLLAMA model; REF_HF* repository */
    char tag[LAYOUT_MAX_PART];  /* the tag ("latest" when none) or, for REF_HF, the quant
                                 * as written ("" when none) */
    char file[LAYOUT_MAX_FILE]; /* REF_HF_FILE: the file inside the repository */
    char path[LAYOUT_MAX_PATH]; /* REF_PATH: the path as given, "~/" expanded */
};

/* Parses a user's model name. Returns 0, or ERR_BAD_REQUEST naming what is wrong: empty, too
 * long, control characters, '\\', a part that is "." or "..", characters outside
 * [A-Za-z0-9._-] in an org/repo/namespace/model, a tag outside [A-Za-z0-9._-]. */
int model_ref_parse(const char *name, struct model_ref *r, struct err *e);

/* The canonical spelling of a reference, as `hearth list` shows it: "NAME:TAG" for folder
 * and Ollama library models, "NS/MODEL:TAG" for other namespaces of registry.ollama.ai,
 * "HOST/NS/MODEL:TAG" for other registries, "hf.co/ORG/REPO:QUANT" (":QUANT" omitted when
 * empty), "hf.co/ORG/REPO/FILE", and the path for REF_PATH. */
void model_ref_format(const struct model_ref *r, char *out, size_t len);

/* The quantization a GGUF file name carries ("Q4_K_M", "IQ2_XXS", "F16", "BF16", "Q8_0"...),
 * upper-cased, or "" when it names none. */
void layout_quant_of_file(const char *file, char *out, size_t len);

/* 1 when name is a sha256 digest: "sha256:" or "sha256-" then 64 lowercase hex digits. */
int layout_digest_valid(const char *digest);

/* ---- Ollama's store ---- */

/* ROOT/blobs/sha256-HEX for a digest in either spelling. ERR_BAD_REQUEST for anything that
 * is not a valid digest; the only function that turns a digest into a path. */
int layout_ollama_blob(const char *root, const char *digest, char *out, size_t len, struct err *e);
/* ROOT/manifests/HOST/NS/MODEL/TAG for a REF_OLLAMA or REF_PLAIN reference (the defaults
 * registry.ollama.ai and library fill what a REF_PLAIN leaves out). */
int layout_ollama_manifest(const char *root, const struct model_ref *r, char *out, size_t len,
                           struct err *e);

/* ---- the Hugging Face cache ---- */

/* HUB/models--ORG--REPO for a REF_HF or REF_HF_FILE reference. */
int layout_hf_repo_dir(const char *hub, const struct model_ref *r, char *out, size_t len,
                       struct err *e);
/* HUB/models--ORG--REPO/blobs/ETAG: etag is a sha256 hex (64) or a git blob sha1 (40),
 * lowercase; anything else is ERR_BAD_REQUEST. */
int layout_hf_blob(const char *repo_dir, const char *etag, char *out, size_t len, struct err *e);
/* HUB/models--ORG--REPO/snapshots/COMMIT/FILE: commit is 40 lowercase hex; file is a relative
 * path whose parts are neither empty, "." nor "..". */
int layout_hf_snapshot_file(const char *repo_dir, const char *commit, const char *file, char *out,
                            size_t len, struct err *e);
/* HUB/models--ORG--REPO/refs/REVISION (a revision is one [A-Za-z0-9._-] part), for writing. */
int layout_hf_ref_path(const char *repo_dir, const char *revision, char *out, size_t len,
                       struct err *e);
/* The commit refs/REVISION points at, into commit[41]. ERR_NOT_FOUND when there is no ref. */
int layout_hf_read_ref(const char *repo_dir, const char *revision, char commit[41], struct err *e);

/* ---- files ---- */

/* mkdir -p with mode 0755. */
int layout_mkdirs(const char *dir, struct err *e);
/* Writes data to path atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. */
int layout_write_atomic(const char *path, const void *data, size_t len, struct err *e);
/* fsync of the directory holding path. */
int layout_fsync_dir_of(const char *path, struct err *e);

#endif
