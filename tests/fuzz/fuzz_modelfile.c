/* The Modelfile parser (src/store/modelfile.c): FROM, PARAMETER, TEMPLATE, SYSTEM, MESSAGE,
 * ADAPTER, LICENSE, heredocs. */
#include "store/modelfile.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct modelfile m;
    struct err e = {0};
    (void)modelfile_parse((const char *)data, size, &m, &e);
    modelfile_free(&m); /* also after a failure (modelfile.h) */
    return 0;
}
