/* Fuzz target: the JSON schema → GBNF converter (src/grammar/schema.h). Any bytes that parse as
 * JSON are converted; a success must give a grammar the checker accepts and whose rules all carry
 * the prefix. Seeds: tests/fuzz/corpus/schema/. */
#include "grammar/gbnf.h"
#include "grammar/schema.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *schema = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!schema)
        return 0;
    char *g = NULL;
    struct err e = {0};
    if (grammar_from_schema(schema, "", &g, &e) == 0) {
        if (gbnf_check(g, &e) != 0)
            abort(); /* the converter promised a checked grammar */
        free(g);
        if (grammar_from_schema(schema, "p-", &g, &e) == 0) {
            for (const char *line = g; *line; line = strchr(line, '\n') + 1)
                if (strncmp(line, "p-", 2) != 0)
                    abort();
            free(g);
        }
    } else if (e.msg[0] == 0) {
        abort(); /* every failure says why */
    }
    json_decref(schema);
    return 0;
}
