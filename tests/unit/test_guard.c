/* The checks in front of the routes that need no server: JSON nesting depth, the folders kept
 * out of error replies, and the error shape each path gets. */
#include "api/api.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static size_t depth(const char *s)
{
    return api_json_depth(s, strlen(s));
}

int main(void)
{
    CHECK(depth("{}") == 1);
    CHECK(depth("\"x\"") == 0);
    CHECK(depth("{\"a\":[1,{\"b\":[]}]}") == 4);
    /* Brackets inside strings, escaped quotes, and unbalanced closers do not count. */
    CHECK(depth("{\"a\":\"[[[[{{{{\"}") == 1);
    CHECK(depth("{\"a\":\"\\\"[[[[\"}") == 1);
    CHECK(depth("]]]]{") == 1);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 99);
    deep[199] = '\0';
    CHECK(depth(deep) == 100);

    api_redact_add("/srv/models", "");
    api_redact_add("/home/user", "~");
    api_redact_add("/home/user/.ollama/models", "");
    api_redact_add("/", ""); /* too short: ignored */
    char *r = api_redact("{\"error\":\"/srv/models/x.gguf: bad magic\"}");
    CHECK_STR(r, "{\"error\":\"x.gguf: bad magic\"}");
    free(r);
    r = api_redact("manifest /home/user/.ollama/models/manifests/a/b has no layers");
    CHECK_STR(r, "manifest manifests/a/b has no layers");
    free(r);
    r = api_redact("cannot read /home/user/notes and /home/user");
    CHECK_STR(r, "cannot read ~/notes and ~");
    free(r);
    /* A folder whose name only starts the same is someone else's. */
    r = api_redact("/srv/models2/x and /home/username/y and /srv/models-old/z");
    CHECK_STR(r, "/srv/models2/x and /home/username/y and /srv/models-old/z");
    free(r);
    api_redact_clear();
    r = api_redact("/srv/models/x");
    CHECK_STR(r, "/srv/models/x");
    free(r);

    CHECK(api_error_for_path("/api/chat") == api_error);
    CHECK(api_error_for_path("/v1/chat/completions") == openai_error);
    CHECK(api_error_for_path("/chat/completions") == openai_error);
    CHECK(api_error_for_path("/v1/messages") == anthropic_error);
    CHECK(api_error_for_path("/v1/messages/count_tokens") == anthropic_error);
    CHECK(api_error_for_path("/v1/rerank") == llama_error);
    CHECK(api_error_for_path("/completion") == llama_error);
    return check_done("test_guard");
}
