/* The output parsers on arbitrary model output: the first byte picks the syntax and options,
 * the rest is fed in pieces whose lengths come from the input too. Whole and piecewise feeding
 * must agree on content, reasoning and calls. */
#include "chat/chat_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *result(const struct chat_parse_opts *o, const uint8_t *d, size_t n, size_t step)
{
    struct chat_parser *p = chat_parser_new(o);
    for (size_t at = 0; at < n;) {
        size_t k = step ? (size_t)(d[at] % step) + 1 : n - at;
        if (k > n - at)
            k = n - at;
        chat_parser_feed(p, (const char *)d + at, k);
        at += k;
    }
    chat_parser_finish(p);
    size_t cl, rl;
    const char *c = chat_parser_content(p, &cl);
    const char *r = chat_parser_reasoning(p, &rl);
    char *calls = json_dumps(chat_parser_tool_calls(p), JSON_COMPACT);
    size_t kl = strlen(calls);
    size_t len = cl + rl + kl + 3;
    char *s = malloc(len);
    memcpy(s, c, cl);
    s[cl] = 1;
    memcpy(s + cl + 1, r, rl);
    s[cl + 1 + rl] = 1;
    memcpy(s + cl + rl + 2, calls, kl + 1);
    free(calls);
    chat_parser_free(p);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct chat_parse_opts o = {.syntax = (enum chat_syntax)(data[0] % CHAT_SYNTAX_COUNT),
                                .tools = (data[0] >> 4) & 1,
                                .in_reasoning = (data[0] >> 5) & 1,
                                .split_reasoning = !((data[0] >> 6) & 1),
                                .id_seed = 1};
    char *whole = result(&o, data + 1, size - 1, 0);
    char *split = result(&o, data + 1, size - 1, 7);
    /* Ids are made from the seed and the index: the same in both. */
    if (strcmp(whole, split) != 0)
        abort();
    free(whole);
    free(split);
    return 0;
}
