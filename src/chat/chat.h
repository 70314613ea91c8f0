/* Chat prompts: a conversation rendered through a model's chat template, and the model's output
 * parsed back into content, reasoning and tool calls.
 *
 * The conversation reaches this module in one canonical shape, whatever API it came from (the
 * shape Hugging Face's transformers hands to chat templates, which is OpenAI's):
 *
 *   messages: [{ "role": "system" | "user" | "assistant" | "tool",
 *                "content": string | null,
 *                "reasoning_content": string,              (assistant; optional)
 *                "tool_calls": [{ "id": string, "type": "function",
 *                                 "function": { "name": string,
 *                                               "arguments": object } }],  (assistant; optional)
 *                "tool_call_id": string, "name": string }]  (tool results; optional)
 *   tools:    [{ "type": "function",
 *                "function": { "name", "description", "parameters": JSON schema } }]
 *
 * The API layer converts its protocol's messages into this shape (Anthropic's tool_use and
 * tool_result blocks, Ollama's `thinking` and object arguments...) and never passes anything
 * else; chat/ knows no protocol. Tool-call arguments are objects here; templates that expect a
 * JSON string get one from the renderer.
 */
#ifndef HEARTH_CHAT_CHAT_H
#define HEARTH_CHAT_CHAT_H

#include "base/err.h"

#include <jansson.h>
#include <stddef.h>

struct chat_input {
    json_t *messages; /* canonical messages (borrowed); never NULL */
    json_t *tools;    /* canonical tools (borrowed), or NULL for none */
    json_t *kwargs;   /* chat_template_kwargs, an object (borrowed), or NULL: extra template
                         variables such as enable_thinking */
    int add_generation_prompt;
    const char *bos_token; /* the model's BOS and EOS token text, or NULL for "" */
    const char *eos_token;
};

/* Renders in through the template text tmpl. Returns 0 and a malloc'd string in *out, or
 * ERR_BAD_REQUEST (a template that fails or raises, with its message) / ERR_TOO_LARGE. */
int chat_render(const char *tmpl, const struct chat_input *in, char **out, struct err *e);

#endif
