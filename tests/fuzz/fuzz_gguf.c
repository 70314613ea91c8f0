/* The daemon's own GGUF reader (src/engine/mfile.c) and what reads through it for `list`,
 * `show` and memory estimates (model_info.c, estimate.c, settings.c): whatever the bytes, an
 * error or a bounded answer, never a crash. The input goes into a memfd, opened by path as the
 * daemon opens model files.
 *
 * Differential: whatever mfile accepts is handed to libllama, so ggml's own GGUF reader must
 * accept it too (mfile is meant to be the stricter of the two); a file mfile passes and gguf
 * refuses is a bug in mfile's checks, and aborts here. */
#include "api/api.h"
#include "api/model_info.h"
#include "engine/estimate.h"
#include "engine/mfile.h"

#include <gguf.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);

    struct err e = {0};
    struct mfile mf;
    if (mfile_open(path, &mf, &e) == 0) {
        free(mfile_get_str(&mf, "general.architecture"));
        free(mfile_get_str(&mf, "tokenizer.chat_template"));
        int64_t v;
        (void)mfile_get_int(&mf, "general.file_type", &v);
        mfile_close(&mf);
        struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
        struct gguf_context *g = gguf_init_from_file(path, gp);
        if (!g) {
            fprintf(stderr, "mfile accepted a file that gguf refuses\n");
            abort();
        }
        gguf_free(g);
    }
    json_t *info = NULL;
    if (model_info_json(path, 1, &info, &e) == 0)
        json_decref(info);
    struct model_details d;
    if (model_details_read(path, &d, &e) == 0)
        model_details_free(&d);
    struct load_params lp;
    load_params_init(&lp);
    struct mem_estimate est;
    (void)estimate_model(path, &lp, &est, &e);
    load_params_free(&lp);
    free(api_model_template(path));
    return 0;
}
