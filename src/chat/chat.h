/* Chat prompts: messages rendered through a model's chat template.
 *
 * Until #8 brings a Jinja engine, rendering goes through llama.h's llama_chat_apply_template,
 * which recognises the templates of the common model families by their text. A template it
 * does not recognise is refused with a clear error rather than guessed at.
 */
#ifndef HEARTH_CHAT_CHAT_H
#define HEARTH_CHAT_CHAT_H

#include "base/err.h"

#include <stddef.h>

struct chat_message {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
};

/* Renders msgs with the template text tmpl; add_assistant appends the opening of the
 * assistant's turn. Returns 0 and a malloc'd string in *out, or ERR_BAD_REQUEST. */
int chat_render(const char *tmpl, const struct chat_message *msgs, size_t n, int add_assistant,
                char **out, struct err *e);

#endif
