/* Model facts read from a GGUF's header, for /api/tags, /api/show and /api/ps. */
#ifndef HEARTH_API_MODEL_INFO_H
#define HEARTH_API_MODEL_INFO_H

#include "base/err.h"

#include <jansson.h>
#include <stdint.h>

struct model_details {
    char family[64];     /* general.architecture */
    char param_size[16]; /* "7B", "260K" */
    char quant[16];      /* "Q4_K_M" */
    uint64_t n_params;
    int64_t context_length;
    int64_t embedding_length;
    int is_embedding;    /* has a pooling layer */
    int is_reranker;     /* its pooling is a rank (classification) head */
    int has_fim;         /* fill-in-the-middle tokens */
    char *chat_template; /* owned; NULL when none */
};

int model_details_read(const char *path, struct model_details *d, struct err *e);
void model_details_free(struct model_details *d);

/* Ollama's "details" object and "capabilities" array. */
json_t *model_details_json(const struct model_details *d);
json_t *model_capabilities_json(const struct model_details *d);

/* Every metadata key of the GGUF; arrays over 64 values are null unless verbose. */
int model_info_json(const char *path, int verbose, json_t **out, struct err *e);

#endif
