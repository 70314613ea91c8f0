/* Fuzz target for the Jinja engine (chat/jinja.h): the input is a template, rendered with a
 * fixed chat context (messages with tool calls, tools, bos/eos) under small caps, so that every
 * path of the lexer, parser and interpreter meets hostile text. Seeds: tests/fuzz/corpus/jinja/. */
#include "chat/jinja.h"

#include <stdint.h>
#include <stdlib.h>

static const char CONTEXT[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"h\\u00e9llo\"}]},"
    "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"hmm\","
    "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"arguments\":{\"a\":1,\"b\":[true,null,2.5],\"c\":{\"d\":\"e\"}}}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\","
    "\"enable_thinking\":false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *vars;
    if (!vars)
        vars = json_loads(CONTEXT, 0, NULL);
    struct jinja_limits lim;
    jinja_default_limits(&lim);
    lim.max_iterations = 20000;
    lim.max_output = 1 << 20;
    lim.max_memory = 64u << 20;
    lim.max_depth = 50;
    char *out = NULL;
    struct err e;
    if (jinja_render((const char *)data, size, vars, &lim, &out, &e) == 0)
        free(out);
    return 0;
}
