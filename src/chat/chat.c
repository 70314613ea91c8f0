#include "chat/chat.h"

#include "base/util.h"

#include <llama.h>
#include <stdlib.h>
#include <string.h>

int chat_render(const char *tmpl, const struct chat_input *in, char **out, struct err *e)
{
    if (!tmpl || !*tmpl)
        return err_set(e, ERR_BAD_REQUEST, "the model has no chat template");
    size_t n = json_array_size(in->messages);
    int add_assistant = in->add_generation_prompt;
    struct llama_chat_message *lm = xcalloc(n ? n : 1, sizeof *lm);
    size_t total = 64;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(in->messages, i);
        const char *c = json_string_value(json_object_get(m, "content"));
        lm[i].role = json_string_value(json_object_get(m, "role"));
        lm[i].content = c ? c : "";
        total += strlen(lm[i].content) + 64;
    }
    if (total > (size_t)INT32_MAX / 2) {
        free(lm);
        return err_set(e, ERR_TOO_LARGE, "the conversation is too large");
    }
    int32_t cap = (int32_t)(total * 2);
    char *buf = xmalloc((size_t)cap);
    int32_t len = llama_chat_apply_template(tmpl, lm, n, add_assistant != 0, buf, cap);
    if (len > cap) {
        cap = len + 1;
        buf = xrealloc(buf, (size_t)cap);
        len = llama_chat_apply_template(tmpl, lm, n, add_assistant != 0, buf, cap);
    }
    free(lm);
    if (len < 0) {
        free(buf);
        return err_set(e, ERR_BAD_REQUEST,
                       "the model's chat template is not one llama.cpp's built-in renderer "
                       "recognises (full Jinja rendering is planned); use raw prompts with "
                       "/api/generate");
    }
    buf = xrealloc(buf, (size_t)len + 1);
    buf[len] = '\0';
    *out = buf;
    return 0;
}
