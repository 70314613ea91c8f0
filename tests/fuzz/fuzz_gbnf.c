/* Fuzz target: the GBNF checker (src/grammar/gbnf.h) on any bytes. A grammar it accepts must
 * have a root rule and every referenced rule defined. Seeds: tests/fuzz/corpus/gbnf/. */
#include "grammar/gbnf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct gbnf *g = NULL;
    struct err e = {0};
    if (gbnf_parse(text, "root", &g, &e) == 0) {
        if (gbnf_find(g, "root") < 0)
            abort();
        for (uint32_t i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].kind == GBNF_REF && g->rules[g->nodes[i].a].node == UINT32_MAX)
                abort();
        gbnf_free(g);
    } else if (e.msg[0] == 0) {
        abort();
    }
    free(text);
    return 0;
}
