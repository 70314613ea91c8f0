/* Structured output on every API: Ollama's `format`, OpenAI's `response_format`, llama-server's
 * `json_schema` and a GBNF `grammar` all end as the request's grammar, checked here before it
 * reaches a worker. */
#include "api/api.h"
#include "base/util.h"
#include "grammar/gbnf.h"
#include "grammar/schema.h"

#include <stdlib.h>
#include <string.h>

int api_schema_grammar(struct native_req *req, json_t *schema, const char *field, struct err *e)
{
    if (req->gen.grammar && *req->gen.grammar)
        return err_set(e, ERR_BAD_REQUEST,
                       "%s and grammar cannot be combined: both constrain the output, give one "
                       "of them",
                       field);
    char *g = NULL;
    if (!schema) {
        g = xstrdup(api_json_grammar);
    } else {
        struct err ce = {0};
        if (grammar_from_schema(schema, "", &g, &ce))
            return err_set(e, ERR_BAD_REQUEST, "%s: %s", field, ce.msg);
    }
    free(req->gen.grammar);
    req->gen.grammar = g;
    native_mark(req, "grammar");
    return 0;
}

int api_check_grammar(const char *grammar, struct err *e)
{
    struct err ge = {0};
    if (!grammar || !*grammar || !gbnf_check(grammar, &ge))
        return 0;
    /* every grammar problem is the request's: 400, whatever limit it passed */
    return err_set(e, ERR_BAD_REQUEST, "%s", ge.msg);
}
