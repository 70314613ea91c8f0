/* Pulling models from the Hugging Face hub and from Ollama-style (Docker v2) registries into the
 * stores other tools read (layout.h): the HF hub cache exactly as huggingface_hub writes it, and
 * Ollama's manifests + blobs.
 *
 *   hf.co/ORG/REPO[:QUANT], ORG/REPO[:QUANT]   the GGUF whose file name carries QUANT (Q4_K_M,
 *                                             else Q8_0, as llama-server; or the repository's
 *                                             only GGUF), its split shards, and an mmproj*.gguf
 *                                             beside it when there is one
 *   hf.co/ORG/REPO/FILE.gguf                  that file (and its shards)
 *   NAME[:TAG], HOST/NS/NAME[:TAG]             an Ollama registry model (registry.ollama.ai/
 *                                             library when no host is given)
 *
 * Hugging Face: $HF_ENDPOINT (default https://huggingface.co), $HF_TOKEN sent as a Bearer token
 * to that host only, HF_HUB_OFFLINE=1 refuses to touch the network. The repository is listed
 * as llama.cpp v0.5.0 does (GET /api/models/ORG/REPO/refs for main's commit, then
 * /api/models/ORG/REPO/tree/COMMIT?recursive=true), files come from /ORG/REPO/resolve/COMMIT/F.
 * Blobs are named by their LFS sha256, snapshots/COMMIT/F is a relative symlink to
 * ../../blobs/SHA (one more ../ per directory in F), and refs/main is written last.
 *
 * Ollama: $HEARTH_OLLAMA_REGISTRY (default https://registry.ollama.ai) is where names of
 * registry.ollama.ai are fetched from; they are stored under manifests/registry.ollama.ai/ all
 * the same. A 401 with a Bearer challenge is answered with a token from the realm, which must
 * be on the registry's own host (CVE-2025-51471). The manifest is validated (schemaVersion 2, a
 * config, 1..256 layers, sha256 digests, sizes within DL_MAX_FILE) before any blob is fetched;
 * blobs already present are verified and not fetched again; the manifest is written last.
 *
 * Downloads resume (net/download.h). Thread-safety: pull_model may run on any thread; pulls of
 * different files run side by side, two pulls of the same file exclude each other.
 */
#ifndef HEARTH_STORE_PULL_H
#define HEARTH_STORE_PULL_H

#include "base/err.h"

#include <stdint.h>

/* One progress report, in the shape of Ollama's /api/pull stream. */
struct pull_event {
    const char *status; /* "pulling manifest", "pulling 0123456789ab", "verifying sha256
                         * digest", "writing manifest", "success" */
    const char *digest; /* "sha256:HEX" while a file is fetched, else NULL */
    const char *file;   /* the file's name inside a Hugging Face repository, else NULL */
    uint64_t total, completed;
};

/* Called on the pulling thread; the event's strings live only during the call. */
typedef void (*pull_progress_fn)(void *ud, const struct pull_event *ev);

struct pull_options {
    int insecure; /* registries other than the default over plain http, TLS unverified */
};

/* Pulls name into the store its kind belongs to. Returns 0 after "success" was reported, or:
 * ERR_BAD_REQUEST (a bad name, a path, a refused address or realm, a bad manifest, several
 * GGUFs and no quant chosen), ERR_NOT_FOUND (no such model or file upstream), ERR_UNAVAILABLE
 * (network failures, HF_HUB_OFFLINE), ERR_BAD_MODEL (a digest mismatch), ERR_CANCELLED (*cancel
 * was set; partial files are kept for a resume), ERR_IO. e says which and why. */
int pull_model(const char *name, const struct pull_options *o, pull_progress_fn fn, void *ud,
               volatile int *cancel, struct err *e);

#endif
